// Paired A/B of two Portico builds (and optionally nginx) on one scenario: many short rounds, the
// targets alternating within each round, CPU per request split into user and kernel time from
// /proc. On a box whose speed drifts by ±30 % within minutes, the ratio of two targets measured
// seconds apart (one round) is steadier than the ratio of their medians; the median of those
// per-round ratios is the headline.
//
//   npm run build && node bench/compare/paired-ab.js
//
// Env (defaults in brackets):
//   BASELINE_DIST   an earlier dist/ inside the repo tree (e.g. node_modules/.cache/wt/dist, a
//                   `git worktree` of an older commit built with tsc -p tsconfig.build.json); required
//   NGINX [0]       1: nginx too, and the ratios to it
//   HTTPS [0]       1: HTTPS keep-alive instead of HTTP
//   URL_PATH [/bytes/128]  e.g. /bytes/1048576 for 1 MiB responses
//   CONNS [50]  ROUNDS [8]  DURATION_S [3] (after a 1 s warm-up per target and round)
// Same pinning as bench/compare: wrk and the nginx `return 200` backend on CPU 0, each proxy alone on
// CPU 1 (taskset). Prints a summary; writes nothing.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLK_TCK, stopAll } from './lib/procs.js';
import { startNginx, startNginxBackend, startPortico } from './lib/targets.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';
import { median } from './lib/stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const env = (name, fallback) => process.env[name] ?? fallback;
const BASELINE_DIST = process.env.BASELINE_DIST;
if (!BASELINE_DIST) {
  console.error('paired-ab: set BASELINE_DIST to an earlier dist/ inside the repo tree');
  process.exit(2);
}
const ROUNDS = Number(env('ROUNDS', 8));
const DURATION_S = Number(env('DURATION_S', 3));
const CONNS = Number(env('CONNS', 50));
const HTTPS = env('HTTPS', '0') === '1';
const URL_PATH = env('URL_PATH', '/bytes/128');

const dir = mkdtempSync(join(os.tmpdir(), 'portico-paired-ab-'));
const sub = (name) => {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
};
const certs = join(root, 'certs');

/** user and system clock ticks of `pids` so far (fields 14 and 15 of /proc/PID/stat). */
function ticks(pids) {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      user += Number(fields[11]);
      system += Number(fields[12]);
    } catch {
      // gone: its ticks are not ours to count
    }
  }
  return { user, system };
}

try {
  const backend = await startNginxBackend({ dir: sub('backend'), cpus: '0' });
  const common = { root, profile: 'base', backendPort: backend.port, certs, cpus: '1' };
  const targets = [
    await startPortico({ ...common, dir: sub('new'), name: 'new' }),
    await startPortico({ ...common, dir: sub('baseline'), name: 'baseline', entry: join(BASELINE_DIST, 'cmd/portico.js') }),
  ];
  if (env('NGINX', '0') === '1') targets.push(await startNginx({ dir: sub('nginx'), profile: 'base', backendPort: backend.port, certs, cpus: '1' }));
  const script = writeWrkScript(dir, 'plain', {});
  const rows = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
      const url = HTTPS ? `https://127.0.0.1:${target.tlsPort}${URL_PATH}` : `http://127.0.0.1:${target.port}${URL_PATH}`;
      const load = { url, connections: CONNS, script, cpus: '0', headers: ['Host: web.example.com'] };
      await runWrk({ ...load, durationS: 1 });
      const pids = target.pids();
      const before = ticks(pids);
      const run = await runWrk({ ...load, durationS: DURATION_S });
      const after = ticks(pids);
      const us = (t) => ((t / CLK_TCK) * 1e6) / run.requests;
      rows[target.name].push({ user: us(after.user - before.user), system: us(after.system - before.system), rps: run.requests / run.seconds, p99: run.latency.p99, errors: run.errors + run.non2xx });
    }
  }
  const f = (x) => x.toFixed(1);
  console.log(`paired-ab: ${HTTPS ? 'HTTPS' : 'HTTP'} ${URL_PATH}, ${CONNS} connections, ${ROUNDS} rounds × ${DURATION_S} s; CPU µs per request (medians)`);
  for (const [name, list] of Object.entries(rows)) {
    console.log(`  ${name.padEnd(8)} total ${f(median(list.map((r) => r.user + r.system)))}  user ${f(median(list.map((r) => r.user)))}  kernel ${f(median(list.map((r) => r.system)))}  req/s ${Math.round(median(list.map((r) => r.rps)))}  p99 ${median(list.map((r) => r.p99)).toFixed(2)} ms  errors ${list.reduce((n, r) => n + r.errors, 0)}`);
  }
  const paired = (a, b, part = (r) => r.user + r.system) => rows[a].map((r, i) => part(r) / part(rows[b][i]));
  const show = (label, ratios) => console.log(`  ${label.padEnd(26)} median ${median(ratios).toFixed(3)}  rounds ${ratios.map((x) => x.toFixed(2)).join(' ')}`);
  show('new ÷ baseline (total)', paired('new', 'baseline'));
  show('new ÷ baseline (user)', paired('new', 'baseline', (r) => r.user));
  if (rows.nginx) {
    show('new ÷ nginx (total)', paired('new', 'nginx'));
    show('baseline ÷ nginx (total)', paired('baseline', 'nginx'));
  }
} finally {
  await stopAll();
}
