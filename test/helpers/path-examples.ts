// The Kubernetes documentation's path-matching examples ("Examples" table under Ingress › Path types),
// every row, plus a few extra requests for `/`. Shared by the compile, routing and end-to-end proxy
// tests: build one Ingress per row (pathExamplePaths), send `request`, expect `match`.
import type { HTTPIngressPath } from '../../src/model/k8s-objects.js';
import type { PathType } from '../../src/model/route-model.js';

export interface PathExample {
  readonly name: string;
  /** The Ingress paths of one rule, in order. */
  readonly paths: ReadonlyArray<{ readonly path: string; readonly pathType: PathType }>;
  /** Request path (no query string). */
  readonly request: string;
  /** The path (as written) that must serve the request; undefined = no path matches (default backend/404). */
  readonly match: string | undefined;
  /** Needed when the same path is listed with both types. */
  readonly matchType?: PathType;
}

const p = (path: string): { path: string; pathType: PathType } => ({ path, pathType: 'Prefix' });
const e = (path: string): { path: string; pathType: PathType } => ({ path, pathType: 'Exact' });

export const PATH_EXAMPLES: readonly PathExample[] = [
  { name: 'Prefix / matches /', paths: [p('/')], request: '/', match: '/' },
  { name: 'Prefix / matches /foo', paths: [p('/')], request: '/foo', match: '/' },
  { name: 'Prefix / matches /foo/bar/', paths: [p('/')], request: '/foo/bar/', match: '/' },
  { name: 'Prefix / matches an encoded path', paths: [p('/')], request: '/a%2Fb', match: '/' },
  { name: 'Exact /foo matches /foo', paths: [e('/foo')], request: '/foo', match: '/foo' },
  { name: 'Exact /foo does not match /bar', paths: [e('/foo')], request: '/bar', match: undefined },
  { name: 'Exact /foo does not match /foo/', paths: [e('/foo')], request: '/foo/', match: undefined },
  { name: 'Exact /foo/ does not match /foo', paths: [e('/foo/')], request: '/foo', match: undefined },
  { name: 'Prefix /foo matches /foo', paths: [p('/foo')], request: '/foo', match: '/foo' },
  { name: 'Prefix /foo matches /foo/', paths: [p('/foo')], request: '/foo/', match: '/foo' },
  { name: 'Prefix /foo/ matches /foo', paths: [p('/foo/')], request: '/foo', match: '/foo/' },
  { name: 'Prefix /foo/ matches /foo/', paths: [p('/foo/')], request: '/foo/', match: '/foo/' },
  { name: 'Prefix /aaa/bb does not match /aaa/bbb', paths: [p('/aaa/bb')], request: '/aaa/bbb', match: undefined },
  { name: 'Prefix /aaa/bbb matches /aaa/bbb', paths: [p('/aaa/bbb')], request: '/aaa/bbb', match: '/aaa/bbb' },
  {
    name: 'Prefix /aaa/bbb/ matches /aaa/bbb (ignores trailing slash)',
    paths: [p('/aaa/bbb/')],
    request: '/aaa/bbb',
    match: '/aaa/bbb/',
  },
  {
    name: 'Prefix /aaa/bbb matches /aaa/bbb/ (matches trailing slash)',
    paths: [p('/aaa/bbb')],
    request: '/aaa/bbb/',
    match: '/aaa/bbb',
  },
  {
    name: 'Prefix /aaa/bbb matches /aaa/bbb/ccc (matches subpath)',
    paths: [p('/aaa/bbb')],
    request: '/aaa/bbb/ccc',
    match: '/aaa/bbb',
  },
  {
    name: 'Prefix /aaa/bbb does not match /aaa/bbbxyz (not a string prefix)',
    paths: [p('/aaa/bbb')],
    request: '/aaa/bbbxyz',
    match: undefined,
  },
  { name: 'Prefix /, /aaa: /aaa/ccc matches /aaa', paths: [p('/'), p('/aaa')], request: '/aaa/ccc', match: '/aaa' },
  {
    name: 'Prefix /, /aaa, /aaa/bbb: /aaa/bbb matches /aaa/bbb',
    paths: [p('/'), p('/aaa'), p('/aaa/bbb')],
    request: '/aaa/bbb',
    match: '/aaa/bbb',
  },
  {
    name: 'Prefix /, /aaa, /aaa/bbb: /ccc matches /',
    paths: [p('/'), p('/aaa'), p('/aaa/bbb')],
    request: '/ccc',
    match: '/',
  },
  { name: 'Prefix /aaa does not match /ccc (default backend)', paths: [p('/aaa')], request: '/ccc', match: undefined },
  {
    name: 'Mixed Prefix /foo and Exact /foo: /foo prefers Exact',
    paths: [p('/foo'), e('/foo')],
    request: '/foo',
    match: '/foo',
    matchType: 'Exact',
  },
];

/** The Service that row path `index` routes to in pathExamplePaths (port 80). */
export function pathExampleService(index: number): string {
  return `path-${index}`;
}

/** The HTTPIngressPaths for a row: path i → Service pathExampleService(i), port 80. */
export function pathExamplePaths(example: PathExample): HTTPIngressPath[] {
  return example.paths.map((x, i) => ({
    path: x.path,
    pathType: x.pathType,
    backend: { service: { name: pathExampleService(i), port: { number: 80 } } },
  }));
}

/** Index into `paths` of the expected match, or -1 for no match. */
export function pathExampleMatchIndex(example: PathExample): number {
  if (example.match === undefined) return -1;
  return example.paths.findIndex(
    (x) => x.path === example.match && (example.matchType === undefined || x.pathType === example.matchType),
  );
}
