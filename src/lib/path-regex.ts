// ingress-nginx's regex paths (use-regex, rewrite-target): a path is a case-insensitive regular
// expression anchored at the start of the request path (`location ~* "^<path>"`), and rewrite-target
// applies the same expression, unanchored, to build the new path (`rewrite "(?i)<path>" <target>`).
// The expressions are users' PCRE; JavaScript's engine backtracks as PCRE does, so patterns that
// can take exponential time (a quantified group that itself holds a quantifier: `(a+)+`, `(.*)*`)
// are refused rather than left for a request to trigger.

export type RegexParse = { readonly ok: true; readonly regex: RegExp } | { readonly ok: false; readonly reason: string };

/** The location form: `^<path>`, case-insensitive. */
export function compilePathRegex(path: string): RegexParse {
  return compile(`^(?:${path})`, path);
}

/** The rewrite form: `<path>` unanchored, case-insensitive. */
export function compileRewriteRegex(path: string): RegexParse {
  return compile(path, path);
}

function compile(source: string, path: string): RegexParse {
  if (!path.startsWith('/')) return { ok: false, reason: 'a regex path must start with "/"' };
  return compileUserRegex(source, path);
}

/**
 * A user's expression (`checked`, the part they wrote, inside `source`), case-insensitive: refused
 * when it has control characters, can take exponential time, or is not valid JavaScript.
 */
export function compileUserRegex(source: string, checked: string = source): RegexParse {
  const path = checked;
  if (/[\u0000-\u0020\u007f]/.test(path)) return { ok: false, reason: 'has whitespace or control characters' };
  const nested = nestedQuantifier(path);
  if (nested !== undefined) return { ok: false, reason: `has a quantified group holding a quantifier (${JSON.stringify(nested)}), which can take exponential time to match; refused` };
  try {
    return { ok: true, regex: new RegExp(source, 'i') };
  } catch (error) {
    return { ok: false, reason: `is not a regular expression Portico can run (${(error as Error).message.replace(/^Invalid regular expression: /, '')})` };
  }
}

/** The first group that holds a quantifier and is itself quantified, or undefined. */
function nestedQuantifier(source: string): string | undefined {
  const open: Array<{ at: number; quantified: boolean }> = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') open.push({ at: i, quantified: false });
    else if (c === ')') {
      const group = open.pop();
      if (group === undefined) continue;
      const next = source[i + 1];
      const quantifiedAfter = next === '*' || next === '+' || next === '{';
      if (group.quantified && quantifiedAfter) return source.slice(group.at, i + 2);
      // What a group holds counts for the groups around it.
      if ((group.quantified || quantifiedAfter) && open.length > 0) open[open.length - 1]!.quantified = true;
    } else if ((c === '*' || c === '+' || c === '{') && open.length > 0) open[open.length - 1]!.quantified = true;
  }
  return undefined;
}
