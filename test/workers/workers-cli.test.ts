// `portico controller --workers 2 --data-plane engine` as users run it (the built CLI): one primary
// and two worker processes on the same ports. Every step is checked by counts and order, never by
// how long it took: waits poll a condition a bounded number of times.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { closePods, PORTICO_CLASS, renderManifests, serviceFor, startEchoPods, type EchoPod } from '../helpers/e2e.js';
import { httpRequest } from '../helpers/http.js';
import { ingress, prefix, rule } from '../helpers/objects.js';
import { alive, childPids } from '../helpers/processes.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'portico.js');
type Line = Record<string, unknown>;

function startCli(args: readonly string[]) {
  const proc = spawn(process.execPath, [BIN, 'controller', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      lines.push({ unparsed: text });
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, lines, exited, stderr: () => stderr };
}

/** Polls `check` until it returns something truthy (at most `tries` times, 50 ms apart). */
async function until<T>(what: string, check: () => T | Promise<T>, tries = 400): Promise<NonNullable<Awaited<T>>> {
  for (let i = 0; i < tries; i++) {
    const value = await check();
    if (value) return value as NonNullable<Awaited<T>>;
    await sleep(50);
  }
  throw new Error(`${what}: not after ${tries} tries`);
}

interface WorkerStat {
  id: number;
  pid: number;
  state: string;
  ready: boolean;
  generation: number;
  restarts: number;
  requests: number;
}

const webIngress = ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', [prefix('/', 'web', 80)])] });
const apiIngress = ingress('shop/api', { className: 'portico', rules: [rule('api.example.com', [prefix('/', 'api', 80)])] });
const SHOP = 'shop.example.com';
const API = 'api.example.com';
const ADMIN = 'admin.example.com';

describe('portico controller --workers 2 --data-plane engine', () => {
  let cli: ReturnType<typeof startCli> | undefined;
  let dir: string | undefined;
  let pods: EchoPod[] = [];
  let spawned: number[] = [];
  afterEach(async () => {
    const proc: ChildProcess | undefined = cli?.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await cli!.exited;
    }
    // Whatever this test started (a worker left behind is a test failure below, not a leak here).
    for (const pid of spawned.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    cli = undefined;
    await closePods(pods);
    pods = [];
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function start(extra: readonly string[] = []) {
    dir = await mkdtemp(join(tmpdir(), 'portico-workers-'));
    cli = startCli(['--manifests', dir, '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--bind-address', '127.0.0.1', '--workers', '2', '--data-plane', 'engine', '--metrics-compat', 'nginx', ...extra]);
    const c = cli;
    const serving = await until('the primary says it serves', () => c.lines.find((l) => l.workers === 2 && typeof l.admin === 'number') ?? (c.proc.exitCode !== null ? { failed: c.stderr() } : undefined));
    expect(serving).not.toHaveProperty('failed');
    const admin = serving.admin as number;
    const port = serving.http as number;
    const httpsPort = serving.https as number;
    const stats = async () => (await httpRequest({ port: admin, path: '/debug/stats' })).json as unknown as { workers: WorkerStat[] };
    const workerPids = async () => (await stats()).workers.map((w) => w.pid);
    spawned.push(c.proc.pid!, ...(await workerPids()));
    return { c, admin, port, httpsPort, stats, workerPids };
  }

  it('serves from both workers, gets every change to both, survives a SIGKILLed worker without refusing a connection, sums /metrics, and drains on SIGTERM leaving no process', { timeout: 180_000 }, async () => {
    const web = await startEchoPods('web', 2);
    const api = await startEchoPods('api', 1);
    pods = [...web, ...api];
    const [web0, web1] = web;
    const { c, admin, port, httpsPort, stats, workerPids } = await start(['--shutdown-grace-period', '0']);
    await writeFile(join(dir!, 'web.yaml'), renderManifests([PORTICO_CLASS, ...serviceFor('shop/web', [web0!]), webIngress]));
    const get = (host: string) => httpRequest({ port, host, path: '/' });
    /** `n` requests, each on a fresh connection (the kernel spreads new connections over the workers). */
    const burst = async (host: string, n: number) => {
      const replies = [];
      for (let i = 0; i < n; i++) replies.push(await get(host));
      return replies;
    };
    const accessFrom = (host: string, after: number) =>
      new Set(c.lines.slice(after).filter((l) => l.log === 'access' && l.host === host && l.status === 200).map((l) => l.worker));
    let made = 0;

    // Two workers, each its own process under the primary, both listening on the one port.
    const pids = await workerPids();
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(childPids(c.proc.pid!).sort()).toEqual([...pids].sort()); // forked by the primary (the process we started)
    expect(c.lines.filter((l) => typeof l.worker === 'number' && typeof l.msg === 'string' && (l.msg as string).includes('listening')).map((l) => l.worker).sort()).toEqual([0, 1]);

    // The first Ingress reaches both workers (the file was written after start).
    let mark = c.lines.length;
    await until('shop served by both workers', async () => {
      const replies = await burst(SHOP, 10);
      made += 10;
      return replies.every((r) => r.status === 200) && accessFrom(SHOP, mark).size === 2;
    });
    expect((await httpRequest({ port: admin, path: '/readyz' })).status).toBe(200);

    // TLS sessions resume on either worker: the primary gives them one set of ticket keys.
    const tlsAgent = new HttpsAgent({ keepAlive: false, maxCachedSessions: 4 });
    const resumed: boolean[] = [];
    mark = c.lines.length;
    await until('resumed TLS sessions served by both workers', async () => {
      resumed.push(await new Promise<boolean>((resolve, reject) => {
        httpsGet({ host: '127.0.0.1', port: httpsPort, servername: SHOP, headers: { host: SHOP }, path: '/', agent: tlsAgent, rejectUnauthorized: false }, (res) => {
          const reused = (res.socket as TLSSocket).isSessionReused();
          res.resume().on('end', () => resolve(reused));
        }).on('error', reject);
      }));
      made++;
      return resumed.length > 1 && accessFrom(SHOP, mark).size === 2;
    }, 40);
    tlsAgent.destroy();
    // The first handshake is a full one; every later one resumed, whichever worker took it.
    expect(resumed.slice(1)).toEqual(Array(resumed.length - 1).fill(true));

    // A new Ingress: after both workers applied the build, every fresh connection gets it, on both.
    const before = (await stats()).workers.map((w) => w.generation);
    await writeFile(join(dir!, 'api.yaml'), renderManifests([...serviceFor('shop/api', api), apiIngress]));
    await until('both workers applied the new Ingress', async () => (await stats()).workers.every((w, i) => w.generation > before[i]!));
    mark = c.lines.length;
    const apiReplies = await burst(API, 40);
    made += 40;
    expect(apiReplies.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(apiReplies.every((r) => r.json?.pod === 'api-0')).toBe(true);
    await until('access lines of both workers', () => accessFrom(API, mark).size === 2);

    // An endpoint change (web-0 replaced by web-1): both workers route to the new pod only.
    const beforeEndpoints = (await stats()).workers.map((w) => w.generation);
    await writeFile(join(dir!, 'web.yaml'), renderManifests([PORTICO_CLASS, ...serviceFor('shop/web', [web1!]).map((o) => (o.kind === 'EndpointSlice' ? { ...o, metadata: { ...o.metadata, name: 'shop-web-1' } } : o)), webIngress]));
    await until('both workers applied the endpoint change', async () => (await stats()).workers.every((w, i) => w.generation > beforeEndpoints[i]!));
    mark = c.lines.length;
    const webReplies = await burst(SHOP, 40);
    made += 40;
    expect(webReplies.map((r) => r.json?.pod)).toEqual(Array(40).fill('web-1'));
    await until('access lines of both workers', () => accessFrom(SHOP, mark).size === 2);

    // /metrics on the primary sums what both workers served; /debug/stats splits it by worker.
    await until('every access line written', () => c.lines.filter((l) => l.log === 'access').length === made);
    const perWorker = (await stats()).workers.map((w) => w.requests);
    expect(perWorker.every((n) => n > 0)).toBe(true);
    expect(perWorker[0]! + perWorker[1]!).toBe(made);
    const metrics = (await httpRequest({ port: admin, path: '/metrics' })).body;
    const total = [...metrics.matchAll(/^portico_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(total).toBe(made);
    // ingress-nginx's series too, summed the same way; the build and configuration ones once, from the primary.
    const nginxTotal = [...metrics.matchAll(/^nginx_ingress_controller_requests\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(nginxTotal).toBe(made);
    expect(metrics).toMatch(/^nginx_ingress_controller_requests\{status="200",method="GET",path="\/",namespace="shop",ingress="api",service="api",canary="",host="api.example.com",controller_class="portico.dev\/ingress-controller",controller_namespace="[^"]+",controller_pod="[^"]+"\} 40$/m);
    expect(metrics.match(/^nginx_ingress_controller_build_info\{.*\} 1$/gm)).toHaveLength(1);
    expect(metrics).toMatch(/^nginx_ingress_controller_config_last_reload_successful\{.*\} 1$/m);
    expect(metrics).toMatch(/^portico_workers 2$/m);
    expect(c.lines.filter((l) => l.code === 'PORTICO_ERR_WORKER_MESSAGE')).toEqual([]);
    expect(metrics).toMatch(/^portico_worker_restarts_total 0$/m);

    // SIGKILL worker 1 while a client keeps opening connections: none is refused, and a replacement
    // (a new pid) comes up with the current configuration and serves.
    const results: Array<number | string> = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) results.push(await get(SHOP).then((r) => (r.json?.pod === 'web-1' ? r.status : `pod ${String(r.json?.pod)}`), (e: NodeJS.ErrnoException) => e.code ?? e.message));
    })();
    await until('the loop is running', () => results.length >= 5);
    const victim = pids[1]!;
    process.kill(victim, 'SIGKILL');
    const replaced = await until('a replacement worker 1', async () => {
      const w = (await stats()).workers[1]!;
      return w.pid !== victim && w.ready && w.restarts === 1 ? w : undefined;
    });
    spawned.push(replaced.pid);
    const killLog = c.lines.find((l) => l.code === 'PORTICO_ERR_WORKER_EXITED');
    expect(killLog).toMatchObject({ worker: 1, pid: victim, signal: 'SIGKILL' });
    const replacedAt = c.lines.findIndex((l) => l.worker === 1 && l.pid === replaced.pid);
    await until('the replacement serves', () => c.lines.slice(replacedAt).some((l) => l.log === 'access' && l.worker === 1 && l.host === SHOP && l.status === 200));
    stop = true;
    await loop;
    expect(results.filter((r) => r === 'ECONNREFUSED')).toEqual([]);
    // A request the killed worker was answering at that moment is cut; nothing else fails.
    expect(results.filter((r) => r !== 200).length).toBeLessThanOrEqual(1);
    expect((await httpRequest({ port: admin, path: '/readyz' })).status).toBe(200);
    expect((await httpRequest({ port: admin, path: '/metrics' })).body).toMatch(/^portico_worker_restarts_total 1$/m);

    // SIGTERM: every worker drains and exits, then the primary; nothing is left.
    const all = [...(await workerPids())];
    c.proc.kill('SIGTERM');
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(c.lines.filter((l) => l.phase === 'closed' && typeof l.worker === 'number').map((l) => l.worker).sort()).toEqual([0, 1]);
    for (const pid of all) expect(alive(pid), `worker pid ${pid}`).toBe(false);
    expect(alive(victim)).toBe(false);
  });

  it('enforces route policies in every worker; answers /readyz 503 from SIGTERM on while the workers keep serving; workers whose primary is killed exit by themselves', { timeout: 120_000 }, async () => {
    pods = await startEchoPods('web', 1);
    const { c, admin, port, workerPids } = await start(['--shutdown-grace-period', '60', '--shutdown-drain-timeout', '1']);
    await writeFile(join(dir!, 'web.yaml'), renderManifests([PORTICO_CLASS, ...serviceFor('shop/web', pods), webIngress]));
    await until('ready', async () => (await httpRequest({ port: admin, path: '/readyz' })).status === 200);
    const pids = await workerPids();

    // Route policies travel in the snapshot: a denylist on the client's address is enforced by every
    // worker (a worker that dropped it would serve the route unprotected).
    const denied = ingress('shop/admin', { className: 'portico', annotations: { 'nginx.ingress.kubernetes.io/denylist-source-range': '127.0.0.0/8' }, rules: [rule(ADMIN, [prefix('/', 'web', 80)])] });
    await writeFile(join(dir!, 'admin.yaml'), renderManifests([denied]));
    const mark = c.lines.length;
    const statuses: number[] = [];
    await until('admin refused by both workers', async () => {
      statuses.push((await httpRequest({ port, host: ADMIN, path: '/' })).status);
      return new Set(c.lines.slice(mark).filter((l) => l.log === 'access' && l.host === ADMIN && l.status === 403).map((l) => l.worker)).size === 2;
    });
    // Before the build reached the workers the host was unknown (404); never served.
    expect(statuses.filter((s) => s !== 404 && s !== 403)).toEqual([]);
    expect(statuses.at(-1)).toBe(403);

    c.proc.kill('SIGTERM');
    await until('grace', () => c.lines.some((l) => l.phase === 'grace' && l.worker === undefined));
    expect((await httpRequest({ port: admin, path: '/readyz' })).status).toBe(503);
    const replies = [];
    for (let i = 0; i < 10; i++) replies.push((await httpRequest({ port, host: SHOP, path: '/' })).status);
    expect(replies).toEqual(Array(10).fill(200));
    // The primary disappears (SIGKILL: no message to anyone): the IPC channel closes and each worker drains and exits.
    c.proc.kill('SIGKILL');
    await c.exited;
    for (const pid of pids) await until(`worker pid ${pid} gone`, () => !alive(pid));
  });
});
