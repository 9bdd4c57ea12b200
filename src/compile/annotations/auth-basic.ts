// auth-type: basic with auth-secret (`name` in the Ingress's namespace, or `namespace/name`),
// auth-secret-type (auth-file: an htpasswd file under the key `auth`; auth-map: one key per user,
// the value its hash) and auth-realm. The Secret is read by the compiler (compile/auth-secrets.ts),
// which turns this request into the route's basicAuth policy.
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const AUTH_TYPE = `${NGINX_PREFIX}auth-type`;
export const AUTH_SECRET = `${NGINX_PREFIX}auth-secret`;
export const AUTH_SECRET_TYPE = `${NGINX_PREFIX}auth-secret-type`;
export const AUTH_REALM = `${NGINX_PREFIX}auth-realm`;
export const AUTH_BASIC_KEYS = [AUTH_TYPE, AUTH_SECRET, AUTH_SECRET_TYPE, AUTH_REALM] as const;

export interface BasicAuthRequest {
  /** `namespace/name`. */
  readonly secret: string;
  readonly secretType: 'auth-file' | 'auth-map';
  readonly realm: string;
}

const NAME = /^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?$/;

/** undefined: no auth; `'refused'`: auth asked for but unusable (the routes then refuse everyone). */
export function parseBasicAuth(raw: Annotations, namespace: string, problems: AnnotationProblem[]): BasicAuthRequest | 'refused' | undefined {
  const type = raw[AUTH_TYPE]?.trim().toLowerCase();
  if (type === undefined || type === '') return undefined;
  const fail = (key: string, why: string): 'refused' => {
    problems.push({ key, severity: 'error', message: `annotation ${key}: ${why}; every request to the Ingress's paths gets 401` });
    return 'refused';
  };
  if (type !== 'basic') return fail(AUTH_TYPE, `${JSON.stringify(raw[AUTH_TYPE])} is not supported (basic is)`);
  const ref = raw[AUTH_SECRET]?.trim() ?? '';
  const [ns, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [namespace, ref];
  if (!NAME.test(ns) || !NAME.test(name)) return fail(AUTH_SECRET, ref === '' ? 'auth-type basic needs auth-secret' : `${JSON.stringify(ref)} is not a Secret name or namespace/name`);
  const secretType = raw[AUTH_SECRET_TYPE]?.trim() || 'auth-file';
  if (secretType !== 'auth-file' && secretType !== 'auth-map') return fail(AUTH_SECRET_TYPE, `${JSON.stringify(secretType)} is not auth-file or auth-map`);
  const realm = raw[AUTH_REALM]?.trim() ?? '';
  if (!/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(realm)) return fail(AUTH_REALM, `${JSON.stringify(realm)} has characters a realm cannot carry (quotes, backslashes, controls)`);
  return Object.freeze({ secret: `${ns}/${name}`, secretType, realm });
}
