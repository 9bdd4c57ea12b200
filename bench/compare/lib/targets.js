// Starting the things under test: the echo backend, Portico (the real CLI), nginx and HAProxy, each in
// its own process(es), optionally pinned. Every target is { name, port, tlsPort?, pids() }.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { renderHaproxyCfg, renderNginxBackendConf, renderNginxConf, renderPorticoManifests, writeConfig } from './configs.js';
import { freePort, processTree, startProcess, waitUntil } from './procs.js';

/** The echo backend (dist/echo/echo-main.js) in its own process. */
export async function startBackend({ root, cpus }) {
  const backend = await startProcess({
    name: 'echo backend',
    command: process.execPath,
    args: ['dist/echo/echo-main.js'],
    cpus,
    cwd: root,
    env: { PORT: '0', POD_NAME: 'bench-echo', SERVICE_NAME: 'echo' },
    ready: (out) => {
      const line = out.split('\n')[0];
      try {
        return { port: JSON.parse(line).port };
      } catch {
        return undefined;
      }
    },
  });
  return { ...backend, name: 'direct', pids: () => [backend.pid] };
}

/**
 * The backend that never saturates: nginx (1 worker) answering `return 200` with a 128-byte body on
 * any path, and /bytes/1048576 from a static file (sendfile). Every proxy forwards to it in the HTTP
 * scenarios; the echo backend stays for WebSocket (nginx cannot echo).
 */
export async function startNginxBackend({ dir, cpus }) {
  const port = await freePort();
  const conf = writeConfig(dir, 'nginx.conf', renderNginxBackendConf({ dir, port }));
  const p = await startProcess({ name: 'nginx backend', command: 'nginx', args: ['-p', dir, '-c', conf, '-g', 'daemon off;'], cpus, ready: () => ({}) });
  await waitUntil('nginx backend', () => portOpen(port), 20_000, p);
  await waitUntil('nginx backend worker', () => processTree(p.pid).length >= 2, 20_000, p);
  return { name: 'direct', port, pid: p.pid, child: p.child, pids: () => processTree(p.pid) };
}

const portOpen = (port) =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

/**
 * Portico: `portico controller --manifests DIR`, access log off, as users run it; `--workers N`
 * (1 unless asked: the CLI's default, auto, would fork one worker per CPU).
 */
export async function startPortico({ root, dir, profile, backendPort, certs, cpus, workers = 1, extraArgs = [], name = 'portico', entry = 'dist/cmd/portico.js', nodeArgs = process.env.PORTICO_NODE_ARGS, mallocArenaMax = process.env.PORTICO_MALLOC_ARENA_MAX }) {
  const manifests = join(dir, 'manifests');
  writeConfig(manifests, 'bench.json', renderPorticoManifests({ profile, backendPort, certs }));
  const port = await freePort();
  const tlsPort = await freePort();
  const args = [
    ...(nodeArgs ? nodeArgs.split(' ') : []),
    entry,
    'controller',
    '--workers',
    String(workers),
    '--manifests',
    manifests,
    '--http-port',
    String(port),
    '--https-port',
    String(tlsPort),
    '--admin-port',
    '0',
    '--bind-address',
    '127.0.0.1',
    '--disable-access-log',
    '--default-ssl-certificate',
    'bench/web-tls',
    ...extraArgs,
  ];
  const spawnedAt = performance.now();
  const p = await startProcess({
    name,
    command: process.execPath,
    args,
    cpus,
    cwd: root,
    // Unset: the CLI's own default (2, lib/serving-memory.ts), as users run it.
    env: { MALLOC_ARENA_MAX: mallocArenaMax },
    timeoutMs: 60_000,
    // The primary says "portico serving" once every worker listens.
    ready: (out) => (out.includes('portico serving') ? {} : undefined),
  });
  await waitUntil(`${name} http`, () => portOpen(port), 20_000, p);
  return { name, port, tlsPort, pid: p.pid, child: p.child, spawnedAt, pids: () => processTree(p.pid) };
}

/** nginx (Debian nginx-light), master + `workers` workers. */
export async function startNginx({ dir, profile, backendPort, certs, cpus, workers = 1, name = 'nginx' }) {
  const port = await freePort();
  const tlsPort = await freePort();
  const conf = writeConfig(dir, 'nginx.conf', renderNginxConf({ profile, dir, backendPort, httpPort: port, httpsPort: tlsPort, certs, workers }));
  // nginx prints nothing when it starts: the readiness check is the port answering.
  const p = await startProcess({ name, command: 'nginx', args: ['-p', dir, '-c', conf, '-g', 'daemon off;'], cpus, ready: () => ({}) });
  await waitUntil(`${name} http`, () => portOpen(port), 20_000, p);
  await waitUntil(`${name} workers`, () => processTree(p.pid).length >= 1 + workers, 20_000, p);
  return { name, port, tlsPort: profile === 'base' ? tlsPort : undefined, pid: p.pid, child: p.child, pids: () => processTree(p.pid) };
}

/** HAProxy, one process with `threads` threads. */
export async function startHaproxy({ dir, profile, backendPort, certs, cpus, threads = 1, name = 'haproxy' }) {
  const port = await freePort();
  const tlsPort = await freePort();
  const cfg = writeConfig(dir, 'haproxy.cfg', renderHaproxyCfg({ profile, dir, backendPort, httpPort: port, httpsPort: tlsPort, certs, threads }));
  const p = await startProcess({ name, command: 'haproxy', args: ['-db', '-f', cfg], cpus, ready: () => ({}) });
  await waitUntil(`${name} http`, () => portOpen(port), 20_000, p);
  return { name, port, tlsPort: profile === 'base' ? tlsPort : undefined, pid: p.pid, child: p.child, pids: () => processTree(p.pid) };
}

/** One GET through a target; resolves with the status (sanity check before measuring). */
export function probe({ port, tls, host, servername, path }) {
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(
      { host: '127.0.0.1', port, path, headers: { host }, ...(tls && { servername, rejectUnauthorized: false }), agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('probe timed out')));
    req.end();
  });
}
