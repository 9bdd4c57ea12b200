// Configuration churn under load, Portico as deployed (the CLI in its own process) beside nginx:
//  - propagation under churn: a probe host switched to another Service → the first request that
//    reaches it, p50/p99, while the churn (test/helpers/churn.ts: in-place torn rewrites, renames,
//    ConfigMap ..data swaps, scaling, pods stopping after their removal, Secret rotations) and the
//    load (keep-alive, new-connection, HTTPS handshake per request, POST) run;
//  - failed requests and wrong certificates under that churn;
//  - RSS (max and end of run), V8 heap and external memory, beside nginx (nginx-light, 1 worker)
//    serving the same hosts under the same load (its configuration is static: nginx applies changes
//    by reloading, which is not what is compared here).
// Targets alternate per round (portico, portico-workers2 = --workers 2, portico-v8-default, nginx, …); medians over rounds.
//
//   npx vitest run --config bench/vitest.config.ts bench/churn/churn.bench.ts
//
// Env: ROUNDS (2), DURATION_S (20), HOSTS (50), RATE (1000 requests/s, paced; 0 = closed loop), TARGETS (comma list), WORKERS (--workers, 1), PORTICO_ARGS (more flags), EXTRA_NODE_OPTIONS (e.g. --cpu-prof --cpu-prof-dir=DIR; workers inherit them), PORTICO_LOG_FILE, BASELINE_DIST (an earlier dist/ inside the repo
// tree: adds a `portico-baseline` target). Writes bench/results/churn.json.
import { mkdtemp, rm } from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { ChurnCluster, ManifestDirSink } from '../../test/helpers/churn.js';
import { cpuMs, DEPLOY_NODE_OPTIONS, NODE_DEFAULT_NODE_OPTIONS, rssMB, hasNginx, LOAD, median, probePropagation, ROOT, round1, sampleMemory, startLoadWorker, startNginx, startPortico, summarize, watchGenerator, type MemorySample, type ProxyProcess } from './churn-lib.js';

const ROUNDS = Number(process.env.ROUNDS ?? 2);
const DURATION_S = Number(process.env.DURATION_S ?? 20);
const HOSTS = Number(process.env.HOSTS ?? 50);
/** Requests a second over all workers (paced, so the proxy is busy but not saturated); 0 = closed loop. */
const RATE = Number(process.env.RATE ?? 1000);

interface RunResult {
  target: string;
  ok: number;
  failures: number;
  failureSamples: string[];
  wrongCertificates: number;
  handshakes: number;
  /** The bench's main thread (pods, churn writer, probe): a loop delay near the samples means generator-bound. */
  bench: { loopDelayP99Ms: number; processCpuPercent: number };
  proxyCpuPercent: number;
  requestsPerSecond: number;
  propagation?: ReturnType<typeof summarize>;
  rssMaxMB: number;
  end: MemorySample;
}

