import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// Which src/ folders each folder may import. Pure stages (compile, routing) never reach I/O
// folders; nothing imports cmd/. See README "Layout".
const ALLOWED: Record<string, readonly string[]> = {
  lib: [],
  model: ['lib'],
  store: ['model', 'lib'],
  source: ['store', 'model', 'lib'],
  endpoints: ['model', 'lib'],
  compile: ['endpoints', 'model', 'lib'],
  routing: ['model', 'lib'],
  balancer: ['model', 'lib'],
  proxy: ['balancer', 'model', 'lib'],
  upstream: ['model', 'lib'],
  engine: ['http2', 'upstream', 'http1', 'proxy', 'balancer', 'model', 'lib'],
  http2: ['upstream', 'http1', 'proxy', 'balancer', 'model', 'lib'],
  echo: ['lib'],
  http1: ['lib'],
  tls: ['model', 'lib'],
  k8s: ['source', 'store', 'model', 'lib'],
  metrics: ['model', 'lib'],
  'data-plane': ['engine', 'proxy', 'tls', 'balancer', 'metrics', 'model', 'lib'],
  workers: ['data-plane', 'tls', 'metrics', 'routing', 'balancer', 'proxy', 'model', 'lib'],
  controller: ['workers', 'data-plane', 'engine', 'tls', 'k8s', 'metrics', 'compile', 'routing', 'balancer', 'proxy', 'source', 'store', 'echo', 'model', 'lib'],
  host: ['lib'],
  nft: ['lib'],
  cni: ['host', 'nft', 'model', 'lib'],
  'lb-ipam': ['model', 'lib'],
  'lb-controller': ['lb-ipam', 'source', 'store', 'k8s', 'model', 'lib'],
  'lb-announce': ['endpoints', 'lb-ipam', 'host', 'k8s', 'store', 'model', 'lib'],
  'service-proxy': ['endpoints', 'nft', 'source', 'store', 'k8s', 'model', 'lib'],
  lab: ['cni', 'host', 'lb-ipam', 'source', 'model', 'lib'],
  'route-agent': ['lb-announce', 'cni', 'host', 'nft', 'source', 'store', 'k8s', 'model', 'lib'],
  dns: ['endpoints', 'source', 'store', 'k8s', 'model', 'lib'],
  cmd: ['workers', 'data-plane', 'engine', 'lab', 'route-agent', 'dns', 'lb-controller', 'lb-ipam', 'service-proxy', 'endpoints', 'tls', 'k8s', 'metrics', 'controller', 'compile', 'routing', 'balancer', 'proxy', 'source', 'store', 'echo', 'cni', 'host', 'nft', 'model', 'lib'],
};

/** Node built-ins the pure folders must not use (they would make compile output depend on the world). */
const IO_MODULES = /^node:(fs|fs\/promises|net|http|https|tls|child_process|dgram|dns)$/;
const PURE = new Set(['compile', 'endpoints', 'routing', 'model', 'lb-ipam', 'http1']);
/** Pure files inside folders that also hold OS adapters. */
const PURE_FILES = new Set(['lb-announce/elect.ts']);

/**
 * The only dynamic import()s in src/, each with its reason. Anything else is a failure: a lazy
 * import hides an edge from this test and from readers, so it has to earn its place.
 */
const DYNAMIC_IMPORTS: Record<string, { readonly specifiers: readonly string[]; readonly why: string }> = {
  'controller/start-controller.ts': {
    specifiers: ["'../k8s/kubernetes-integration.js'", "'../k8s/kube-client.js'"],
    why: '@kubernetes/client-node costs ~50 MB resident; --manifests mode never loads it',
  },
  'service-proxy/start-service-proxy.ts': {
    specifiers: ["'../k8s/kubernetes-source.js'", "'../k8s/kube-client.js'", "'../k8s/event-recorder.js'"],
    why: 'the same Kubernetes client cost: the service proxy in --manifests mode (the lab) never loads it',
  },
  'route-agent/start-node-agent.ts': {
    specifiers: ["'../k8s/kubernetes-source.js'", "'../k8s/kube-client.js'", "'../k8s/event-recorder.js'"],
    why: 'the same Kubernetes client cost: the node agent in --manifests mode (the lab) never loads it',
  },
  'dns/start-dns.ts': {
    specifiers: ["'../k8s/kubernetes-source.js'", "'../k8s/kube-client.js'"],
    why: 'the same Kubernetes client cost: portico dns in --manifests mode (the lab) never loads it',
  },
  'cmd/lb-controller-command.ts': {
    specifiers: ["'../lb-controller/start-lb-controller.js'", "'../k8s/kube-client.js'"],
    why: 'the Kubernetes client cost again: `portico help` and the other commands never load it for the lb-controller',
  },
  'cmd/portico.ts': {
    specifiers: ['./controller-command.js', './demo-command.js', './service-proxy-command.js', './node-agent-command.js', './dns-command.js', './lb-controller-command.js', './lab-command.js', './cni-command.js', './migrate-check-command.js', './certs-command.js', './bench-command.js'].map((s) => `'${s}'`),
    why: 'each command is loaded when it runs: `portico controller` does not load the DNS server, the lab, the CNI plugin… (~10 MB resident)',
  },
  'cmd/bench-command.ts': {
    specifiers: ['specifier'],
    why: 'autocannon (portico bench only) is loaded on demand, so the other commands start without it',
  },
};

