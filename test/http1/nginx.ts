// A private nginx for the differential tests: its own config and prefix in a temp dir, listening on
// 127.0.0.1 ephemeral ports, stopped by its pid (never by name).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

export const NGINX_MISSING = 'SKIPPED: nginx is not installed (apt-get install -y nginx-light; npm test installs it as root via scripts/test-system-deps.mjs)';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Sends raw bytes, half-closes, and collects everything until the peer closes (or 3 s). */
export function exchange(port: number, raw: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(() => {
      socket.destroy();
      done();
    }, 3000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', done);
    socket.end(raw);
  });
}

/** Final statuses in order (interim 1xx, such as 100 Continue, left out). */
export const statuses = (response: string): number[] =>
  [...response.matchAll(/HTTP\/1\.[01] (\d{3})[ \r]/g)].map((m) => Number(m[1])).filter((s) => s >= 200);

export interface RunningNginx {
  port: number;
  stop(): Promise<void>;
}

/** Starts nginx with `servers(dir)` inside `http {}` (listening on `port`); resolves once GET / answers. */
export async function startNginx(port: number, servers: string): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-http1-nginx-'));
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
${servers}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX!, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const out = await exchange(port, Buffer.from('GET /ready HTTP/1.1\r\nHost: a\r\n\r\n')).catch(() => '');
    if (statuses(out).length > 0) return { port, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  let log = '';
  try {
    log = readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000);
  } catch {}
  await stop();
  throw new Error(`nginx did not come up on ${port}: ${stderr}${log}`);
}
