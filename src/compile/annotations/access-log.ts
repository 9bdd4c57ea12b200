// enable-access-log: "false" writes no access-log line for the Ingress's paths (metrics still count them).
import { NGINX_PREFIX } from './keys.js';
import { readBool, type AnnotationProblem, type Annotations } from './values.js';

export const ENABLE_ACCESS_LOG = `${NGINX_PREFIX}enable-access-log`;

/** false when the annotation turns the log off; undefined otherwise (the controller's setting applies). */
export function parseAccessLog(raw: Annotations, problems: AnnotationProblem[]): false | undefined {
  return raw[ENABLE_ACCESS_LOG] !== undefined && !readBool(raw, ENABLE_ACCESS_LOG, true, problems) ? false : undefined;
}
