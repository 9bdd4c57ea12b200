// What per-route features cost (issue 14's benchmark): one Portico process (the engine, the CLI as
// users run it) serves two hosts on the same nginx `return 200` backend: a plain route, and a route
// with rewrite-target (regex), CORS (an origin list), basic auth (bcrypt; verdicts cached) and a
// rate limit far above the load. wrk (HTTP keep-alive, 50 connections) and the backend are pinned
// to core 0, Portico alone to core 1; CPU of Portico's process per request at saturation, rounds
// alternating plain / policies, medians. A round whose proxy core was below 0.9 is flagged
// generator-bound.
//
//   npm run build && node dist/cmd/portico.js certs && node bench/engine/policies.bench.js   (ROUNDS [5], DURATION_S [5])
//
// Writes bench/results/engine-policies.json (+ .md).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POLICIES_AUTH, POLICIES_HOST, TLS_HOST } from '../compare/lib/configs.js';
import { cpuTicks, CLK_TCK, hasCommand, machineLoad, stopAll } from '../compare/lib/procs.js';
import { median } from '../compare/lib/stats.js';
import { startNginxBackend, startPortico } from '../compare/lib/targets.js';
import { runWrk, writeWrkScript } from '../compare/lib/wrk.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const DURATION_S = Number(process.env.DURATION_S ?? 5);
const WARMUP_S = 1;
const CONNECTIONS = 50;

for (const tool of ['wrk', 'nginx', 'taskset']) {
  if (!hasCommand(tool)) {
    console.error(`policies bench: ${tool} is not installed (apt-get install -y wrk nginx-light util-linux)`);
    process.exit(1);
  }
}

const work = mkdtempSync(join(tmpdir(), 'portico-policies-bench-'));
const routes = {
  plain: { host: TLS_HOST, path: '/api/item?id=1', headers: [] },
  policies: {
    host: POLICIES_HOST,
    path: '/api/item?id=1',
    headers: [`Authorization: Basic ${Buffer.from(`${POLICIES_AUTH.user}:${POLICIES_AUTH.password}`).toString('base64')}`, 'Origin: https://app.example.com'],
  },
};
const samples = { plain: [], policies: [] };
try {
  const backend = await startNginxBackend({ dir: join(work, 'backend'), cpus: '0' });
  const portico = await startPortico({ root, dir: join(work, 'portico'), profile: 'base', backendPort: backend.port, certs: join(root, 'certs'), cpus: '1', name: 'portico-engine' });
  const script = writeWrkScript(work, 'plain', { path: '/' });
  console.error(`policies bench: load average ${machineLoad().one}; ${ROUNDS} rounds × ${DURATION_S} s per route`);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['plain', 'policies'] : ['policies', 'plain'];
    for (const name of order) {
      const route = routes[name];
      const url = `http://127.0.0.1:${portico.port}${route.path}`;
      const headers = [`Host: ${route.host}`, ...route.headers];
      await runWrk({ url, connections: CONNECTIONS, durationS: WARMUP_S, headers, script, cpus: '0' });
      const before = cpuTicks(portico.pids());
      const result = await runWrk({ url, connections: CONNECTIONS, durationS: DURATION_S, headers, script, cpus: '0' });
      const seconds = (cpuTicks(portico.pids()) - before) / CLK_TCK;
      const sample = {
        rps: result.requests / result.seconds,
        usPerRequest: (seconds / result.requests) * 1e6,
        proxyCores: seconds / result.wallSeconds,
        non2xx: result.non2xx,
        errors: result.errors,
      };
      if (sample.non2xx > 0 || sample.errors > 0) throw new Error(`${name}: ${sample.non2xx} non-2xx, ${sample.errors} errors: the route is misconfigured, the numbers would mean nothing`);
      samples[name].push(sample);
      console.error(`${name.padEnd(9)} round ${r + 1}/${ROUNDS}  ${Math.round(sample.rps)}/s  ${sample.usPerRequest.toFixed(1)} µs/req  proxy cores ${sample.proxyCores.toFixed(2)}${sample.proxyCores < 0.9 ? '  GENERATOR-BOUND' : ''}`);
    }
  }
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}

const summary = Object.fromEntries(
  Object.entries(samples).map(([name, list]) => [
    name,
    { usPerRequest: median(list.map((s) => s.usPerRequest)), rps: median(list.map((s) => s.rps)), proxyCores: median(list.map((s) => s.proxyCores)), generatorBound: list.some((s) => s.proxyCores < 0.9) },
  ]),
);
const ratio = summary.policies.usPerRequest / summary.plain.usPerRequest;
const result = { date: new Date().toISOString(), node: process.version, load: machineLoad(), rounds: ROUNDS, durationS: DURATION_S, connections: CONNECTIONS, summary, ratio, samples };
writeFileSync(join(root, 'bench/results/engine-policies.json'), `${JSON.stringify(result, null, 2)}\n`);
const md = [
  `# Per-route features: CPU per request (${result.date.slice(0, 10)})`,
  '',
  `wrk, ${CONNECTIONS} keep-alive connections, nginx \`return 200\` backend, both on core 0; Portico (engine, one process) alone on core 1; ${ROUNDS} alternating rounds × ${DURATION_S} s, medians.`,
  '',
  '| route | CPU µs/req | req/s | proxy cores | generator-bound |',
  '|---|---|---|---|---|',
  ...Object.entries(summary).map(([name, s]) => `| ${name === 'plain' ? 'plain (no policy)' : 'rewrite-target + CORS + basic auth + limit-rps'} | ${s.usPerRequest.toFixed(1)} | ${Math.round(s.rps)} | ${s.proxyCores.toFixed(2)} | ${s.generatorBound ? 'yes' : 'no'} |`),
  '',
  `Policies ÷ plain: **${ratio.toFixed(2)}×**.`,
  '',
];
writeFileSync(join(root, 'bench/results/engine-policies.md'), md.join('\n'));
console.log(md.join('\n'));
