// default-backend: a Service of the Ingress's namespace (ingress-nginx: its first port) that serves
// the Ingress's paths when their Service has no endpoints, and, with custom-http-errors, answers in
// place of the upstream when it responds with one of the listed statuses (ingress-nginx's
// proxy_intercept_errors + error_page to the default backend, with X-Code, X-Format, …).
import type { BackendRef } from '../../model/route-model.js';
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const DEFAULT_BACKEND = `${NGINX_PREFIX}default-backend`;
export const CUSTOM_HTTP_ERRORS = `${NGINX_PREFIX}custom-http-errors`;

/** BackendRef.port of a default-backend: the Service's first TCP port (no port name can be `*`). */
export const FIRST_PORT = '*';

const DNS_LABEL = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** The --default-backend-service `namespace/name` as a backend (its first port), or undefined when malformed. */
export function globalDefaultBackend(key: string): BackendRef | undefined {
  const [namespace, name, extra] = key.split('/');
  if (namespace === undefined || name === undefined || extra !== undefined || !DNS_LABEL.test(namespace) || !DNS_LABEL.test(name)) return undefined;
  return Object.freeze({ key: `${namespace}/${name}/${FIRST_PORT}`, namespace, service: name, port: FIRST_PORT });
}

/** A comma-separated status list (300–599), sorted; undefined when any entry is not one. */
export function parseStatusList(list: string): readonly number[] | undefined {
  const codes = new Set<number>();
  for (const part of list.split(',')) {
    const text = part.trim();
    if (text === '') continue;
    const code = /^\d{3}$/.test(text) ? Number(text) : Number.NaN;
    if (!(code >= 300 && code <= 599)) return undefined;
    codes.add(code);
  }
  return codes.size === 0 ? undefined : Object.freeze([...codes].sort((a, b) => a - b));
}

/**
 * `defaults`: the ConfigMap's custom-http-errors and the --default-backend-service, for an Ingress
 * that sets neither annotation (ingress-nginx: the controller-wide error pages and default backend).
 */
export function parseDefaultBackend(raw: Annotations, namespace: string, problems: AnnotationProblem[], defaults: { readonly customHttpErrors?: readonly number[]; readonly defaultBackend?: BackendRef } = {}): { defaultBackend?: BackendRef; customHttpErrors?: readonly number[] } {
  const name = raw[DEFAULT_BACKEND]?.trim();
  let defaultBackend: BackendRef | undefined;
  if (name !== undefined && name !== '') {
    if (DNS_LABEL.test(name)) defaultBackend = Object.freeze({ key: `${namespace}/${name}/${FIRST_PORT}`, namespace, service: name, port: FIRST_PORT });
    else problems.push({ key: DEFAULT_BACKEND, severity: 'warning', message: `annotation ${DEFAULT_BACKEND}: ${JSON.stringify(raw[DEFAULT_BACKEND])} is not a Service name (a DNS label, in the Ingress's namespace); ignored` });
  }
  const list = raw[CUSTOM_HTTP_ERRORS];
  if (list === undefined || list.trim() === '') {
    // The controller-wide pages: the Ingress's own default-backend, else the controller's.
    const backend = defaultBackend ?? defaults.defaultBackend;
    if (defaults.customHttpErrors !== undefined && backend !== undefined) return { defaultBackend: backend, customHttpErrors: defaults.customHttpErrors };
    return defaultBackend === undefined ? {} : { defaultBackend };
  }
  const codes = new Set<number>();
  const bad: string[] = [];
  for (const part of list.split(',')) {
    const text = part.trim();
    if (text === '') continue;
    const code = /^\d{3}$/.test(text) ? Number(text) : Number.NaN;
    if (code >= 300 && code <= 599) codes.add(code);
    else bad.push(text);
  }
  if (bad.length > 0 || codes.size === 0) {
    problems.push({ key: CUSTOM_HTTP_ERRORS, severity: 'warning', message: `annotation ${CUSTOM_HTTP_ERRORS}: ${JSON.stringify(list)} is not a comma-separated list of statuses from 300 to 599; ignored` });
    return defaultBackend === undefined ? {} : { defaultBackend };
  }
  defaultBackend ??= defaults.defaultBackend;
  if (defaultBackend === undefined) {
    problems.push({ key: CUSTOM_HTTP_ERRORS, severity: 'warning', message: `annotation ${CUSTOM_HTTP_ERRORS} needs ${DEFAULT_BACKEND} or the controller's --default-backend-service; ignored` });
    return {};
  }
  return { defaultBackend, customHttpErrors: Object.freeze([...codes].sort((a, b) => a - b)) };
}
