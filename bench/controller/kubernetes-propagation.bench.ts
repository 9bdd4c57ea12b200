// Propagation latency on the Kubernetes source: Ingress created in the API → first 200 through the
// proxy, with 1, 1,000 and 5,000 existing Ingresses, p50/p99 over SAMPLES changes; and an endpoint
// change (EndpointSlice update) → traffic shifted to the new pod. The API is the in-process fake
// (test/k8s/fake-api-server.ts) speaking the real list/watch protocol over HTTP.
//
//   npx vitest run --config bench/vitest.config.ts bench/controller/kubernetes-propagation.bench.ts
//
// Env: SAMPLES (50), SIZES (1,1000,5000). Writes bench/results/kubernetes-propagation.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'vitest';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { startController } from '../../src/controller/start-controller.js';
import { KubeClient } from '../../src/k8s/kube-client.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import { createDefaultCertificate } from '../../src/tls/certificate-factory.js';
import { closePods, serviceFor, startEchoPods } from '../../test/helpers/e2e.js';
import { httpRequest } from '../../test/helpers/http.js';
import { ingress, ingressClass, prefix, rule } from '../../test/helpers/objects.js';
import { FakeApiServer } from '../../test/k8s/fake-api-server.js';

const SAMPLES = Number(process.env.SAMPLES ?? 50);
const SIZES = (process.env.SIZES ?? '1,1000,5000').split(',').map(Number);

const web = (name: string, host: string) => ingress(`bench/${name}`, { className: 'portico', rules: [rule(host, [prefix('/', 'web', 80)])] });
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const summarize = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: Number(pct(s, 50).toFixed(1)), p99: Number(pct(s, 99).toFixed(1)), max: Number((s.at(-1) ?? NaN).toFixed(1)) };
};

async function until(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

it('propagation latency', async () => {
  const pods = await startEchoPods('web', 2);
  const fallbackCertificate = createDefaultCertificate();
  const results = [];
  for (const size of SIZES) {
    const api = await FakeApiServer.start();
    api.create(ingressClass('portico'));
    for (const obj of serviceFor('bench/web', [pods[0]!])) api.create(obj);
    for (let i = 0; i < size; i++) api.create(web(`existing-${i}`, `existing-${i}.example.com`));
    const synced0 = performance.now();
    const running = await startController({
      kubernetes: { client: new KubeClient(api.kubeConfig()), electionNamespace: 'portico', identity: 'bench' },
      httpPort: 0,
      adminPort: 0,
      bindAddress: '127.0.0.1',
      compile: DEFAULT_COMPILE_OPTIONS,
      logger: createSilentLogger(),
      accessLog: false,
      fallbackCertificate,
    });
    const get = (host: string) => httpRequest({ port: running.http.port, host });
    await until(async () => running.controller.ready);
    const initialSyncMs = performance.now() - synced0;
    const create: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const host = `new-${i}.example.com`;
      const t0 = performance.now();
      api.create(web(`new-${i}`, host));
      await until(async () => (await get(host)).status === 200);
      create.push(performance.now() - t0);
    }
    const shift: number[] = [];
    const [, slice] = serviceFor('bench/web', [pods[0]!]);
    for (let i = 0; i < Math.min(SAMPLES, 20); i++) {
      const target = pods[(i + 1) % 2]!;
      const pod = `web-${(i + 1) % 2}`;
      const t0 = performance.now();
      api.apply({ ...slice!, ports: [{ port: target.port }] });
      await until(async () => (await get('existing-0.example.com')).json?.pod === pod || (size === 0));
      shift.push(performance.now() - t0);
    }
    const row = { existingIngresses: size, initialSyncMs: Number(initialSyncMs.toFixed(1)), createToFirst200Ms: summarize(create), endpointShiftMs: summarize(shift) };
    console.log(JSON.stringify(row));
    results.push(row);
    await running.close();
    await api.close();
  }
  await closePods(pods);
  mkdirSync(join(import.meta.dirname, '../results'), { recursive: true });
  writeFileSync(
    join(import.meta.dirname, '../results/kubernetes-propagation.json'),
    `${JSON.stringify({ benchmark: 'Kubernetes API create → first 200; EndpointSlice update → traffic shift', node: process.version, date: new Date().toISOString(), samples: SAMPLES, results }, null, 2)}\n`,
  );
  console.log('\n| existing Ingresses | initial sync | create → 200 p50 | p99 | endpoint shift p50 | p99 |\n|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.existingIngresses} | ${r.initialSyncMs} ms | ${r.createToFirst200Ms.p50} ms | ${r.createToFirst200Ms.p99} ms | ${r.endpointShiftMs.p50} ms | ${r.endpointShiftMs.p99} ms |`);
});
