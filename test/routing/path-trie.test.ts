import { describe, expect, it } from 'vitest';
import { PathTrie } from '../../src/routing/path-trie.js';
import type { PathType } from '../../src/model/route-model.js';
import { PATH_EXAMPLES, pathExampleMatchIndex } from '../helpers/path-examples.js';

function trie(paths: Array<[PathType, string]>): PathTrie<string> {
  const t = new PathTrie<string>();
  for (const [type, path] of paths) t.insert(type, path, `${type} ${path}`);
  return t;
}

describe('PathTrie', () => {
  it.each(PATH_EXAMPLES)('docs example: $name', (example) => {
    const t = new PathTrie<number>();
    example.paths.forEach((p, i) => t.insert(p.pathType, p.path, i));
    const index = pathExampleMatchIndex(example);
    expect(t.lookup(example.request)).toBe(index < 0 ? undefined : index);
  });

  it('prefers the longest prefix at any depth', () => {
    const t = trie([
      ['Prefix', '/'],
      ['Prefix', '/a'],
      ['Prefix', '/a/b/c'],
      ['Prefix', '/x/y'],
    ]);
    expect(t.lookup('/a/b')).toBe('Prefix /a');
    expect(t.lookup('/a/b/c/d')).toBe('Prefix /a/b/c');
    expect(t.lookup('/a/b/cd')).toBe('Prefix /a');
    expect(t.lookup('/x')).toBe('Prefix /');
    expect(t.lookup('/x/y/')).toBe('Prefix /x/y');
  });

  it('Exact wins over a longer-or-equal prefix only on the whole path', () => {
    const t = trie([
      ['Prefix', '/a/b'],
      ['Exact', '/a'],
      ['Exact', '/a/b/'],
    ]);
    expect(t.lookup('/a')).toBe('Exact /a');
    expect(t.lookup('/a/')).toBeUndefined();
    expect(t.lookup('/a/b')).toBe('Prefix /a/b');
    expect(t.lookup('/a/b/')).toBe('Exact /a/b/');
  });

  it('matches case-sensitively on the raw path', () => {
    const t = trie([
      ['Prefix', '/Foo'],
      ['Prefix', '/a b'],
      ['Exact', '/%7Euser'],
    ]);
    expect(t.lookup('/Foo/x')).toBe('Prefix /Foo');
    expect(t.lookup('/foo/x')).toBeUndefined();
    expect(t.lookup('/%7Euser')).toBe('Exact /%7Euser');
    expect(t.lookup('/~user')).toBeUndefined();
    expect(t.lookup('/a%20b')).toBeUndefined();
  });

  it('does not skip empty elements inside the request path', () => {
    const t = trie([
      ['Prefix', '/'],
      ['Prefix', '/a/b'],
    ]);
    expect(t.lookup('/a//b')).toBe('Prefix /');
    expect(t.lookup('//a/b')).toBe('Prefix /');
    expect(t.lookup('/a/b//')).toBe('Prefix /a/b');
  });

  it('ignores a query string', () => {
    const t = trie([
      ['Exact', '/e'],
      ['Prefix', '/p/q'],
    ]);
    expect(t.lookup('/e?x=1')).toBe('Exact /e');
    expect(t.lookup('/p/q?x=/y')).toBe('Prefix /p/q');
    expect(t.lookup('/p?/q')).toBeUndefined();
  });

  it('treats an empty path as /, and non-absolute paths match no prefix', () => {
    const t = trie([['Prefix', '/']]);
    expect(t.lookup('')).toBe('Prefix /');
    expect(t.lookup('?q')).toBe('Prefix /');
    expect(t.lookup('*')).toBeUndefined();
    expect(t.lookup('http://x/')).toBeUndefined();
  });

  it('siblings at one level (Map children) and a single child (in-place compare) behave the same', () => {
    const one = trie([['Prefix', '/api/v1']]);
    const many = trie([
      ['Prefix', '/api/v1'],
      ['Prefix', '/api/v2'],
      ['Prefix', '/web'],
    ]);
    for (const t of [one, many]) {
      expect(t.lookup('/api/v1/users')).toBe('Prefix /api/v1');
      expect(t.lookup('/api/v1x')).toBeUndefined();
      expect(t.lookup('/api/v')).toBeUndefined();
      expect(t.lookup('/api')).toBeUndefined();
    }
    expect(many.lookup('/api/v2')).toBe('Prefix /api/v2');
    expect(many.lookup('/web/')).toBe('Prefix /web');
  });

  it('keeps the first value for duplicate paths; a prefix trailing slash is not significant', () => {
    const t = new PathTrie<string>();
    expect(t.insert('Prefix', '/a', 'first')).toBe(true);
    expect(t.insert('Prefix', '/a/', 'second')).toBe(false);
    expect(t.insert('Exact', '/a', 'exact')).toBe(true);
    expect(t.insert('Exact', '/a', 'exact-2')).toBe(false);
    expect(t.insert('Exact', '/a/', 'exact-slash')).toBe(true);
    expect(t.size).toBe(3);
    expect(t.lookup('/a/x')).toBe('first');
  });

  it('fromRoutes stores Routes', () => {
    const backend = { key: 'default/web/80', namespace: 'default', service: 'web', port: 80 };
    const route = { pathType: 'Prefix' as const, path: '/', backend, ingress: 'default/web' };
    expect(PathTrie.fromRoutes([route]).lookup('/anything')).toBe(route);
  });
});