it('churn: propagation, failures and memory beside nginx', async () => {
  const cluster = await ChurnCluster.create({ hosts: HOSTS, configMapHosts: 5, services: 10, extraHosts: 10, probeHosts: 4, seed: 1616 });
  const nginx = hasNginx();
  if (!nginx) console.log('churn: nginx is not installed (apt-get install -y nginx-light); no nginx figures');
  const targets = ['portico', 'portico-workers2', 'portico-v8-default', ...(process.env.BASELINE_DIST ? ['portico-baseline'] : []), ...(nginx ? ['nginx'] : [])].filter(
    (t) => !process.env.TARGETS || process.env.TARGETS.split(',').includes(t),
  );
  const runs: RunResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const target of order) {
      const dir = await mkdtemp(join(tmpdir(), 'portico-churn-bench-'));
      let proxy: ProxyProcess;
      let sink: ManifestDirSink | undefined;
      if (target === 'nginx') proxy = await startNginx(dir, cluster);
      else {
        sink = new ManifestDirSink(dir, cluster.random);
        if (process.env.CHURN_DEBUG) sink.trace = [];
        await sink.writeAll(cluster.plainFiles());
        await sink.swapConfigMap(cluster.configMapFiles());
        const entry = target === 'portico-baseline' ? join(ROOT, process.env.BASELINE_DIST!, 'cmd/portico.js') : undefined;
        proxy = await startPortico(dir, target === 'portico-v8-default' ? NODE_DEFAULT_NODE_OPTIONS : DEPLOY_NODE_OPTIONS, entry, target === 'portico-workers2' ? '2' : undefined);
      }
      const load = startLoadWorker(cluster, proxy, LOAD, RATE);
      const cpuBefore = cpuMs(proxy.pid);
      const runStarted = performance.now();
      const generator = watchGenerator();
      const endAt = performance.now() + DURATION_S * 1000;
      const done = () => performance.now() > endAt;
      let rssMaxMB = 0;
      // RSS from /proc twice a second; /metrics (heap, external) only at the end: a scrape makes every
      // worker serialise its registry, and twice a second would be a load of its own (Prometheus scrapes every 15–30 s).
      const sampler = setInterval(() => (rssMaxMB = Math.max(rssMaxMB, rssMB(proxy.pid))), 500);
      let propagation: number[] | undefined;
      if (sink !== undefined) {
        [propagation] = await Promise.all([probePropagation(cluster, sink, proxy.httpPort, done), cluster.churn(sink, Number.MAX_SAFE_INTEGER, done)]);
      } else {
        while (!done()) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await Promise.all(cluster.stopping.splice(0));
      const result = await load.stop();
      const bench = generator.stop();
      const proxyCpuPercent = Math.round(((cpuMs(proxy.pid) - cpuBefore) / (performance.now() - runStarted)) * 100);
      clearInterval(sampler);
      const end = await sampleMemory(proxy);
      await proxy.stop();
      await rm(dir, { recursive: true, force: true });
      if (process.env.CHURN_DEBUG) {
        console.log(`churn: samples ${JSON.stringify(propagation?.map(Math.round))}`);
        writeFileSync(`${process.env.CHURN_DEBUG}.${target}.writes`, (sink?.trace ?? []).join('\n'));
        writeFileSync(`${process.env.CHURN_DEBUG}.${target}.failures`, result.failures.join('\n'));
      }
      const run: RunResult = {
        target,
        ok: result.ok,
        failures: result.failures.length,
        failureSamples: result.failures.slice(0, 5),
        wrongCertificates: result.wrongCertificates.length,
        handshakes: result.handshakes,
        bench,
        proxyCpuPercent,
        requestsPerSecond: Math.round((result.ok + result.failures.length) / DURATION_S),
        ...(propagation && { propagation: summarize(propagation) }),
        rssMaxMB: round1(Math.max(rssMaxMB, end.rssMB)),
        end: { rssMB: round1(end.rssMB), heapUsedMB: round1(end.heapUsedMB), heapTotalMB: round1(end.heapTotalMB), externalMB: round1(end.externalMB) },
      };
      runs.push(run);
      console.log(`churn: round ${round + 1} ${JSON.stringify(run)}`);
    }
  }
  await cluster.close();
  const summary = targets.map((target) => {
    const mine = runs.filter((r) => r.target === target);
    return {
      target,
      rounds: mine.length,
      requests: mine.reduce((n, r) => n + r.ok + r.failures, 0),
      failures: mine.reduce((n, r) => n + r.failures, 0),
      wrongCertificates: mine.reduce((n, r) => n + r.wrongCertificates, 0),
      propagationP50Ms: mine[0]?.propagation ? median(mine.map((r) => r.propagation!.p50)) : undefined,
      propagationP99Ms: mine[0]?.propagation ? median(mine.map((r) => r.propagation!.p99)) : undefined,
      rssMaxMB: median(mine.map((r) => r.rssMaxMB)),
      rssEndMB: median(mine.map((r) => r.end.rssMB)),
      heapTotalEndMB: median(mine.map((r) => r.end.heapTotalMB)),
      externalEndMB: median(mine.map((r) => r.end.externalMB)),
      benchLoopDelayP99Ms: median(mine.map((r) => r.bench.loopDelayP99Ms)),
      benchCpuPercent: median(mine.map((r) => r.bench.processCpuPercent)),
      proxyCpuPercent: median(mine.map((r) => r.proxyCpuPercent)),
      requestsPerSecond: median(mine.map((r) => r.requestsPerSecond)),
    };
  });
  console.table(summary);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/churn.json'), `${JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, durationS: DURATION_S, hosts: HOSTS, load: LOAD, rate: RATE, summary, runs }, null, 2)}\n`);
});
