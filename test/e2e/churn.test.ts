// Issue 16: zero failed requests while the configuration changes under load. The same seeded churn
// (backends switched, endpoints scaled, terminating and removed right before their pods stop,
// Secrets rotated, Ingresses added and removed, files rewritten unchanged) runs through a manifest
// directory — in-place rewrites with torn states, atomic renames, ConfigMap `..data` swaps — and
// through the Kubernetes API, under keep-alive, new-connection, HTTPS and POST load. Bounded by a
// step count, not a duration; nothing here measures time.
import { X509Certificate } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { startController, type RunningController } from '../../src/controller/start-controller.js';
import { KubeClient } from '../../src/k8s/kube-client.js';
import { createDefaultCertificate } from '../../src/tls/certificate-factory.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { ApiSink, ChurnCluster, ManifestDirSink, servedDifferences, startLoad, unroutedVia, type ChurnOptions } from '../helpers/churn.js';
import { eventually } from '../helpers/http.js';
import { FakeApiServer } from '../k8s/fake-api-server.js';
import { WORKER_ID_ENV } from '../../src/workers/worker.js';

/** The built CLI (npm test builds first), as `--workers` forks it. */
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'portico.js');

const OPTIONS: ChurnOptions = { hosts: 10, configMapHosts: 3, services: 5, extraHosts: 4, seed: 16 };
const STEPS = 300;
const LOAD = { keepAlive: 3, newConnection: 1, https: 2, post: 2 };
const fallbackCertificate = createDefaultCertificate();
const fallbackFingerprint = new X509Certificate(fallbackCertificate.certPem).fingerprint256;

/** Bounded by STEPS, not by time; on a loaded 2-core box a run can take a minute. */
const TIMEOUT = { timeout: 180_000 };

/** Loopback listeners on free ports, quiet logs: what both churn runs start the controller with. */
function listeners(log: ReturnType<typeof captureLogger>) {
  return { httpPort: 0, httpsPort: 0, adminPort: 0, bindAddress: '127.0.0.1', compile: DEFAULT_COMPILE_OPTIONS, logger: log.logger, accessLog: false as const, fallbackCertificate };
}

describe('configuration churn under load', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function churnAndCheck(cluster: ChurnCluster, running: RunningController, sink: ManifestDirSink | ApiSink) {
    const httpPort = running.http.port;
    const httpsPort = running.https!.port;
    const viaAdmin = unroutedVia(running.admin.port);
    const workers = running.workers;
    // A pod stops once the proxy no longer routes to it. With --workers the admin port shows the
    // primary's view, which is ahead of the workers by the IPC hop: the proxy is every worker.
    cluster.untilUnrouted = !workers
      ? viaAdmin
      : async (pod) => {
          await viaAdmin(pod);
          const generation = workers.generation;
          await eventually(async () => (await workers.stats()).workers.every((w) => w.generation >= generation), 30_000, `every worker applied generation ${generation}`);
        };
    // Everything is served before the load starts.
    let first: string[] = [];
    await eventually(async () => (first = await servedDifferences(cluster, httpPort, httpsPort)).length === 0, 10_000, 'initial state served').catch(() => undefined);
    expect(first.join('\n')).toBe('');
    const load = startLoad({ httpPort, httpsPort, cluster }, LOAD);
    await cluster.churn(sink, STEPS);
    await Promise.all(cluster.stopping);
    const result = await load.stop();
    expect(result.failures.slice(0, 10).join('\n')).toBe('');
    expect(result.failures).toHaveLength(0);
    expect(result.wrongCertificates.join('\n').replaceAll(fallbackFingerprint, 'the default certificate')).toBe('');
    // The load overlapped the churn (counts stay modest: a loaded box serves fewer).
    expect(result.ok).toBeGreaterThan(100);
    expect(result.handshakes).toBeGreaterThan(10);
    expect(cluster.stats.removals).toBeGreaterThan(10);
    expect(cluster.stats.configMapSwaps).toBeGreaterThan(3);
    // The final state served is the one written.
    let last: string[] = [];
    await eventually(async () => (last = await servedDifferences(cluster, httpPort, httpsPort)).length === 0, 10_000, 'final state served').catch(() => undefined);
    expect(last.join('\n')).toBe('');
  }

  it('through a manifest directory: no failed request, the right certificate on every handshake, the final files served', TIMEOUT, async () => {
    const cluster = await ChurnCluster.create(OPTIONS);
    cleanups.push(() => cluster.close());
    const dir = await mkdtemp(join(tmpdir(), 'portico-churn-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const sink = new ManifestDirSink(dir, cluster.random);
    await sink.writeAll(cluster.plainFiles());
    await sink.swapConfigMap(cluster.configMapFiles());
    const log = captureLogger('info');
    const running = await startController({
      manifestsDir: dir,
      ...listeners(log),
    });
    cleanups.push(() => running.close());
    await churnAndCheck(cluster, running, sink);
    // Torn states were seen and set aside, never applied (no file ever lost its objects).
    expect(running.source!.stats.readsSetAside).toBeGreaterThan(0);
  });

  it('with --workers 2: the same churn through a manifest directory, no failed request on either worker', TIMEOUT, async () => {
    const cluster = await ChurnCluster.create(OPTIONS);
    cleanups.push(() => cluster.close());
    const dir = await mkdtemp(join(tmpdir(), 'portico-churn-workers-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const sink = new ManifestDirSink(dir, cluster.random);
    await sink.writeAll(cluster.plainFiles());
    await sink.swapConfigMap(cluster.configMapFiles());
    const log = captureLogger('info');
    // Worker processes as the CLI forks them: the built CLI in worker mode, configured by its flags.
    const workerArgs = ['controller', '--workers', '2', '--data-plane', 'engine', '--bind-address', '127.0.0.1', '--disable-access-log', '--log-level', 'warn'];
    const running = await startController({
      manifestsDir: dir,
      ...listeners(log),
      workers: { count: 2, fork: (id) => fork(CLI, workerArgs, { env: { ...process.env, [WORKER_ID_ENV]: String(id) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }) },
    });
    cleanups.push(() => running.close());
    await churnAndCheck(cluster, running, sink);
    // Both workers took part, and both ended on the last build.
    const { workers } = await running.workers!.stats();
    expect(workers.map((w) => (w.requests ?? 0) > 50)).toEqual([true, true]);
    expect(workers.map((w) => w.generation)).toEqual([running.workers!.generation, running.workers!.generation]);
    expect(log.lines.filter((l) => l.code === 'PORTICO_ERR_WORKER_EXITED' || l.code === 'PORTICO_ERR_WORKER_MESSAGE')).toEqual([]);
  });

  it('through the Kubernetes API: the same churn, no failed request', TIMEOUT, async () => {
    const cluster = await ChurnCluster.create(OPTIONS);
    cleanups.push(() => cluster.close());
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    const sink = new ApiSink(api);
    for (const [file, objects] of cluster.plainFiles()) await sink.write(file, objects);
    await sink.swapConfigMap(cluster.configMapFiles());
    const log = captureLogger('info');
    const running = await startController({
      kubernetes: {
        client: new KubeClient(api.kubeConfig()),
        publishStatusAddresses: ['203.0.113.7'],
        electionNamespace: 'portico',
        identity: 'churn',
        leaderElection: { leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 100 },
        backoff: { initialMs: 20, maxMs: 200 },
      },
      ...listeners(log),
    });
    cleanups.push(() => running.close());
    await eventually(async () => running.controller.ready, 5000, 'initial sync');
    await churnAndCheck(cluster, running, sink);
  });
});
