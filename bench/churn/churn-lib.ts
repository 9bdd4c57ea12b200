// Shared by the churn benchmark and the soak: Portico as a real CLI process over a manifest
// directory the churn writes into, nginx (Debian nginx-light) with the same hosts for a side-by-side
// memory figure, memory sampling from /proc and the admin /metrics, and a propagation probe.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, get, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ChurnCluster, type LoadResult, type ManifestDirSink } from '../../test/helpers/churn.js';

export const ROOT = join(import.meta.dirname, '../..');
/** What deploy/ sets (README "Memory"): a smaller V8 young generation. */
export const DEPLOY_NODE_OPTIONS = '--max-semi-space-size=4';
/** Node's own young-generation limit, for the target that runs without deploy's (the CLI adds deploy's when none is given). */
export const NODE_DEFAULT_NODE_OPTIONS = '--max-semi-space-size=16';
/** Load workers per kind (load-worker.js). */
export const LOAD = { keepAlive: 4, newConnection: 2, https: 4, post: 2 };

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ProxyProcess {
  readonly name: string;
  readonly pid: number;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly adminPort: number | undefined;
  stop(): Promise<void>;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not ready in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const status = (port: number, path: string) =>
  new Promise<number>((resolve, reject) => get({ host: '127.0.0.1', port, path }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject));

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    });
}

/**
 * `portico controller --manifests DIR` with NODE_OPTIONS as given; MALLOC_ARENA_MAX the CLI's default (2)
 * unless PORTICO_MALLOC_ARENA_MAX is set. PORTICO_LOG_FILE keeps its log
 * (at PORTICO_LOG_LEVEL, default info) for a look at what happened.
 */
export async function startPortico(dir: string, nodeOptions: string, entry = join(ROOT, 'dist/cmd/portico.js'), workers = process.env.WORKERS ?? '1'): Promise<ProxyProcess> {
  const [httpPort, httpsPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [entry, 'controller', '--workers', workers, '--manifests', dir, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--admin-port', String(adminPort), '--bind-address', '127.0.0.1', '--disable-access-log', '--log-level', process.env.PORTICO_LOG_LEVEL ?? 'info', ...(process.env.PORTICO_ARGS?.split(' ').filter(Boolean) ?? [])],
    { stdio: ['ignore', process.env.PORTICO_LOG_FILE ? 'pipe' : 'ignore', 'inherit'], env: { ...process.env, NODE_OPTIONS: `${nodeOptions} ${process.env.EXTRA_NODE_OPTIONS ?? ''}`.trim(), MALLOC_ARENA_MAX: process.env.PORTICO_MALLOC_ARENA_MAX } },
  );
  if (process.env.PORTICO_LOG_FILE) child.stdout!.pipe(createWriteStream(process.env.PORTICO_LOG_FILE, { flags: 'a' }));
  await waitFor('portico', async () => (await status(adminPort, '/readyz')) === 200);
  return { name: 'portico', pid: child.pid!, httpPort, httpsPort, adminPort, stop: stopper(child) };
}

export function hasNginx(): boolean {
  return spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).status === 0;
}

