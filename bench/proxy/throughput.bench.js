// Proxy throughput: Portico (undici Pool + dispatch handler) vs http-proxy + keep-alive Agent vs the
// backend served directly, each server in its own process, autocannon (programmatic) as the client.
//
//   npx tsc -p tsconfig.build.json && node bench/proxy/throughput.bench.js
//
// Env: ROUNDS (default 3), WARMUP_S (2), DURATION_S (8), CONNECTIONS (50), CONFIGS (comma list).
// Order alternates (A B C D, B C D A, …); each run = warm-up (discarded) + measured run. Proxy CPU
// per request comes from /proc/<pid>/stat (utime+stime) around the measured run; the machine's busy
// share from /proc/stat. Medians over rounds; ratios to "direct". Writes
// bench/results/proxy-throughput.json and prints a Markdown table.
// The backend is dist/echo/echo-main.js (JSON echo, content-length, ~400-byte body for GET /).
import { spawn } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARMUP_S = Number(process.env.WARMUP_S ?? 2);
const DURATION_S = Number(process.env.DURATION_S ?? 8);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const CLK_TCK = 100; // Linux USER_HZ (getconf CLK_TCK)
const PATH = '/bench?x=1';

if (!existsSync(join(root, 'dist/proxy/proxy-server.js'))) {
  console.error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
  process.exit(1);
}

const children = [];
function start(name, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ name, pid: child.pid, port: JSON.parse(out.slice(0, nl)).port, child });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited early (${code})`)));
  });
}

function stopAll() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}
process.once('exit', stopAll);
process.once('SIGINT', () => process.exit(130));

function procCpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15)
}

function machineTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  const total = cpu.reduce((a, b) => a + b, 0);
  return { idle, total };
}

function run(url, duration) {
  return autocannon({ url, connections: CONNECTIONS, duration, pipelining: 1 });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round1 = (x) => Math.round(x * 10) / 10;
const round2 = (x) => Math.round(x * 100) / 100;

const backend = await start('backend', ['dist/echo/echo-main.js'], { PORT: '0', POD_NAME: 'bench-echo', SERVICE_NAME: 'echo' });
const portico = await start('portico', ['bench/proxy/portico-server.js', String(backend.port)]);
const porticoLog = await start('portico+accesslog', ['bench/proxy/portico-server.js', String(backend.port), '--access-log']);
const httpProxy = await start('http-proxy+agent', ['bench/proxy/http-proxy-server.js', String(backend.port)]);

const ALL = [
  { name: 'direct', port: backend.port, pid: undefined },
  { name: 'portico', port: portico.port, pid: portico.pid },
  { name: 'portico+accesslog', port: porticoLog.port, pid: porticoLog.pid },
  { name: 'http-proxy+agent', port: httpProxy.port, pid: httpProxy.pid },
];
const wanted = process.env.CONFIGS?.split(',');
const configs = wanted ? ALL.filter((c) => wanted.includes(c.name)) : ALL;

// Sanity: every target answers 200 with the echo body.
for (const c of configs) {
  const res = await fetch(`http://127.0.0.1:${c.port}${PATH}`);
  const body = await res.json();
  if (res.status !== 200 || body.pod !== 'bench-echo') throw new Error(`${c.name}: unexpected answer ${res.status}`);
}

