// Soak: Portico (the CLI, deploy's NODE_OPTIONS) under the churn load for several minutes, sampling
// RSS, V8 heap (used/total) and external memory every SAMPLE_S seconds. After the warm-up, a
// least-squares slope per series (MB/minute) says whether memory keeps growing. Not part of
// `npm test` or `npm run bench` (it takes minutes):
//
//   npx vitest run --config bench/vitest.config.ts bench/churn/soak.bench.ts
//
// Env: SOAK_MIN (5), WARMUP_MIN (1), SAMPLE_S (10), HOSTS (50), RATE (1000). Writes
// bench/results/churn-soak.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { ChurnCluster, ManifestDirSink, unroutedVia } from '../../test/helpers/churn.js';
import { DEPLOY_NODE_OPTIONS, LOAD, ROOT, round1, sampleMemory, startLoadWorker, startPortico, type MemorySample } from './churn-lib.js';

const SOAK_MIN = Number(process.env.SOAK_MIN ?? 5);
const WARMUP_MIN = Number(process.env.WARMUP_MIN ?? 1);
const SAMPLE_S = Number(process.env.SAMPLE_S ?? 10);
const HOSTS = Number(process.env.HOSTS ?? 50);
const RATE = Number(process.env.RATE ?? 1000);

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

it('soak: memory under churn load does not keep growing', { timeout: (SOAK_MIN + 3) * 60_000 }, async () => {
  const cluster = await ChurnCluster.create({ hosts: HOSTS, configMapHosts: 5, services: 10, extraHosts: 10, seed: 2016 });
  const dir = await mkdtemp(join(tmpdir(), 'portico-soak-'));
  const sink = new ManifestDirSink(dir, cluster.random);
  await sink.writeAll(cluster.plainFiles());
  await sink.swapConfigMap(cluster.configMapFiles());
  const proxy = await startPortico(dir, DEPLOY_NODE_OPTIONS);
  // As in the churn test: a stopping pod refuses new connections at once, cuts open ones once unrouted.
  cluster.untilUnrouted = unroutedVia(proxy.adminPort!);
  const load = startLoadWorker(cluster, proxy, LOAD, RATE);
  const started = performance.now();
  const endAt = started + SOAK_MIN * 60_000;
  const samples: Array<{ minute: number } & MemorySample> = [];
  const sampler = (async () => {
    while (performance.now() < endAt) {
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_S * 1000));
      const m = await sampleMemory(proxy);
      const sample = { minute: round1((performance.now() - started) / 60_000), rssMB: round1(m.rssMB), heapUsedMB: round1(m.heapUsedMB), heapTotalMB: round1(m.heapTotalMB), externalMB: round1(m.externalMB) };
      samples.push(sample);
      console.log(`soak: ${JSON.stringify(sample)}`);
    }
  })();
  let changes = 0;
  while (performance.now() < endAt) {
    await cluster.churn(sink, 50);
    changes += 50;
    await Promise.all(cluster.stopping.splice(0));
  }
  await sampler;
  const result = await load.stop();
  await proxy.stop();
  await cluster.close();
  await rm(dir, { recursive: true, force: true });
  const after = samples.filter((s) => s.minute >= WARMUP_MIN);
  const trend = (key: keyof MemorySample, from = after) => round1(slope(from.map((s) => [s.minute, s[key]])));
  // RSS rises in steps (allocator high-water marks) that a single slope smears into a trend: the
  // second half's slope says whether it has levelled off.
  const secondHalf = after.slice(Math.floor(after.length / 2));
  const summary = {
    minutes: SOAK_MIN,
    warmupMinutes: WARMUP_MIN,
    changes,
    requests: result.ok + result.failures.length,
    failures: result.failures.length,
    failureSamples: result.failures.slice(0, 5),
    wrongCertificates: result.wrongCertificates.length,
    slopeMBPerMinute: { rss: trend('rssMB'), heapUsed: trend('heapUsedMB'), heapTotal: trend('heapTotalMB'), external: trend('externalMB') },
    slopeSecondHalfMBPerMinute: { rss: trend('rssMB', secondHalf), heapUsed: trend('heapUsedMB', secondHalf), external: trend('externalMB', secondHalf) },
    afterWarmup: { first: after[0], last: after.at(-1) },
  };
  console.log(`soak: ${JSON.stringify(summary)}`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/churn-soak.json'), `${JSON.stringify({ date: new Date().toISOString(), nodeOptions: DEPLOY_NODE_OPTIONS, rate: RATE, load: LOAD, hosts: HOSTS, summary, samples }, null, 2)}\n`);
});
