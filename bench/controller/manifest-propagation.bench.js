// Hot-apply latency with the manifest source: a new Ingress file written → first 200 through the
// proxy, with 1, 1,000 and 5,000 existing Ingresses; and an endpoint-only change → traffic shifts.
//
//   npm run build && node bench/controller/manifest-propagation.bench.js
//
// Env: SAMPLES (default 50), SIZES (default 1,1000,5000). Writes bench/results/manifest-propagation.json.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startController } from '../../dist/controller/start-controller.js';
import { DEFAULT_COMPILE_OPTIONS } from '../../dist/compile/index.js';
import { startEchoServer } from '../../dist/echo/echo-server.js';
import { createLogger, createSilentLogger } from '../../dist/lib/logger.js';

const here = dirname(fileURLToPath(import.meta.url));
const SAMPLES = Number(process.env.SAMPLES ?? 50);
const SIZES = (process.env.SIZES ?? '1,1000,5000').split(',').map(Number);

const get = (port, host) =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });

const yaml = (objects) => objects.map((o) => stringify(o)).join('---\n');
const ingress = (name, host, svc = 'web') => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace: 'bench' },
  spec: { ingressClassName: 'portico', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: svc, port: { number: 80 } } } }] } }] },
});
const serviceObjects = (name, pods) => [
  { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bench' }, spec: { ports: [{ port: 80 }] } },
  ...pods.map((pod, i) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-${i}`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ port: pod.port }],
    endpoints: [{ addresses: ['127.0.0.1'] }],
  })),
];
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const summarize = (samples) => {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: +pct(s, 50).toFixed(1), p99: +pct(s, 99).toFixed(1), max: +s.at(-1).toFixed(1) };
};

async function waitFor(check) {
  for (;;) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
}

const web = { podName: 'web-0', ...(await startEchoServer({ port: 0, host: '127.0.0.1', podName: 'web-0', serviceName: 'web' })) };
const moved = { podName: 'web-new', ...(await startEchoServer({ port: 0, host: '127.0.0.1', podName: 'web-new', serviceName: 'web' })) };
const results = [];
for (const size of SIZES) {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-'));
  const base = [
    { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } },
    ...serviceObjects('web', [web]),
    ...Array.from({ length: size }, (_, i) => ingress(`existing-${i}`, `existing-${i}.example.com`)),
  ];
  writeFileSync(join(dir, 'base.yaml'), yaml(base));
  const running = await startController({ manifestsDir: dir, httpPort: 0, adminPort: 0, bindAddress: "127.0.0.1", compile: DEFAULT_COMPILE_OPTIONS, logger: process.env.DEBUG ? createLogger({ level: "debug" }) : createSilentLogger() });
  const port = running.http.port;
  const create = [];
  for (let i = 0; i < SAMPLES; i++) {
    const host = `new-${i}.example.com`;
    const t0 = performance.now();
    writeFileSync(join(dir, `new-${i}.yaml`), yaml([ingress(`new-${i}`, host)]));
    await waitFor(async () => (await get(port, host)).status === 200);
    create.push(performance.now() - t0);
  }
  // Endpoint-only change: the Service's only endpoint moves to another pod.
  const shift = [];
  const slicesFile = join(dir, 'zz-endpoints.yaml');
  for (let i = 0; i < Math.min(SAMPLES, 20); i++) {
    const target = i % 2 === 0 ? moved : web;
    const t0 = performance.now();
    writeFileSync(slicesFile, yaml(serviceObjects('shifted', [target])));
    if (i === 0) writeFileSync(join(dir, 'zz-ingress.yaml'), yaml([ingress('shifted', 'shifted.example.com', 'shifted')]));
    await waitFor(async () => {
      const res = await get(port, 'shifted.example.com');
      return res.status === 200 && JSON.parse(res.body).pod === target.podName;
    });
    if (i > 0) shift.push(performance.now() - t0);
  }
  const row = { existingIngresses: size, createToFirst200Ms: summarize(create), endpointShiftMs: summarize(shift), routeBuilds: running.controller.stats.routeBuilds };
  results.push(row);
  console.log(JSON.stringify(row));
  await running.close();
  rmSync(dir, { recursive: true, force: true });
}
await web.close();
await moved.close();

mkdirSync(join(here, '../results'), { recursive: true });
writeFileSync(join(here, '../results/manifest-propagation.json'), `${JSON.stringify({ benchmark: 'manifest file write → first 200', node: process.version, date: new Date().toISOString(), samples: SAMPLES, results }, null, 2)}\n`);
console.log('\n| existing Ingresses | create → 200 p50 | p99 | endpoint shift p50 | p99 |\n|---|---|---|---|---|');
for (const r of results) console.log(`| ${r.existingIngresses} | ${r.createToFirst200Ms.p50} ms | ${r.createToFirst200Ms.p99} ms | ${r.endpointShiftMs.p50} ms | ${r.endpointShiftMs.p99} ms |`);