const samples = Object.fromEntries(configs.map((c) => [c.name, []]));
const startedAt = Date.now();
for (let r = 0; r < ROUNDS; r++) {
  const order = configs.map((_, i) => configs[(i + r) % configs.length]);
  for (const c of order) {
    const url = `http://127.0.0.1:${c.port}${PATH}`;
    await run(url, WARMUP_S);
    const cpu0 = c.pid ? procCpuTicks(c.pid) : 0;
    const backendCpu0 = procCpuTicks(backend.pid);
    const m0 = machineTicks();
    const result = await run(url, DURATION_S);
    const m1 = machineTicks();
    const cpu1 = c.pid ? procCpuTicks(c.pid) : 0;
    const backendCpu1 = procCpuTicks(backend.pid);
    const total = result.requests.total;
    const sample = {
      round: r,
      rps: total / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
      proxyUsPerReq: c.pid ? (((cpu1 - cpu0) / CLK_TCK) * 1e6) / total : undefined,
      proxyCores: c.pid ? (cpu1 - cpu0) / CLK_TCK / result.duration : undefined,
      backendUsPerReq: (((backendCpu1 - backendCpu0) / CLK_TCK) * 1e6) / total,
      machineBusy: 1 - (m1.idle - m0.idle) / (m1.total - m0.total),
    };
    samples[c.name].push(sample);
    console.error(
      `round ${r + 1}/${ROUNDS} ${c.name.padEnd(18)} ${Math.round(sample.rps)} rps  p50 ${sample.p50} ms  p99 ${sample.p99} ms` +
        (sample.proxyUsPerReq === undefined ? '' : `  proxy ${round1(sample.proxyUsPerReq)} µs/req`) +
        `  errors ${sample.errors} non2xx ${sample.non2xx}`,
    );
  }
}
stopAll();

const summary = configs.map((c) => {
  const s = samples[c.name];
  const pick = (k) => s.map((x) => x[k]).filter((x) => x !== undefined);
  return {
    config: c.name,
    rps: Math.round(median(pick('rps'))),
    rpsRange: [Math.round(Math.min(...pick('rps'))), Math.round(Math.max(...pick('rps')))],
    p50: median(pick('p50')),
    p99: median(pick('p99')),
    errors: pick('errors').reduce((a, b) => a + b, 0),
    non2xx: pick('non2xx').reduce((a, b) => a + b, 0),
    proxyUsPerReq: c.pid ? round1(median(pick('proxyUsPerReq'))) : null,
    proxyCores: c.pid ? round2(median(pick('proxyCores'))) : null,
    backendUsPerReq: round1(median(pick('backendUsPerReq'))),
    machineBusy: round2(median(pick('machineBusy'))),
  };
});
const direct = summary.find((s) => s.config === 'direct');
for (const s of summary) {
  s.rpsToDirect = direct ? round2(s.rps / direct.rps) : null;
  s.p99ToDirect = direct && direct.p99 > 0 ? round2(s.p99 / direct.p99) : null;
}

const out = {
  benchmark: 'proxy-throughput',
  node: process.version,
  cpus: os.cpus().length,
  date: new Date().toISOString(),
  method: { tool: 'autocannon (programmatic)', connections: CONNECTIONS, pipelining: 1, warmupS: WARMUP_S, durationS: DURATION_S, rounds: ROUNDS, path: PATH, order: 'rotating' },
  totalSeconds: Math.round((Date.now() - startedAt) / 1000),
  summary,
  samples,
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/proxy-throughput.json'), `${JSON.stringify(out, null, 2)}\n`);

const rows = summary.map(
  (s) =>
    `| ${s.config} | ${s.rps.toLocaleString('en-US')} (${s.rpsRange[0].toLocaleString('en-US')}–${s.rpsRange[1].toLocaleString('en-US')}) | ${s.p50}/${s.p99} | ${s.errors}/${s.non2xx} | ${s.proxyUsPerReq ?? '–'} | ${s.proxyCores ?? '–'} | ${s.rpsToDirect ?? '–'} | ${s.p99ToDirect ?? '–'} | ${s.machineBusy} |`,
);
console.log(
  [
    `Proxy throughput (${process.version}, ${os.cpus().length} CPUs, autocannon -c ${CONNECTIONS}, ${ROUNDS} rounds × ${DURATION_S} s, medians)`,
    '',
    '| config | rps (min–max) | p50/p99 ms | errors/non2xx | proxy µs/req | proxy cores | rps / direct | p99 / direct | machine busy |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
);
