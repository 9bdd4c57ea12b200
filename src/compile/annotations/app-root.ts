// app-root: a request for exactly `/` (any query) gets a 302 to the application's root path on the
// same scheme and host, as ingress-nginx's `if ($uri = /) { return 302 $scheme://$http_host<root>; }`.
// The value must be a path starting with `/`.
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const APP_ROOT = `${NGINX_PREFIX}app-root`;

const PATH = /^\/[\x21-\x7e]*$/;

export function parseAppRoot(raw: Annotations, problems: AnnotationProblem[]): string | undefined {
  const value = raw[APP_ROOT]?.trim();
  if (value === undefined || value === '') return undefined;
  if (PATH.test(value) && !value.includes('#')) return value;
  problems.push({ key: APP_ROOT, severity: 'warning', message: `annotation ${APP_ROOT}: ${JSON.stringify(value)} is not a path starting with "/"; ignored` });
  return undefined;
}