/** nginx with the cluster's current hosts, Services and certificates; one worker, as in bench/compare. */
export async function startNginx(dir: string, cluster: ChurnCluster): Promise<ProxyProcess> {
  mkdirSync(dir, { recursive: true });
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const lines: string[] = [];
  for (const [name, entries] of cluster.pods) {
    const servers = entries.filter((e) => !e.terminating).map((e) => `server 127.0.0.1:${e.pod.port};`).join(' ');
    lines.push(`  upstream ${name.replace('-', '_')} { ${servers} keepalive 64; }`);
  }
  for (let h = 0; h < cluster.options.hosts; h++) {
    const host = ChurnCluster.host(h);
    const certificate = cluster.certificates[h]![cluster.secretVersion[h]!]!;
    writeFileSync(join(dir, `${host}.crt`), certificate.certPem);
    writeFileSync(join(dir, `${host}.key`), certificate.keyPem);
    lines.push(
      `  server { listen 127.0.0.1:${httpPort}; listen 127.0.0.1:${httpsPort} ssl; server_name ${host}; ssl_certificate ${dir}/${host}.crt; ssl_certificate_key ${dir}/${host}.key; ssl_protocols TLSv1.2 TLSv1.3; location / { proxy_pass http://${cluster.backendOf[h]!.replace('-', '_')}; } }`,
    );
  }
  const conf = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_timeout 75s;
  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_set_header Host $http_host;
  proxy_set_header Connection "";
${lines.join('\n')}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor('nginx', async () => (await status(httpPort, '/')) > 0);
  return { name: 'nginx', pid: child.pid!, httpPort, httpsPort, adminPort: undefined, stop: stopper(child) };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** VmRSS of a process and its children (nginx: master + worker), MB. */
export function rssMB(pid: number): number {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) pids.push(...childrenOf(pids[i]!));
  let kb = 0;
  for (const p of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return kb / 1024;
}

export interface MemorySample {
  readonly rssMB: number;
  readonly heapUsedMB: number;
  readonly heapTotalMB: number;
  readonly externalMB: number;
}

/** RSS from /proc; V8 heap and external memory from Portico's /metrics (prom-client defaults). */
export async function sampleMemory(proxy: ProxyProcess): Promise<MemorySample> {
  const rss = rssMB(proxy.pid);
  if (proxy.adminPort === undefined) return { rssMB: rss, heapUsedMB: NaN, heapTotalMB: NaN, externalMB: NaN };
  const text = await new Promise<string>((resolve, reject) =>
    get({ host: '127.0.0.1', port: proxy.adminPort, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject),
  );
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1_048_576;
  return { rssMB: rss, heapUsedMB: metric('nodejs_heap_size_used_bytes'), heapTotalMB: metric('nodejs_heap_size_total_bytes'), externalMB: metric('nodejs_external_memory_bytes') };
}

const pct = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
export const round1 = (x: number) => Math.round(x * 10) / 10;
export function summarize(samples: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: round1(pct(s, 50)), p99: round1(pct(s, 99)), max: round1(s.at(-1) ?? NaN) };
}
export const median = (xs: readonly number[]) => summarize(xs).p50;

/**
 * Propagation under churn: every `intervalMs`, a probe host is switched to another Service (file
 * written in place or renamed), then polled back to back until a response comes from the new
 * Service. Runs until `until()`; returns the write → first-request-that-sees-it times, ms.
 */
export async function probePropagation(cluster: ChurnCluster, sink: ManifestDirSink, httpPort: number, until: () => boolean, intervalMs = 100): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const serviceOf = (host: string) =>
    new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port: httpPort, path: '/probe', headers: { host }, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          try {
            resolve((JSON.parse(body) as { service?: string }).service ?? '');
          } catch {
            resolve('');
          }
        });
      });
      req.on('error', () => resolve(''));
      req.end();
    });
  const times: number[] = [];
  let n = 0;
  while (!until()) {
    const p = n % cluster.probeBackendOf.length;
    const next = cluster.probeBackendOf[p] === 'svc-0' ? 'svc-1' : 'svc-0';
    cluster.probeBackendOf[p] = next;
    const host = ChurnCluster.probeHost(p);
    const started = performance.now();
    await sink.write(`probe-${p}.yaml`, cluster.probeObjects(p), n % 2 === 0 ? 'in-place' : 'rename');
    while ((await serviceOf(host)) !== next) {
      if (performance.now() - started > 10_000) break; // reported as a 10 s sample
    }
    times.push(performance.now() - started);
    n++;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  agent.destroy();
  return times;
}

/** The load in a worker thread (load-worker.js); stop() checks which Service answered each host. */
export function startLoadWorker(cluster: ChurnCluster, proxy: ProxyProcess, load: { keepAlive: number; newConnection: number; https: number; post: number }, rate: number): { stop(): Promise<LoadResult> } {
  const worker = new Worker(join(import.meta.dirname, 'load-worker.js'), {
    workerData: { httpPort: proxy.httpPort, httpsPort: proxy.httpsPort, hosts: cluster.options.hosts, fingerprints: cluster.fingerprints, load, rate },
  });
  return {
    async stop() {
      const raw = await new Promise<LoadResult & { served: Record<number, Record<string, true>> }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage('stop');
      });
      await worker.terminate();
      for (const [h, services] of Object.entries(raw.served)) {
        for (const service of Object.keys(services)) {
          if (!cluster.everServices[Number(h)]!.has(service)) raw.failures.push(`${ChurnCluster.host(Number(h))}: answered by ${service}, never its backend`);
        }
      }
      return { ok: raw.ok, handshakes: raw.handshakes, failures: raw.failures, wrongCertificates: raw.wrongCertificates };
    },
  };
}

/** Main-thread event-loop delay and process CPU over a run: was the generator the bottleneck? */
export function watchGenerator(): { stop(): { loopDelayP99Ms: number; processCpuPercent: number } } {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const cpu = process.cpuUsage();
  const started = performance.now();
  return {
    stop() {
      histogram.disable();
      const used = process.cpuUsage(cpu);
      return { loopDelayP99Ms: round1(histogram.percentile(99) / 1e6), processCpuPercent: Math.round(((used.user + used.system) / 1000 / (performance.now() - started)) * 100) };
    },
  };
}

/** CPU time (user + system) of a process and its children, ms. */
export function cpuMs(pid: number): number {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) pids.push(...childrenOf(pids[i]!));
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return (ticks * 1000) / CLK_TCK;
}
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
