// proxy-body-size: nginx's client_max_body_size for the Ingress's paths, in nginx's size syntax
// (`8m`, `512k`, `1g`, bytes; `0` = no limit). Over it the client gets 413. Without the annotation
// the controller's --proxy-body-size applies (1m, ingress-nginx's default).
import { NGINX_PREFIX } from './keys.js';
import type { AnnotationProblem, Annotations } from './values.js';

export const PROXY_BODY_SIZE = `${NGINX_PREFIX}proxy-body-size`;

const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** nginx's size syntax → bytes, or undefined. */
export function parseNginxSize(text: string): number | undefined {
  const match = /^\s*(\d{1,12})\s*([kmg]?)\s*$/i.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * UNITS[match[2]!.toLowerCase()]!;
}

export function parseBodySize(raw: Annotations, problems: AnnotationProblem[]): number | undefined {
  const value = raw[PROXY_BODY_SIZE];
  if (value === undefined) return undefined;
  const bytes = parseNginxSize(value);
  if (bytes !== undefined) return bytes;
  problems.push({ key: PROXY_BODY_SIZE, severity: 'warning', message: `annotation ${PROXY_BODY_SIZE}: ${JSON.stringify(value)} is not a size (such as 8m, 512k, 0); the default applies` });
  return undefined;
}
