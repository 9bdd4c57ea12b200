// compileRoutes + RouteTable.build for 10,000 Ingresses (3-4 paths each), plus compileBackends
// for every backend they reference: time (median of several runs) and memory.
//
//   npx tsc -p tsconfig.build.json && node --expose-gc bench/compile/compile.bench.js
//
// Without --expose-gc the heap figures are noisier (no forced GC before measuring).
// Writes bench/results/compile.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBackends, compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../dist/compile/index.js';
import { RouteTable } from '../../dist/routing/route-table.js';

const INGRESSES = 10_000;
const RUNS = 7;
const gc = globalThis.gc ?? (() => {});

function objects() {
  const ingressClasses = new Map([
    ['portico', { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: DEFAULT_COMPILE_OPTIONS.controllerClass } }],
  ]);
  const ingresses = new Map();
  const services = new Map();
  const endpointSlices = new Map();
  for (let i = 0; i < INGRESSES; i++) {
    const namespace = `ns-${i % 200}`;
    const name = `app-${i}`;
    const svc = (s) => ({ service: { name: `${name}-${s}`, port: s === 'web' ? { number: 80 } : { name: 'http' } } });
    const paths = [
      { path: '/', pathType: 'Prefix', backend: svc('web') },
      { path: '/api', pathType: 'Prefix', backend: svc('api') },
      { path: '/api/v1/status', pathType: 'Exact', backend: svc('api') },
    ];
    if (i % 2 === 0) paths.push({ path: '/static/', pathType: 'ImplementationSpecific', backend: svc('web') });
    const rules = [{ host: `${name}.${namespace}.example.com`, http: { paths } }];
    // Some shared hosts, so merging and conflicts are exercised too.
    if (i % 10 === 0) rules.push({ host: `shared-${i % 100}.example.com`, http: { paths: [{ path: `/${name}`, pathType: 'Prefix', backend: svc('web') }] } });
    ingresses.set(`${namespace}/${name}`, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace, creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString() },
      spec: { ingressClassName: 'portico', rules },
    });
    for (const s of ['web', 'api']) {
      const svcName = `${name}-${s}`;
      services.set(`${namespace}/${svcName}`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: svcName, namespace },
        spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      });
      endpointSlices.set(`${namespace}/${svcName}-abcde`, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${svcName}-abcde`, namespace, labels: { 'kubernetes.io/service-name': svcName } },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [0, 1, 2].map((e) => ({
          addresses: [`10.${(i >> 8) & 255}.${i & 255}.${e + (s === 'web' ? 10 : 20)}`],
          conditions: { ready: true },
          targetRef: { kind: 'Pod', name: `${svcName}-${e}` },
        })),
      });
    }
  }
  return { ingressClasses, ingresses, services, endpointSlices, secrets: new Map(), nodes: new Map() };
}

const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const ms = (ns) => Math.round(ns / 1e4) / 100;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const snapshot = objects();
gc();
const baseline = process.memoryUsage();

const samples = { compileMs: [], buildMs: [], backendsMs: [] };
let kept;
for (let r = 0; r < RUNS + 1; r++) {
  kept = undefined;
  gc();
  const t0 = process.hrtime.bigint();
  const model = compileRoutes(snapshot, DEFAULT_COMPILE_OPTIONS);
  const t1 = process.hrtime.bigint();
  const table = RouteTable.build(model);
  const t2 = process.hrtime.bigint();
  const endpoints = compileBackends(snapshot, model.backends);
  const t3 = process.hrtime.bigint();
  if (r > 0) {
    // Run 0 is a warm-up (JIT).
    samples.compileMs.push(ms(Number(t1 - t0)));
    samples.buildMs.push(ms(Number(t2 - t1)));
    samples.backendsMs.push(ms(Number(t3 - t2)));
  }
  kept = { model, table, endpoints };
}
gc();
const after = process.memoryUsage();
const { model } = kept;
const routes = model.virtualHosts.reduce((n, v) => n + v.routes.length, model.hostless.length);

const result = {
  benchmark: 'compileRoutes + RouteTable.build (+ compileBackends)',
  node: process.version,
  date: new Date().toISOString(),
  runs: RUNS,
  gcExposed: globalThis.gc !== undefined,
  input: {
    ingresses: snapshot.ingresses.size,
    services: snapshot.services.size,
    endpointSlices: snapshot.endpointSlices.size,
  },
  output: {
    virtualHosts: model.virtualHosts.length,
    routes,
    backends: model.backends.length,
    diagnostics: model.diagnostics.length,
  },
  medianMs: {
    compileRoutes: median(samples.compileMs),
    routeTableBuild: median(samples.buildMs),
    compileBackends: median(samples.backendsMs),
  },
  samplesMs: samples,
  memoryMB: {
    snapshotHeapUsed: mb(baseline.heapUsed),
    retainedModelTableEndpoints: mb(after.heapUsed - baseline.heapUsed),
    rss: mb(after.rss),
    rssGrowth: mb(after.rss - baseline.rss),
  },
};

console.log(`compile bench, ${INGRESSES.toLocaleString('en')} Ingresses, median of ${RUNS} runs, node ${process.version}`);
console.table({
  compileRoutes: { ms: result.medianMs.compileRoutes },
  'RouteTable.build': { ms: result.medianMs.routeTableBuild },
  compileBackends: { ms: result.medianMs.compileBackends },
});
console.log('output', result.output);
console.log('memory (MB)', result.memoryMB);

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'compile.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}`);
