// auth-type: basic: the Authorization header's user and password against the route's users
// (bcrypt, apr1, {SHA}, {PLAIN} hashes); anything else gets 401 with WWW-Authenticate, as nginx's
// auth_basic. bcrypt is slow by design, so it runs asynchronously (the engine queues the request)
// and verdicts are cached per (credentials, hash) — a bounded map keyed by a SHA-256, never the
// password itself.
import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { BasicAuthPolicy } from '../../model/route-model.js';
import type { RequestStep, StepAnswer, StepResult } from './step.js';

const CACHE_MAX = 4096;

export function basicAuthStep(policy: BasicAuthPolicy): RequestStep {
  const users = new Map(policy.users);
  const refused: StepAnswer = Object.freeze({
    kind: 'error',
    status: 401,
    code: 'PORTICO_ERR_PROXY_UNAUTHORIZED',
    headers: Object.freeze([Object.freeze(['WWW-Authenticate', `Basic realm="${policy.realm}"`] as const)]),
  });
  const verdicts = new Map<string, boolean>();
  // One bcrypt run per credentials at a time: the first burst of a client's connections (or a
  // flood with one password) waits for that run instead of starting its own (~70 ms of CPU each).
  const running = new Map<string, Promise<StepResult>>();
  const remember = (key: string, ok: boolean): StepResult => {
    if (verdicts.size >= CACHE_MAX) verdicts.clear();
    verdicts.set(key, ok);
    return ok ? undefined : refused;
  };
  return {
    name: 'basic-auth',
    run: (request) => {
      const credentials = parseBasicCredentials(request.header('authorization'));
      if (credentials === undefined) return refused;
      const hash = users.get(credentials.user);
      if (hash === undefined) return refused;
      const key = createHash('sha256').update(`${credentials.user}\0${credentials.password}\0${hash}`).digest('base64');
      const known = verdicts.get(key);
      if (known !== undefined) return known ? undefined : refused;
      if (hash.startsWith('$2')) {
        const inFlight = running.get(key);
        if (inFlight !== undefined) return inFlight;
        const check = bcrypt.compare(credentials.password, hash.replace(/^\$2y\$/, '$2b$')).then(
          (ok) => remember(key, ok),
          () => remember(key, false),
        );
        running.set(key, check);
        void check.finally(() => running.delete(key));
        return check;
      }
      return remember(key, checkHash(credentials.password, hash));
    },
  };
}

/** `Basic base64(user:password)` → its parts, or undefined. */
export function parseBasicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The non-bcrypt formats: {PLAIN}, {SHA} (base64 SHA-1), $apr1$ (Apache's MD5-crypt). */
export function checkHash(password: string, hash: string): boolean {
  if (hash.startsWith('{PLAIN}')) return safeEqual(password, hash.slice(7));
  if (hash.startsWith('{SHA}')) return safeEqual(createHash('sha1').update(password).digest('base64'), hash.slice(5));
  if (hash.startsWith('$apr1$')) {
    const salt = hash.slice(6, hash.indexOf('$', 6));
    return safeEqual(apr1(password, salt), hash);
  }
  return false;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const APR1_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Apache's apr1 MD5-crypt, as htpasswd -m writes it. */
export function apr1(password: string, salt: string): string {
  const md5 = (...parts: Array<Buffer | string>) => {
    const h = createHash('md5');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const pw = Buffer.from(password);
  const magic = '$apr1$';
  let final = md5(pw, salt, pw);
  const ctx: Array<Buffer | string> = [pw, magic, salt];
  for (let left = pw.length; left > 0; left -= 16) ctx.push(final.subarray(0, Math.min(16, left)));
  for (let i = pw.length; i > 0; i >>= 1) ctx.push(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  final = md5(...ctx);
  for (let i = 0; i < 1000; i++) {
    const parts: Array<Buffer | string> = [];
    parts.push(i & 1 ? pw : final);
    if (i % 3) parts.push(salt);
    if (i % 7) parts.push(pw);
    parts.push(i & 1 ? final : pw);
    final = md5(...parts);
  }
  const to64 = (v: number, n: number) => {
    let s = '';
    for (; n > 0; n--, v >>= 6) s += APR1_ALPHABET[v & 0x3f];
    return s;
  };
  const b = final;
  const encoded =
    to64((b[0]! << 16) | (b[6]! << 8) | b[12]!, 4) +
    to64((b[1]! << 16) | (b[7]! << 8) | b[13]!, 4) +
    to64((b[2]! << 16) | (b[8]! << 8) | b[14]!, 4) +
    to64((b[3]! << 16) | (b[9]! << 8) | b[15]!, 4) +
    to64((b[4]! << 16) | (b[10]! << 8) | b[5]!, 4) +
    to64(b[11]!, 2);
  return `${magic}${salt}$${encoded}`;
}
