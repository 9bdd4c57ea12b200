// The engine (src/engine, issue 13) beside today's data plane (src/proxy: node:http + undici) and
// nginx, on the keep-alive hot path, in one run: wrk (2 threads, 50 connections, ~100-byte body)
// and an nginx `return 200` backend pinned to core 0, each proxy alone on core 1; CPU of the
// proxy's process per request at saturation (utime+stime from /proc before/after) is the
// headline; 3 alternating rounds, medians. A round where the proxy's core was not saturated (< 90 %)
// is flagged generator-bound.
//
//   npm run build && node bench/engine/hot-path.bench.js      (ROUNDS, SECONDS)
//
// Needs nginx (nginx-light), wrk, taskset. Writes bench/results/engine-hot-path.json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 8);
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
const BACKEND_PORT = 18081;
const PORTS = { engine: 18090, proxy: 18091, nginx: 18092 };
const dir = mkdtempSync(join(tmpdir(), 'engine-bench-'));
const children = [];

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function nginxConf(name, port, body) {
  const prefix = join(dir, name);
  spawnSync('mkdir', ['-p', join(prefix, 'logs')]);
  const conf = `worker_processes 1; daemon off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000; client_body_temp_path ${prefix}/b; proxy_temp_path ${prefix}/p; fastcgi_temp_path ${prefix}/f; uwsgi_temp_path ${prefix}/u; scgi_temp_path ${prefix}/s;
  upstream backend { server 127.0.0.1:${BACKEND_PORT}; keepalive 128; }
  server { listen 127.0.0.1:${port} reuseport backlog=4096; ${body} } }`;
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  return join(prefix, 'nginx.conf');
}

function start(cpu, command, args, env = {}) {
  const child = spawn('taskset', ['-c', cpu, command, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

const LAUNCHER = `
import { BackendRegistry } from '${REPO}/dist/balancer/backend-registry.js';
import { createLogger } from '${REPO}/dist/lib/logger.js';
const [kind, port, backendPort] = process.argv.slice(2);
const ref = { key: 'default/web/80', namespace: 'default', service: 'web', port: 80 };
const registry = new BackendRegistry();
registry.sync(new Map([[ref.key, { backend: ref, endpoints: [{ key: '127.0.0.1:' + backendPort, address: '127.0.0.1', port: Number(backendPort), ready: true, serving: true, terminating: false }] }]]));
const routes = { lookup: () => ({ backend: ref, ingress: 'default/web' }) };
const logger = createLogger({ level: 'warn' });
if (kind === 'engine') {
  const { EngineServer } = await import('${REPO}/dist/engine/engine-server.js');
  await new EngineServer({ backends: registry, routes, logger }).listen({ port: Number(port), host: '127.0.0.1' });
} else {
  const { ProxyServer } = await import('${REPO}/dist/proxy/proxy-server.js');
  await new ProxyServer({ backends: registry, routes, logger }).listen({ port: Number(port), host: '127.0.0.1' });
}
`;

async function waitPort(port) {
  for (let i = 0; i < 100; i++) {
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
    if (r.stdout === '200') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing answers 200 on ${port}`);
}

function wrk(port) {
  const r = spawnSync('taskset', ['-c', '0', 'wrk', '-t2', '-c50', `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
  const p99 = /99%\s+(\S+)/.exec(r.stdout)?.[1];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  return { requests, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]), p99, non2xx };
}

async function main() {
  const backend = start('0', 'nginx', ['-c', nginxConf('backend', BACKEND_PORT, `location / { return 200 '${'x'.repeat(100)}'; }`)]);
  const nginx = start('1', 'nginx', ['-c', nginxConf('proxy', PORTS.nginx, 'location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }')]);
  writeFileSync(join(dir, 'launch.mjs'), LAUNCHER);
  const engine = start('1', process.execPath, [join(dir, 'launch.mjs'), 'engine', String(PORTS.engine), String(BACKEND_PORT)]);
  const proxy = start('1', process.execPath, [join(dir, 'launch.mjs'), 'proxy', String(PORTS.proxy), String(BACKEND_PORT)]);
  void backend;
  await waitPort(BACKEND_PORT);
  for (const port of Object.values(PORTS)) await waitPort(port);
  // nginx's worker is the child of its master: measure the worker.
  const nginxWorker = Number(spawnSync('pgrep', ['-P', String(nginx.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
  const pids = { engine: engine.pid, proxy: proxy.pid, nginx: nginxWorker };
  const rounds = { engine: [], proxy: [], nginx: [] };
  for (const name of Object.keys(PORTS)) wrk(PORTS[name]); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(PORTS)) {
      const before = cpuSeconds(pids[name]);
      const result = wrk(PORTS[name]);
      const cpu = cpuSeconds(pids[name]) - before;
      rounds[name].push({ ...result, cpuUsPerRequest: (cpu * 1e6) / result.requests, coreShare: cpu / SECONDS });
    }
  }
  const rssMb = (pid) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  const summary = {};
  for (const name of Object.keys(rounds)) {
    const list = rounds[name];
    summary[name] = {
      rssMb: rssMb(pids[name]),
      rps: Math.round(median(list.map((r) => r.rps))),
      cpuUsPerRequest: Math.round(median(list.map((r) => r.cpuUsPerRequest)) * 10) / 10,
      coreShare: Math.round(median(list.map((r) => r.coreShare)) * 100) / 100,
      generatorBound: median(list.map((r) => r.coreShare)) < 0.9,
      p99: list.map((r) => r.p99),
      non2xx: list.reduce((n, r) => n + r.non2xx, 0),
    };
  }
  for (const name of Object.keys(summary)) summary[name].vsNginx = Math.round((summary[name].cpuUsPerRequest / summary.nginx.cpuUsPerRequest) * 100) / 100;
  console.table(summary);
  writeFileSync(join(REPO, 'bench', 'results', 'engine-hot-path.json'), `${JSON.stringify({ node: process.version, date: new Date().toISOString(), seconds: SECONDS, rounds: ROUNDS, summary, raw: rounds }, null, 2)}\n`);
}

try {
  await main();
} finally {
  // SIGTERM first: nginx's master takes its worker down with it (a SIGKILLed master would orphan it).
  for (const child of children) child.kill('SIGTERM');
  spawnSync('sleep', ['0.5']);
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
