// CPU profile of Portico's hot path: the real CLI under `node --cpu-prof`, loaded like one of the
// comparative scenarios, then the profile summarised (self time by function and by area).
//
//   npm run bench:profile                       (http-keepalive)
//   SCENARIO=https-keepalive DURATION_S=10 node bench/compare/profile.js
//   node bench/compare/profile.js path/to/file.cpuprofile     (summarise an existing profile)
//
// Env: SCENARIO [http-keepalive] (any id from lib/scenarios.js but routing-10k), DURATION_S [8],
// CONNECTIONS [50], TOP [25]. Writes bench/results/profile-<scenario>.json (+ .md) and leaves the
// .cpuprofile in a temp dir (path printed; open it in Chrome DevTools or speedscope).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TLS_HOST } from './lib/configs.js';
import { killAllNow, pinnedCommand, stopAll } from './lib/procs.js';
import { buildScenarios } from './lib/scenarios.js';
import { startBackend, startPortico } from './lib/targets.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const TOP = Number(process.env.TOP ?? 25);

/** Area of a profile node, from its URL and name. */
function areaOf(frame) {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program: native, not attributed)';
  if (functionName === '(idle)') return '(idle)';
  if (url === '') return `native: ${functionName || '(anonymous)'}`;
  if (url.includes('/node_modules/undici/') || url.startsWith('wasm://')) return 'undici (JS + llhttp wasm)';
  if (url.includes('/node_modules/prom-client/')) return 'prom-client (metrics)';
  if (url.includes('/node_modules/pino')) return 'pino (logging)';
  if (url.includes('/node_modules/')) return `dep: ${url.split('/node_modules/').pop().split('/')[0]}`;
  if (url.includes('/dist/')) return `portico: ${url.split('/dist/').pop()}`;
  if (url.startsWith('node:internal/streams') || url.startsWith('node:stream')) return 'node: streams';
  if (url.startsWith('node:internal/http') || url.startsWith('node:_http')) return `node: ${url.replace('node:', '')}`;
  if (url.startsWith('node:events') || url.startsWith('node:internal/events')) return 'node: events';
  if (url.startsWith('node:net') || url.startsWith('node:internal/stream_base') || url.startsWith('node:internal/net')) return 'node: net / stream_base';
  if (url.startsWith('node:_tls') || url.startsWith('node:tls') || url.startsWith('node:internal/tls')) return 'node: tls';
  if (url.startsWith('node:internal/timers') || url.startsWith('node:timers')) return 'node: timers';
  if (url.startsWith('node:internal/process/task_queues') || url.startsWith('node:internal/async_hooks')) return 'node: task queues';
  if (url.startsWith('node:')) return `node: ${url.replace(/^node:(internal\/)?/, '')}`;
  return url;
}

/**
 * Self time per function and per area, in % of non-idle samples. `window` (µs since the profile
 * started) keeps only the samples taken under the measured load (start-up and shutdown excluded).
 */
export function summarizeProfile(profile, top = TOP, window = undefined) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  let busy = 0;
  let idle = 0;
  const fns = new Map();
  const areas = new Map();
  for (const [id, us] of self) {
    const frame = byId.get(id).callFrame;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const file = frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/');
    const key = `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : '(native)'}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const pct = (us) => Math.round((us / busy) * 1000) / 10;
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    functions: sorted(fns).slice(0, top).map(([name, us]) => ({ name, selfPct: pct(us) })),
    areas: sorted(areas).slice(0, top).map(([name, us]) => ({ name, selfPct: pct(us) })),
  };
}

function renderMarkdown(title, s) {
  return [
    `# ${title}`,
    '',
    `${s.busyMs} ms busy, ${s.idleMs} ms idle in the profile; percentages are of busy (non-idle) self time.`,
    '',
    '| area | self % |',
    '|---|---|',
    ...s.areas.map((a) => `| ${a.name} | ${a.selfPct} |`),
    '',
    '| function | self % |',
    '|---|---|',
    ...s.functions.map((f) => `| \`${f.name}\` | ${f.selfPct} |`),
    '',
  ].join('\n');
}

async function profileScenario() {
  const scenarioId = process.env.SCENARIO ?? 'http-keepalive';
  const durationS = Number(process.env.DURATION_S ?? 8);
  const scenario = buildScenarios({ connections: Number(process.env.CONNECTIONS ?? 50) }).find((s) => s.id === scenarioId);
  if (!scenario || scenario.profile !== 'base') throw new Error(`SCENARIO must be a base-profile scenario id, got ${scenarioId}`);
  const work = mkdtempSync(join(os.tmpdir(), 'portico-profile-'));
  const profDir = join(work, 'prof');
  process.once('exit', killAllNow);
  const pin = os.availableParallelism() >= 2;
  const backend = await startBackend({ root, cpus: pin ? '0' : undefined });
  process.env.PORTICO_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profDir}`;
  const portico = await startPortico({ root, dir: join(work, 'portico'), profile: 'base', backendPort: backend.port, certs: join(root, 'certs'), cpus: pin ? '1' : undefined, extraArgs: ['--shutdown-grace-period', '0'] });
  const spec = {
    ...scenario.load,
    target: { port: scenario.tls ? portico.tlsPort : portico.port, tls: scenario.tls, servername: TLS_HOST, host: TLS_HOST },
    warmupS: 2,
    durationS,
    sample: { proxy: [portico.pid], backend: [backend.pid] },
  };
  const [cmd, argv] = pinnedCommand(pin ? '0' : undefined, process.execPath, [join(here, 'load-worker.js'), JSON.stringify(spec)]);
  // The profile starts with the process; keep the samples from the end of the warm-up to the end of
  // the measured run (wall-clock offsets; the worker's own start-up makes the window start late,
  // never early).
  const loadStart = performance.now();
  const out = await new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c) => (text += c));
    child.once('exit', () => resolve(text));
  });
  const loadEnd = performance.now();
  const load = JSON.parse(out.trim().split('\n').pop());
  // SIGTERM: Portico drains and exits, writing the profile (no grace period: stopAll's own grace is
  // 5 s, the controller's default 5 s grace would have it SIGKILLed before the profile is written).
  await stopAll();
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${profDir}`);
  const perReq = load.requests ? (load.proxyTicks / 100 / load.requests) * 1e6 : null;
  console.error(`profile: ${scenarioId}: ${load.requests} requests in ${load.seconds?.toFixed(1)} s (${Math.round(load.requests / load.seconds)}/s) under the profiler, ${perReq?.toFixed(1)} µs CPU/req (profiling adds overhead); ${join(profDir, file)}`);
  const fromUs = (loadStart - portico.spawnedAt + spec.warmupS * 1000) * 1000;
  const toUs = (loadEnd - portico.spawnedAt) * 1000;
  return { scenarioId, path: join(profDir, file), window: { fromUs, toUs }, load: { rps: load.requests / load.seconds, proxyUsPerReq: perReq, errors: load.errors, non2xx: load.non2xx } };
}

const arg = process.argv[2];
const run = arg ? { scenarioId: 'file', path: arg, load: undefined } : await profileScenario();
const summary = summarizeProfile(JSON.parse(readFileSync(run.path, 'utf8')), TOP, run.window);
const title = `Portico CPU profile: ${run.scenarioId}`;
const md = renderMarkdown(title, summary);
if (!arg) {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, `bench/results/profile-${run.scenarioId}.json`), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, profile: run.path, load: run.load, ...summary }, null, 2)}\n`);
  writeFileSync(join(root, `bench/results/profile-${run.scenarioId}.md`), md);
}
console.log(md);
