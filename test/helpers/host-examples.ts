// Host matching examples (Kubernetes docs "Hostname wildcards" plus Portico's Host normalisation).
// Shared by the routing and end-to-end proxy tests: one rule per entry of `hosts`, each with
// Prefix `/` to its own Service (hostExampleService); send `Host: request`; expect `match`.
import type { IngressRule } from '../../src/model/k8s-objects.js';

export interface HostExample {
  readonly name: string;
  /** Rule hosts, in order; each rule has a single Prefix `/` path. */
  readonly hosts: readonly string[];
  /** The Host header as sent. */
  readonly request: string;
  /** The rule host that must serve it; undefined = no rule (404 when there is no defaultBackend). */
  readonly match: string | undefined;
}

export const HOST_EXAMPLES: readonly HostExample[] = [
  { name: '*.foo.com matches bar.foo.com', hosts: ['*.foo.com'], request: 'bar.foo.com', match: '*.foo.com' },
  {
    name: '*.foo.com does not match baz.bar.foo.com (one label only)',
    hosts: ['*.foo.com'],
    request: 'baz.bar.foo.com',
    match: undefined,
  },
  { name: '*.foo.com does not match foo.com', hosts: ['*.foo.com'], request: 'foo.com', match: undefined },
  { name: '*.foo.com does not match an empty first label', hosts: ['*.foo.com'], request: '.foo.com', match: undefined },
  {
    name: 'exact host beats wildcard',
    hosts: ['*.foo.com', 'bar.foo.com'],
    request: 'bar.foo.com',
    match: 'bar.foo.com',
  },
  {
    name: 'wildcard serves other hosts beside an exact one',
    hosts: ['*.foo.com', 'bar.foo.com'],
    request: 'baz.foo.com',
    match: '*.foo.com',
  },
  { name: 'exact host matches', hosts: ['foo.bar.com'], request: 'foo.bar.com', match: 'foo.bar.com' },
  { name: 'exact host does not match another host', hosts: ['foo.bar.com'], request: 'bar.com', match: undefined },
  { name: 'Host is case-insensitive', hosts: ['foo.bar.com'], request: 'FOO.Bar.COM', match: 'foo.bar.com' },
  { name: 'rule host is case-insensitive', hosts: ['Foo.Bar.com'], request: 'foo.bar.com', match: 'Foo.Bar.com' },
  { name: 'Host with a port', hosts: ['foo.bar.com'], request: 'foo.bar.com:8080', match: 'foo.bar.com' },
  { name: 'Host with a trailing dot', hosts: ['foo.bar.com'], request: 'foo.bar.com.', match: 'foo.bar.com' },
  {
    name: 'wildcard with upper case, port and trailing dot',
    hosts: ['*.foo.com'],
    request: 'Bar.FOO.com.:443',
    match: '*.foo.com',
  },
];

/** The Service that row host `index` routes to in hostExampleRules (port 80). */
export function hostExampleService(index: number): string {
  return `host-${index}`;
}

/** One rule per host, Prefix `/` → Service hostExampleService(i), port 80. */
export function hostExampleRules(example: HostExample): IngressRule[] {
  return example.hosts.map((host, i) => ({
    host,
    http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: hostExampleService(i), port: { number: 80 } } } }] },
  }));
}

/** Index into `hosts` of the expected match, or -1 for no match. */
export function hostExampleMatchIndex(example: HostExample): number {
  return example.match === undefined ? -1 : example.hosts.indexOf(example.match);
}
