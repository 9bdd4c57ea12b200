// use-regex and rewrite-target. Either one puts the Ingress's paths in regex mode (ingress-nginx
// treats a rewrite as a regex location too), and the route-model builder extends that mode to every
// path of the same host. rewrite-target is the new path, with `$1`…`$9` from the path's capture
// groups; nginx appends the original query unless the target ends with `?`.
import { NGINX_PREFIX } from './keys.js';
import { readBool, type AnnotationProblem, type Annotations } from './values.js';

export const USE_REGEX = `${NGINX_PREFIX}use-regex`;
export const REWRITE_TARGET = `${NGINX_PREFIX}rewrite-target`;

/** `/…` or `$1…`; visible ASCII; `$` only before a capture number. */
const TARGET = /^(?:\/|\$\d)[\x21-\x7e]*$/;

export interface RewriteAnnotations {
  readonly regex: boolean;
  readonly rewriteTarget: string | undefined;
}

export function parseRewrite(raw: Annotations, problems: AnnotationProblem[]): RewriteAnnotations {
  const useRegex = readBool(raw, USE_REGEX, false, problems);
  const value = raw[REWRITE_TARGET]?.trim();
  if (value === undefined || value === '') return { regex: useRegex, rewriteTarget: undefined };
  const badVariable = /\$(?!\d)/.test(value);
  if (!TARGET.test(value) || badVariable || value.includes('#')) {
    const why = badVariable ? 'only $1…$9 (capture groups of the path) may follow a "$"' : 'must be a path starting with "/" (or "$1") of visible characters';
    problems.push({ key: REWRITE_TARGET, severity: 'error', message: `annotation ${REWRITE_TARGET}: ${JSON.stringify(value)} ${why}; the Ingress is served without the rewrite` });
    return { regex: useRegex, rewriteTarget: undefined };
  }
  return { regex: true, rewriteTarget: value };
}
