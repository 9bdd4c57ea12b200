// Path matching for one host: a Map for Exact routes and a segment trie for Prefix routes.
// Lookup cost depends on the request path length only, never on the number of routes.
import type { PathType, Route } from '../model/route-model.js';

const SLASH = 0x2f;

class TrieNode<T> {
  value: T | undefined = undefined;
  children: Map<string, TrieNode<T>> | undefined = undefined;
  // Most nodes have one child; comparing it in place avoids a substring allocation per segment.
  onlySegment = '';
  onlyChild: TrieNode<T> | undefined = undefined;

  child(segment: string): TrieNode<T> {
    this.children ??= new Map();
    let node = this.children.get(segment);
    if (node === undefined) {
      node = new TrieNode<T>();
      this.children.set(segment, node);
    }
    if (this.children.size === 1) {
      this.onlySegment = segment;
      this.onlyChild = node;
    } else {
      this.onlySegment = '';
      this.onlyChild = undefined;
    }
    return node;
  }
}

/**
 * Kubernetes Ingress path semantics on the raw (not percent-decoded), case-sensitive request path:
 * - Exact matches the whole path: `/foo` matches `/foo`, not `/foo/`.
 * - Prefix matches element-wise on `/`: `/foo` and `/foo/` both match `/foo`, `/foo/` and `/foo/bar`,
 *   never `/foobar`; `/` matches every path. A trailing empty element of the request is ignored.
 * An Exact hit wins; otherwise the longest matching Prefix. (A matching Exact path is never shorter
 * than a matching Prefix, so "Exact first" is the same as "longest, Exact on ties".)
 */
export class PathTrie<T = Route> {
  readonly #exact = new Map<string, T>();
  readonly #root = new TrieNode<T>();
  #size = 0;

  static fromRoutes(routes: readonly Route[]): PathTrie<Route> {
    const trie = new PathTrie<Route>();
    for (const route of routes) trie.insert(route.pathType, route.path, route);
    return trie;
  }

  /** Number of distinct paths stored. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds a path; returns false (keeping the first value) when the same Exact path, or a Prefix path
   * equal once its trailing slash is dropped, is already present. Paths must start with `/`.
   */
  insert(pathType: PathType, path: string, value: T): boolean {
    if (pathType === 'Exact') {
      if (this.#exact.has(path)) return false;
      this.#exact.set(path, value);
      this.#size++;
      return true;
    }
    let node = this.#root;
    for (const segment of path.split('/')) {
      if (segment !== '') node = node.child(segment);
    }
    if (node.value !== undefined) return false;
    node.value = value;
    this.#size++;
    return true;
  }

  /** The best route for a request path; anything from `?` on is ignored. */
  lookup(path: string): T | undefined {
    let end = path.indexOf('?');
    if (end < 0) end = path.length;
    if (end === 0) {
      path = '/';
      end = 1;
    }
    if (this.#exact.size > 0) {
      const hit = this.#exact.get(end === path.length ? path : path.slice(0, end));
      if (hit !== undefined) return hit;
    }
    if (path.charCodeAt(0) !== SLASH) return undefined;

    let node = this.#root;
    let best = node.value;
    let pos = 1;
    while (pos < end && node.children !== undefined) {
      let next = path.indexOf('/', pos);
      if (next < 0 || next > end) next = end;
      if (next === pos) break; // an empty element (`//`): no route path contains one
      let child: TrieNode<T> | undefined;
      if (node.onlyChild !== undefined) {
        const segment = node.onlySegment;
        if (segment.length === next - pos && path.startsWith(segment, pos)) child = node.onlyChild;
      } else {
        child = node.children.get(path.slice(pos, next));
      }
      if (child === undefined) break;
      node = child;
      if (node.value !== undefined) best = node.value;
      pos = next + 1;
    }
    return best;
  }
}
