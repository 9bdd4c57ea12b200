// The Secrets behind auth-type: basic, read at compile time into the route's basicAuth policy:
// htpasswd lines (auth-file) or user → hash keys (auth-map). Hash formats nginx's auth_basic
// accepts and Portico checks: bcrypt ($2a$/$2b$/$2y$), apr1 ($apr1$), {SHA}, {PLAIN}. Anything
// else (crypt(3) DES, {SSHA}) is reported and that user skipped. A missing or empty Secret leaves
// no users: the routes refuse everyone (fail closed).
import type { Secret } from '../model/k8s-objects.js';
import type { BasicAuthPolicy } from '../model/route-model.js';
import type { BasicAuthRequest } from './annotations/auth-basic.js';

const SUPPORTED_HASH = /^(?:\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}|\$apr1\$[^$]{1,8}\$[./A-Za-z0-9]{22}|\{SHA\}[A-Za-z0-9+/]{27}=|\{PLAIN\}.*)$/;

export function buildBasicAuthPolicy(request: BasicAuthRequest, secret: Secret | undefined): { policy: BasicAuthPolicy; problems: string[] } {
  const problems: string[] = [];
  const users: Array<readonly [string, string]> = [];
  const data = secret?.data ?? {};
  const decode = (value: string | undefined) => (value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8'));
  if (secret === undefined) problems.push(`Secret ${request.secret} does not exist`);
  else if (request.secretType === 'auth-file') {
    const file = decode(data['auth']);
    if (file === undefined) problems.push(`Secret ${request.secret} has no key "auth" (auth-secret-type auth-file)`);
    for (const [n, line] of (file ?? '').split(/\r?\n/).entries()) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      add(colon > 0 ? line.slice(0, colon) : '', colon > 0 ? line.slice(colon + 1).trim() : '', `line ${n + 1}`);
    }
  } else {
    for (const key of Object.keys(data).sort()) add(key, decode(data[key])!.trim(), `key ${JSON.stringify(key)}`);
  }
  function add(user: string, hash: string, where: string): void {
    if (user === '' || !SUPPORTED_HASH.test(hash)) problems.push(`${where} of Secret ${request.secret}: ${user === '' ? 'no user name' : `user ${JSON.stringify(user)} has a hash format Portico does not check (bcrypt, apr1, {SHA}, {PLAIN} are)`}; skipped`);
    else users.push([user, hash]);
  }
  if (secret !== undefined && users.length === 0) problems.push(`Secret ${request.secret} lists no usable user: every request gets 401`);
  return { policy: Object.freeze({ realm: request.realm, users: Object.freeze(users.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) }), problems };
}
