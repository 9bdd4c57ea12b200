// A host in regex mode (ingress-nginx: a use-regex or rewrite-target Ingress on the host makes every
// path of the host a case-insensitive regex prefix): the routes in model order (longest path
// first), the first whose expression matches the path wins; none matching falls through as a trie
// miss does.
import { compilePathRegex } from '../lib/path-regex.js';

export class RegexRoutes<T> {
  readonly #entries: Array<{ readonly regex: RegExp; readonly value: T }> = [];

  /** Adds a path (validated by the compiler); returns false when it is not a usable expression. */
  insert(path: string, value: T): boolean {
    const parsed = compilePathRegex(path);
    if (!parsed.ok) return false;
    this.#entries.push({ regex: parsed.regex, value });
    return true;
  }

  lookup(path: string): T | undefined {
    for (const entry of this.#entries) if (entry.regex.test(path)) return entry.value;
    return undefined;
  }
}
