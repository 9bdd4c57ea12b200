// ingress-nginx's regex paths (use-regex, rewrite-target): a path is a case-insensitive regular
// expression anchored at the start of the request path (`location ~* "^<path>"`), and rewrite-target
// applies the same expression, unanchored, to build the new path (`rewrite "(?i)<path>" <target>`).
//
// Users' expressions run on every request to their host, against input the client chooses, so
// they run on V8's linear-time engine (the `l` flag): no pattern can take more than time linear in
// the path, where a backtracking engine can take exponential time (`(a|aa)*$`) or a polynomial
// stall per request (`(.*)/(.*)\.json` on a 16 KiB path). That engine has no `i` flag, no
// lookarounds and no backreferences: case-insensitivity is compiled into the pattern (`a` →
// `[aA]`), and an expression that needs the others is refused with a diagnostic.
import { setFlagsFromString } from 'node:v8';

// A V8 flag that only allows the `l` flag to be used; nothing else changes.
setFlagsFromString('--enable-experimental-regexp-engine');

export type RegexParse = { readonly ok: true; readonly regex: RegExp } | { readonly ok: false; readonly reason: string };

/** The location form: `^<path>`, case-insensitive. */
export function compilePathRegex(path: string): RegexParse {
  return compile(path, (p) => `^(?:${p})`);
}

/** The rewrite form: `<path>` unanchored, case-insensitive. */
export function compileRewriteRegex(path: string): RegexParse {
  return compile(path, (p) => p);
}

function compile(path: string, wrap: (pattern: string) => string): RegexParse {
  if (!path.startsWith('/')) return { ok: false, reason: 'a regex path must start with "/"' };
  return compileUserRegex(path, { caseInsensitive: true, wrap });
}

/**
 * A user's expression on the linear-time engine: refused when it has control characters, is not
 * valid JavaScript, or needs backtracking (lookarounds, backreferences).
 */
export function compileUserRegex(pattern: string, options: { readonly caseInsensitive?: boolean; readonly wrap?: (pattern: string) => string } = {}): RegexParse {
  if (/[\u0000-\u0020\u007f]/.test(pattern)) return { ok: false, reason: 'has whitespace or control characters' };
  try {
    new RegExp(pattern); // the syntax error, if any, names the pattern as written
  } catch (error) {
    return { ok: false, reason: `is not a regular expression Portico can run (${(error as Error).message.replace(/^Invalid regular expression: /, '')})` };
  }
  const body = options.caseInsensitive ? foldCase(pattern) : pattern;
  try {
    return { ok: true, regex: new RegExp(options.wrap ? options.wrap(body) : body, 'l') };
  } catch {
    return { ok: false, reason: 'needs backtracking (a lookaround or a backreference), which could take unbounded time on a crafted request; refused' };
  }
}

const isLower = (c: string) => c >= 'a' && c <= 'z';
const isUpper = (c: string) => c >= 'A' && c <= 'Z';
const other = (c: string) => (isLower(c) ? c.toUpperCase() : c.toLowerCase());

/** `pattern` matching ASCII letters of either case: `a` → `[aA]`, `[a-f]` → `[a-fA-F]`; escapes kept. */
export function foldCase(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += escapeAt(pattern, i);
      i += escapeAt(pattern, i).length - 1;
    } else if (c === '[') {
      const end = classEnd(pattern, i);
      out += foldClass(pattern.slice(i, end + 1));
      i = end;
    } else if (c === '(' && pattern[i + 1] === '?' && pattern[i + 2] === '<' && pattern[i + 3] !== '=' && pattern[i + 3] !== '!') {
      // A named group's name is not matched text.
      const close = pattern.indexOf('>', i);
      out += pattern.slice(i, close + 1);
      i = close;
    } else if (c === '{') {
      // A quantifier's digits.
      const close = pattern.indexOf('}', i);
      out += close < 0 ? c : pattern.slice(i, close + 1);
      if (close >= 0) i = close;
    } else out += isLower(c) || isUpper(c) ? `[${c}${other(c)}]` : c;
  }
  return out;
}

/** The escape sequence starting at `i` (`\d`, `\u{1F600}`, `\p{L}`, `\x41`, `\cA`, `\k<name>`…). */
function escapeAt(pattern: string, i: number): string {
  const next = pattern[i + 1] ?? '';
  const braced = /^[upPk]$/.test(next) && (pattern[i + 2] === '{' || pattern[i + 2] === '<');
  if (braced) {
    const close = pattern.indexOf(pattern[i + 2] === '{' ? '}' : '>', i);
    return pattern.slice(i, close + 1);
  }
  if (next === 'u') return pattern.slice(i, i + 6);
  if (next === 'x') return pattern.slice(i, i + 4);
  if (next === 'c') return pattern.slice(i, i + 3);
  return pattern.slice(i, i + 2);
}

function classEnd(pattern: string, start: number): number {
  for (let i = start + 1; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']' && i > start + 1 + (pattern[start + 1] === '^' ? 1 : 0)) return i;
  }
  return pattern.length - 1;
}

/** A character class with the other case of every letter and letter range added. */
function foldClass(cls: string): string {
  let added = '';
  for (let i = 1; i < cls.length - 1; i++) {
    const c = cls[i]!;
    if (c === '\\') {
      i += escapeAt(cls, i).length - 1;
      continue;
    }
    if (cls[i + 1] === '-' && i + 2 < cls.length - 1 && cls[i + 2] !== '\\') {
      const to = cls[i + 2]!;
      if ((isLower(c) && isLower(to)) || (isUpper(c) && isUpper(to))) added += `${other(c)}-${other(to)}`;
      i += 2;
    } else if (isLower(c) || isUpper(c)) added += other(c);
  }
  return added === '' ? cls : `${cls.slice(0, -1)}${added}]`;
}
