// The built CLI as users run it (`npm test` builds dist/ first, in pretest).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { configMap, ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, PORTICO_CLASS, renderManifests, serviceFor, startEchoPods, type EchoPod } from '../helpers/e2e.js';
import { eventually, httpRequest } from '../helpers/http.js';
import { httpsRequest } from '../helpers/tls-client.js';
import { alive, childPids } from '../helpers/processes.js';
import { FakeApiServer } from '../k8s/fake-api-server.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'portico.js');
// --workers 1: these tests are about one process (the default, auto, forks one worker per CPU).
const LOCAL_PORTS = ['--http-port', '0', '--https-port', '0', '--admin-port', '0', '--bind-address', '127.0.0.1', '--workers', '1'];

/** Starts the CLI with `node`, collecting its JSON log lines. */
function startCli(node: string, args: readonly string[]) {
  const proc = spawn(node, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    lines.push(JSON.parse(text) as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const waitFor = async (predicate: (line: Record<string, unknown>) => boolean) => {
    for (;;) {
      const found = lines.find(predicate);
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { proc, lines, waitFor, exited, stderr: () => stderr };
}

const SYSTEM_NODE = '/usr/bin/node';
const systemNodeMajor = (() => {
  const result = spawnSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.slice(1).split('.')[0]) : undefined;
})();

describe('portico CLI', () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  let pods: EchoPod[] = [];
  /** Grandchildren (the launcher's Node 24 child): killed even when a test failed before its launcher forwarded. */
  let grandchildren: number[] = [];
  afterEach(async () => {
    for (const pid of grandchildren.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    // Stop the controller and wait for it while we still read its stdout (an unread pipe would cost
    // it the bounded exit flush, see the test below).
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      const hard = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(hard);
    }
    await closePods(pods);
    pods = [];
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs on Node 24', () => {
    const result = spawnSync(process.execPath, [BIN, 'version'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^portico \d+\.\d+\.\d+ \(node v24\./);
  });

  it('migrate-check: one line per annotation, exit 1 when something would change, 0 when not; a directory, JSON, and a bad flag', () => {
    const fixtures = join(import.meta.dirname, '..', 'fixtures', 'migrate');
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'migrate-check', ...args], { encoding: 'utf8' });
    const apps = run('-f', join(fixtures, 'apps.yaml'));
    expect(apps.status).toBe(1);
    expect(apps.stdout).toContain('  refused    configuration-snippet: "more_set_headers');
    expect(apps.stdout).toContain('  ignored    satisfy: any — not implemented by Portico yet');
    expect(apps.stdout).toContain('  different  mirror-target: http://mirror.shop.svc$request_uri — engine data plane only');
    expect(apps.stdout).toContain('  different  proxy-buffer-size: 8k — no effect: Portico streams');
    expect(apps.stdout).toContain('ConfigMap ingress-nginx/ingress-nginx-controller');
    expect(apps.stdout).toContain('  different  proxy-body-size: 16m — a chunked body');
    expect(apps.stdout).toContain('  different  use-forwarded-headers: true — use-forwarded-headers: with proxy-real-ip-cidr 0.0.0.0/0');
    expect(apps.stdout).toContain('--ingress-class nginx');
    expect(apps.stdout).toMatch(/\(exit 1\)\.\n$/);
    const clean = run('-f', join(fixtures, 'clean.yaml'));
    expect([clean.status, clean.stdout.trim().split('\n').at(-1)]).toEqual([0, 'Nothing would behave differently from ingress-nginx.']);
    const both = run('-f', fixtures, '-o', 'json');
    expect(both.status).toBe(1);
    expect((JSON.parse(both.stdout) as { ingresses: unknown[] }).ingresses).toHaveLength(4);
    const bad = run('-f', join(fixtures, 'clean.yaml'), '--output', 'xml');
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringContaining('--output must be text or json')]);
  });

  it('migrate-check --kubeconfig reads the Ingresses and the ConfigMap from the cluster (list calls only)', async () => {
    const api = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    try {
      api.create(ingress('shop/web', { className: 'nginx', annotations: { 'nginx.ingress.kubernetes.io/rewrite-target': '/$1', 'nginx.ingress.kubernetes.io/server-snippet': 'return 403;' }, rules: [rule('web.example.com', [prefix('/(.*)', 'web', 80)])] }));
      api.create(configMap('ingress-nginx/ingress-nginx-controller', { 'proxy-body-size': '8m' }));
      api.create(configMap('shop/unrelated', { 'proxy-body-size': '1k' }));
      const kubeconfig = join(dir, 'kubeconfig');
      await writeFile(kubeconfig, api.kubeconfigYaml());
      const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const proc = spawn(process.execPath, [BIN, 'migrate-check', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (c: Buffer) => (stdout += c));
        proc.stderr.on('data', (c: Buffer) => (stderr += c));
        proc.once('exit', (status) => resolve({ status, stdout, stderr }));
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(1);
      expect(result.stdout).toContain('Ingress shop/web (class nginx)');
      expect(result.stdout).toMatch(/  (supported|different)  rewrite-target: \/\$1/);
      expect(result.stdout).toContain('  refused    server-snippet');
      expect(result.stdout).toContain('ConfigMap ingress-nginx/ingress-nginx-controller');
      expect(result.stdout).not.toContain('shop/unrelated');
      expect(result.stdout).toContain('1 Ingresses');
    } finally {
      await api.close();
    }
  });

  it('runs on Node 24 even when an older system node starts it', () => {
    const system = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
    if (system.status !== 0) return; // no system node on this machine: nothing to check
    const result = spawnSync('/usr/bin/node', [BIN, 'version'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\(node v24\./);
  });

  it.skipIf(systemNodeMajor === undefined || systemNodeMajor >= 24)('the launcher forwards SIGTERM to its Node 24 child, which drains and exits; the launcher exits with its status', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    const cli = startCli(SYSTEM_NODE, ['controller', '--manifests', dir, ...LOCAL_PORTS, '--shutdown-grace-period', '0']);
    child = cli.proc;
    await cli.waitFor((line) => typeof line.http === 'number');
    const [node24] = childPids(cli.proc.pid!);
    expect(node24).toBeDefined();
    grandchildren.push(node24!);
    cli.proc.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(alive(node24!)).toBe(false);
    expect(cli.stderr()).toContain('SIGTERM');
  });

  it.skipIf(systemNodeMajor === undefined || systemNodeMajor >= 24)('the launcher exits with its child\'s status (2 for a bad flag)', () => {
    const result = spawnSync(SYSTEM_NODE, [BIN, 'controller', '--http-port', 'eighty'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--http-port must be a port number');
  });

  it.skipIf(systemNodeMajor === undefined || systemNodeMajor >= 24)('the launcher dies of the signal its child died of (SIGHUP)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    const cli = startCli(SYSTEM_NODE, ['controller', '--manifests', dir, ...LOCAL_PORTS]);
    child = cli.proc;
    await cli.waitFor((line) => typeof line.http === 'number');
    const [node24] = childPids(cli.proc.pid!);
    grandchildren.push(node24!);
    cli.proc.kill('SIGHUP');
    expect(await cli.exited).toEqual({ code: null, signal: 'SIGHUP' });
    expect(alive(node24!)).toBe(false);
  });

  it.skipIf(systemNodeMajor === undefined || systemNodeMajor >= 24)('dist/cmd/portico.js on an old Node says which Node it needs (no undici stack trace)', () => {
    const result = spawnSync(SYSTEM_NODE, [join(import.meta.dirname, '..', '..', 'dist', 'cmd', 'portico.js'), 'version'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`portico needs Node.js 24 or newer; this is ${spawnSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()}`);
    expect(result.stderr).not.toContain('TypeError');
  });

  it('exits on SIGTERM even when its log reader has stopped reading (the final flush is bounded)', { timeout: 60_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    const cli = startCli(process.execPath, ['controller', '--manifests', dir, ...LOCAL_PORTS, '--shutdown-grace-period', '0']);
    child = cli.proc;
    const started = await cli.waitFor((line) => typeof line.http === 'number');
    // The reader stops reading: the pipe (64 KiB) fills with access-log lines, the rest stays queued.
    cli.proc.stdout!.pause();
    for (let i = 0; i < 40; i++) await Promise.all(Array.from({ length: 50 }, () => httpRequest({ port: started.http as number, host: 'nowhere.example.com', path: `/${'x'.repeat(200)}` })));
    cli.proc.kill('SIGTERM');
    // Without the bound, pino's exit hook blocks in its flush forever and afterEach has to SIGKILL it.
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('serves manifests, reports readiness and logs one access line per request', async () => {
    pods = await startEchoPods('web', 1);
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(
      join(dir, 'web.yaml'),
      renderManifests([PORTICO_CLASS, ...serviceFor('shop/web', pods), ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', [prefix('/', 'web', 80)])] })]),
    );
    const { proc, waitFor } = startCli(process.execPath, ['controller', '--manifests', dir, ...LOCAL_PORTS, '--shutdown-grace-period', '0']);
    child = proc;
    const started = await waitFor((line) => typeof line.http === 'number');
    // Started without them, it replaced itself (same pid) to get its memory settings (README "Memory").
    expect(readFileSync(`/proc/${proc.pid}/cmdline`, 'latin1').split('\0')).toContain('--max-semi-space-size=4');
    expect(readFileSync(`/proc/${proc.pid}/environ`, 'latin1').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    const admin = await httpRequest({ port: started.admin as number, path: '/readyz' });
    expect(admin.status).toBe(200);
    expect((await httpRequest({ port: started.admin as number, path: '/healthz' })).status).toBe(200);
    const res = await httpRequest({ port: started.http as number, host: 'shop.example.com', path: '/hello?x=1' });
    expect(res.status).toBe(200);
    expect(res.json?.path).toBe('/hello?x=1');
    const access = await waitFor((line) => line.log === 'access');
    expect(access).toMatchObject({ method: 'GET', host: 'shop.example.com', path: '/hello?x=1', status: 200, ingress: 'shop/web' });
    for (const field of ['time', 'client', 'bytes', 'durationMs', 'upstream', 'upstreamMs', 'service']) {
      expect(access, `access log field ${field}`).toHaveProperty(field);
    }
  });

  it('--configmap reaches the workers (--workers 2): body size, HSTS and proxy-set-headers from the ConfigMap', { timeout: 60_000 }, async () => {
    pods = await startEchoPods('web', 1);
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(
      join(dir, 'web.yaml'),
      renderManifests([
        PORTICO_CLASS,
        ...serviceFor('shop/web', pods),
        ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', [prefix('/', 'web', 80)])] }),
        configMap('ingress-nginx/ingress-nginx-controller', { 'proxy-body-size': '1k', 'hsts-max-age': '600', 'hsts-include-subdomains': 'false', 'proxy-set-headers': 'team' }),
        configMap('ingress-nginx/team', { 'X-Team': 'shop' }),
      ]),
    );
    const ports = LOCAL_PORTS.slice(0, -2);
    const cli = startCli(process.execPath, ['controller', '--manifests', dir, ...ports, '--workers', '2', '--shutdown-grace-period', '0', '--configmap', 'ingress-nginx/ingress-nginx-controller']);
    child = cli.proc;
    const started = await cli.waitFor((line) => typeof line.http === 'number' && typeof line.https === 'number');
    const post = (body: string) => httpRequest({ port: started.http as number, host: 'shop.example.com', method: 'POST', body });
    await eventually(async () => (await post('small')).status === 200, 20_000, 'served');
    for (let i = 0; i < 4; i++) {
      // Each request may reach either worker: every one has the ConfigMap's settings.
      expect((await post('x'.repeat(3000))).status).toBe(413);
      expect((await post('small')).json?.headers['x-team']).toBe('shop');
      expect((await httpsRequest({ port: started.https as number, servername: 'shop.example.com' })).headers['strict-transport-security']).toBe('max-age=600');
    }
  });

  it('on SIGTERM answers /readyz 503 and refuses no new connection during --shutdown-grace-period; a second SIGTERM stops at once (130)', async () => {
    pods = await startEchoPods('web', 1);
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(
      join(dir, 'web.yaml'),
      renderManifests([PORTICO_CLASS, ...serviceFor('shop/web', pods), ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', [prefix('/', 'web', 80)])] })]),
    );
    // A grace period long enough for a handful of requests on a loaded machine; the test never waits it out.
    const cli = startCli(process.execPath, ['controller', '--manifests', dir, ...LOCAL_PORTS, '--shutdown-grace-period', '30', '--shutdown-drain-timeout', '5']);
    child = cli.proc;
    const started = await cli.waitFor((line) => typeof line.http === 'number');
    const get = () => httpRequest({ port: started.http as number, host: 'shop.example.com', path: '/' });
    expect((await get()).status).toBe(200);
    cli.proc.kill('SIGTERM');
    await cli.waitFor((line) => line.phase === 'grace');
    expect((await httpRequest({ port: started.admin as number, path: '/readyz' })).status).toBe(503);
    const statuses: Array<number | string> = [];
    for (let i = 0; i < 20; i++) statuses.push(await get().then((r) => r.status, (e: NodeJS.ErrnoException) => e.code ?? e.message));
    expect(statuses).toEqual(Array(20).fill(200));
    expect(cli.lines.some((line) => line.phase === 'drain')).toBe(false);
    cli.proc.kill('SIGTERM'); // the second signal: stop at once
    expect((await cli.exited).code).toBe(130);
  });

  it('exits at once with PORTICO_ERR_K8S_CONFIG when there is no Kubernetes configuration anywhere (instead of watching localhost:8080)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-home-'));
    const { KUBECONFIG: _k, KUBERNETES_SERVICE_HOST: _h, KUBERNETES_SERVICE_PORT: _p, ...env } = process.env;
    const result = spawnSync(process.execPath, [BIN, 'controller', '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--bind-address', '127.0.0.1'], {
      encoding: 'utf8',
      env: { ...env, HOME: dir },
      timeout: 15_000,
    });
    expect(result.signal).toBeNull(); // exited by itself, not killed by the timeout
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('[PORTICO_ERR_K8S_CONFIG]');
    expect(result.stderr).toContain(join(dir, '.kube', 'config'));
  });

  it('rejects a bad flag with exit code 2 and names it', () => {
    const result = spawnSync(process.execPath, [BIN, 'controller', '--manifests', '/tmp', '--http-port', 'eighty'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--http-port must be a port number 0-65535, got "eighty"');
  });

  it('fails clearly when the manifest directory does not exist', () => {
    const result = spawnSync(process.execPath, [BIN, 'controller', '--manifests', '/nonexistent/portico', '--http-port', '0', '--https-port', '0', '--admin-port', '0'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('PORTICO_ERR_MANIFEST_READ');
    expect(result.stderr).toContain('/nonexistent/portico');
  });
});
