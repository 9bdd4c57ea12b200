// rewrite-target: the backend gets a new path built from the route's path expression, as
// ingress-nginx's `rewrite "(?i)<path>" <target> break;`: the whole path is replaced by the target
// with `$1`…`$9` from the capture groups (an unmatched group is empty), and the original query is
// appended (after `&` when the target has its own) unless the target ends with `?`.
import { compileRewriteRegex } from '../../lib/path-regex.js';
import { normalizePathForMatch } from '../../lib/normalize-path.js';
import type { RequestStep } from './step.js';

export function rewriteStep(path: string, target: string): RequestStep {
  const parsed = compileRewriteRegex(path);
  // The compiler validated the path; a route whose path is not an expression is never rewritten.
  if (!parsed.ok) return { name: 'rewrite', run: () => undefined };
  const regex = parsed.regex;
  const dropQuery = target.endsWith('?');
  const replacement = dropQuery ? target.slice(0, -1) : target;
  // `$1`…`$9` split out once: literal parts at even indexes, group numbers at odd ones.
  const parts = replacement.split(/\$(\d)/);
  return {
    name: 'rewrite',
    run: (request, edits) => {
      const q = request.target.indexOf('?');
      const requestPath = q < 0 ? request.target : request.target.slice(0, q);
      // The form routing matched (unreserved characters decoded), so a route that matched is rewritten.
      const match = regex.exec(normalizePathForMatch(requestPath));
      if (match === null) return undefined;
      let rewritten = parts[0]!;
      for (let i = 1; i < parts.length; i += 2) rewritten += (match[Number(parts[i])] ?? '') + parts[i + 1]!;
      const query = q < 0 || dropQuery ? '' : request.target.slice(q + 1);
      edits.target = query === '' ? rewritten : `${rewritten}${rewritten.includes('?') ? '&' : '?'}${query}`;
      return undefined;
    },
  };
}