/** Specifiers of every static import/export … from, and of side-effect imports. Type-only ones included. */
export function staticImports(text: string): string[] {
  return [
    ...[...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!),
    ...[...text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!),
  ];
}

/** The argument text of every `import(…)` call (an empty `import()` in prose is not one). */
export function dynamicImports(text: string): string[] {
  return [...text.matchAll(/\bimport\(\s*([^\s)][^)]*?)\s*\)/g)].map((m) => m[1]!);
}

/** Every cycle in a graph of file → files it imports, each once, as `a → b → a`. */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles = new Set<string>();
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'active');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'active') {
        const cycle = stack.slice(stack.indexOf(next));
        // Rotate to start at the smallest name, so each cycle is reported once.
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.add([...rotated, rotated[0]].join(' → '));
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return [...cycles].sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

describe('architecture', () => {
  const root = join(import.meta.dirname, '..', 'src');
  const files = sourceFiles(root);

  it('has a rule for every src folder', () => {
    const folders = new Set(files.map((file) => relative(root, file).split('/')[0]));
    expect([...folders].filter((folder) => !(folder! in ALLOWED))).toEqual([]);
  });

  it('imports only along the allowed edges', () => {
    const violations: string[] = [];
    for (const file of files) {
      const folder = relative(root, file).split('/')[0]!;
      const text = readFileSync(file, 'utf8');
      for (const specifier of staticImports(text)) {
        if (specifier.startsWith('.')) {
          const target = relative(root, join(file, '..', specifier)).split('/')[0]!;
          if (target !== folder && !ALLOWED[folder]?.includes(target)) violations.push(`${relative(root, file)} → ${specifier}`);
        } else if ((PURE.has(folder) || PURE_FILES.has(relative(root, file))) && IO_MODULES.test(specifier)) {
          violations.push(`${relative(root, file)} → ${specifier} (I/O in a pure folder)`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no import cycles between src files (type-only imports included)', () => {
    const graph = new Map<string, string[]>();
    for (const file of files) {
      const targets = staticImports(readFileSync(file, 'utf8'))
        .filter((specifier) => specifier.startsWith('.'))
        .map((specifier) => relative(root, join(file, '..', specifier)).replace(/\.js$/, '.ts'));
      graph.set(relative(root, file), targets);
    }
    expect(findCycles(graph)).toEqual([]);
  });

  it('uses dynamic import() only where DYNAMIC_IMPORTS allows it, and every exception is still used', () => {
    const found: Record<string, string[]> = {};
    for (const file of files) {
      const calls = dynamicImports(readFileSync(file, 'utf8'));
      if (calls.length > 0) found[relative(root, file)] = calls;
    }
    const unexpected = Object.entries(found).flatMap(([file, calls]) =>
      calls.filter((call) => !DYNAMIC_IMPORTS[file]?.specifiers.includes(call)).map((call) => `${file}: import(${call})`),
    );
    expect(unexpected).toEqual([]);
    const unused = Object.entries(DYNAMIC_IMPORTS).flatMap(([file, allowed]) =>
      allowed.specifiers.filter((specifier) => !found[file]?.includes(specifier)).map((specifier) => `${file}: ${specifier}`),
    );
    expect(unused).toEqual([]);
  });

  it('its detectors see what they must (a cycle, a lazy import, a side-effect import)', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
    ]);
    expect(findCycles(graph)).toEqual(['a.ts → b.ts → c.ts → a.ts']);
    expect(findCycles(new Map([['x.ts', ['x.ts']]]))).toEqual(['x.ts → x.ts']);
    expect(dynamicImports("const m = await import('../k8s/kube-client.js');\nthrow new Error('dynamic import() is not bundled');")).toEqual(["'../k8s/kube-client.js'"]);
    expect(staticImports("import './require-node.js';\nimport type { A } from './a.js';\nexport { b } from './b.js';")).toEqual(['./a.js', './b.js', './require-node.js']);
  });
});
