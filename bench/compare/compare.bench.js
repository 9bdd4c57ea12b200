// Portico beside nginx and HAProxy: the same scenarios, the same backend, the same machine, one run;
// wrk as the load generator wherever it can drive the scenario, CPU per request at saturation as the
// headline, runs that did not saturate the proxy flagged "generator-bound". See bench/README.md for what each scenario measures and how to read
// the numbers.
//
//   npm run bench:compare            (builds dist/ and certs/ first)
//   node bench/compare/compare.bench.js
//
// Env (defaults in brackets):
//   ROUNDS [3]  WARMUP_S [1]  DURATION_S [4]  CONNECTIONS [50]
//   PIN [1]         1: proxy on CPU 1, load generator + backend on CPU 0 (taskset); 0: unpinned
//   FIXED_RATE      req/s of the fixed-rate scenario (default: half the lowest proxy req/s of
//                   http-keepalive in the same run, rounded down to 500; 5,000 without it)
//   GENERATOR [wrk] wrk: wrk drives every scenario it can (falls back to load-worker.js when wrk is
//                   not installed); load-worker: the Node generators (autocannon …) for all
//   SCENARIOS       comma list of scenario ids (http-keepalive,https-keepalive,http-new-connection,
//                   http-fixed-rate,https-handshake,large-1mib,routing-10k,websocket); default all
//   TARGETS         comma list among portico-engine (the CLI's default data plane), portico (the
//                   CLI on --data-plane node), nginx, haproxy, direct; default all but portico
//   WORKERS [1]     >1 also runs nginx with N workers, HAProxy with N threads and Portico with
//                   `--workers N` (portico-Nw, portico-engine-Nw), unpinned, beside the 1-process
//                   targets (pinned to CPU 1); the generator and backend stay on CPU 0
//   PORTICO_NODE_ARGS  extra node flags for Portico (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
//   OUT [compare]   results file names: bench/results/$OUT.{json,md,svg}
//   BASELINE_DIST   a copy of an earlier dist/ (inside the repo tree, so node_modules resolves, e.g.
//                   node_modules/.cache/portico-baseline): adds the target "portico-baseline", run
//                   the same way, for before/after comparisons of hot-path changes
//   BASELINE_NODE_ARGS  node flags for portico-baseline instead of PORTICO_NODE_ARGS (A/B of a
//                   node flag: BASELINE_DIST a copy of the same dist/, the flag on one side only)
//   PORTICO_MALLOC_ARENA_MAX  MALLOC_ARENA_MAX for Portico (unset: the CLI's default, 2; glibc's own
//                   default is 8 per core, 16 here); BASELINE_MALLOC_ARENA_MAX the same for portico-baseline
//
// Needs wrk (apt-get install wrk), nginx (apt-get install nginx-light; also the backend),
// haproxy (apt-get install haproxy), taskset (util-linux) for pinning. A missing proxy is reported and left out; the rest still runs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreBusy, coreIrq, coreTicks, cpuTicks, killTree, waitIdle, machineTicks, pinnedCommand, hasCommand, killAllNow, machineLoad, repin, rssBytes, stopAll } from './lib/procs.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';
import { runH2load } from './lib/h2load.js';
import { renderMarkdown, renderSvg } from './lib/report.js';
import { buildScenarios } from './lib/scenarios.js';
import { addRatios, checkTargets, GENERATOR_BOUND, sampleOf, summarize, workersOf } from './lib/stats.js';
import { probe, startBackend, startHaproxy, startNginx, startNginxBackend, startPortico } from './lib/targets.js';
import { TLS_HOST } from './lib/configs.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const env = (name, fallback) => process.env[name] ?? fallback;
const ROUNDS = Number(env('ROUNDS', 3));
const WARMUP_S = Number(env('WARMUP_S', 1));
const DURATION_S = Number(env('DURATION_S', 4));
const CONNECTIONS = Number(env('CONNECTIONS', 50));
const PIN = env('PIN', '1') !== '0';
const WORKERS = Number(env('WORKERS', 1));
const OUT = env('OUT', 'compare');
const GENERATOR = env('GENERATOR', 'wrk');
const CPUS = { proxy: '1', client: '0' };
const certs = join(root, 'certs');

// ---------------------------------------------------------------------------------------------
// What is there, what is missing.
const missing = [];
const fatal = [];
if (!existsSync(join(root, 'dist/cmd/portico.js'))) fatal.push('dist/ is missing: run `npm run build`');
if (!existsSync(join(certs, `${TLS_HOST}.crt`))) fatal.push('certs/ is missing: run `node dist/cmd/portico.js certs`');
const haveNginx = hasCommand('nginx');
const haveHaproxy = hasCommand('haproxy');
if (!haveNginx) missing.push('nginx is not installed (apt-get install -y nginx-light): no nginx rows and no ratios to nginx');
if (!haveHaproxy) missing.push('haproxy is not installed (apt-get install -y haproxy): no HAProxy rows');
const haveWrk = hasCommand('wrk');
if (GENERATOR === 'wrk' && !haveWrk) missing.push('wrk is not installed (apt-get install -y wrk): every scenario uses the Node load generators (load-worker.js), which saturate before the proxies do');
if (!haveNginx) missing.push('no nginx backend: the echo backend (Node) serves every scenario and may be the bottleneck');
const useWrk = (scenario) => GENERATOR === 'wrk' && haveWrk && scenario.wrk !== undefined;
// HTTP/2: h2load (nghttp2-client), the only generator here that speaks it; without it the scenario is left out.
const haveH2load = hasCommand('h2load');
if (!haveH2load) missing.push('h2load is not installed (apt-get install -y nghttp2-client): no HTTP/2 scenario');
// Pinned: the load generator and the backend on CPU 0, a one-process proxy alone on CPU 1. The
// WORKERS > 1 targets are left unpinned (they may use every CPU, CPU 0 shared with the generator):
// the 1-vs-N comparison the 2-core box allows.
let pinned = PIN && os.availableParallelism() >= 2;
if (PIN && !hasCommand('taskset')) {
  missing.push('taskset is not installed (util-linux): running unpinned');
  pinned = false;
}
if (PIN && os.availableParallelism() < 2) missing.push('fewer than 2 CPUs: running unpinned');
for (const m of missing) console.error(`compare: ${m}`);
if (fatal.length) {
  for (const f of fatal) console.error(`compare: ${f}`);
  process.exit(1);
}

const versionOf = (cmd, args, re) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? null;
};
const versions = {
  node: process.version,
  nginx: haveNginx ? versionOf('nginx', ['-v'], /nginx\/(\S+)/) : null,
  haproxy: haveHaproxy ? versionOf('haproxy', ['-v'], /version (\S+)/) : null,
  autocannon: JSON.parse(readFileSync(join(root, 'node_modules/autocannon/package.json'), 'utf8')).version,
  wrk: haveWrk ? versionOf('wrk', ['-v'], /wrk (\S+)/) : null,
};

const wantedTargets = env('TARGETS', 'portico-engine,nginx,haproxy,direct').split(',');
const wantedScenarios = process.env.SCENARIOS?.split(',');
const scenarios = buildScenarios({ connections: CONNECTIONS }).filter((s) => (!wantedScenarios || wantedScenarios.includes(s.id)) && (s.h2load === undefined || haveH2load));
if (scenarios.length === 0) {
  console.error(`compare: no scenario matches SCENARIOS=${process.env.SCENARIOS}`);
  process.exit(2);
}

const work = mkdtempSync(join(os.tmpdir(), 'portico-compare-'));
process.once('exit', () => {
  killAllNow();
  rmSync(work, { recursive: true, force: true });
});
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const loadBefore = machineLoad();
console.error(
  `compare: load average ${loadBefore.one} ${loadBefore.five} ${loadBefore.fifteen} before start; ${scenarios.length} scenarios × ${ROUNDS} rounds × (${WARMUP_S} s warm-up + ${DURATION_S} s); ${pinned ? `pinned (proxy CPU ${CPUS.proxy}, client + backend CPU ${CPUS.client})` : 'unpinned'}`,
);
if (loadBefore.one > 1.5) console.error('compare: warning: the machine is already busy; numbers will be noisy (see the load average in the results)');

// ---------------------------------------------------------------------------------------------
// Targets per configuration profile.
// Two backends on the client's CPU: nginx `return 200` (never the bottleneck) for the HTTP
// scenarios, the Node echo backend for WebSocket (and for everything when nginx is missing).
const echoBackend = scenarios.some((s) => s.backend === 'echo' || !haveNginx) ? await startBackend({ root, cpus: pinned ? CPUS.client : undefined }) : null;
const nginxBackend = haveNginx && scenarios.some((s) => s.backend === 'nginx') ? await startNginxBackend({ dir: join(work, 'backend-nginx'), cpus: pinned ? CPUS.client : undefined }) : null;
const backendOf = (scenario) => (scenario.backend === 'nginx' && nginxBackend ? nginxBackend : echoBackend);
const backendName = (b) => (b === nginxBackend ? 'nginx (1 worker: `return 200`, 1 MiB from a file)' : 'echo (Node)');
const proxyCpus = pinned ? CPUS.proxy : undefined;

async function startProfile(profile, backend) {
  const dir = (name) => join(work, `${profile}-${backend === nginxBackend ? 'nginxbe' : 'echobe'}-${name}`);
  const common = { root, profile, backendPort: backend.port, certs };
  const list = [];
  // `portico` keeps measuring the node:http data plane (now --data-plane node); `portico-engine` the default engine.
  if (wantedTargets.includes('portico')) list.push(await startPortico({ ...common, dir: dir('portico'), cpus: proxyCpus, extraArgs: ['--data-plane', 'node'] }));
  // Portico's own HTTP/1.1 engine (issue 13, the default data plane).
  if (wantedTargets.includes('portico-engine')) list.push(await startPortico({ ...common, dir: dir('portico-engine'), cpus: proxyCpus, name: 'portico-engine', extraArgs: ['--data-plane', 'engine'] }));
  if (process.env.BASELINE_DIST) {
    list.push(await startPortico({ ...common, dir: dir('portico-baseline'), cpus: proxyCpus, name: 'portico-baseline', entry: join(process.env.BASELINE_DIST, 'cmd/portico.js'), nodeArgs: process.env.BASELINE_NODE_ARGS ?? process.env.PORTICO_NODE_ARGS, mallocArenaMax: process.env.BASELINE_MALLOC_ARENA_MAX ?? process.env.PORTICO_MALLOC_ARENA_MAX }));
  }
  if (haveNginx && wantedTargets.includes('nginx')) list.push(await startNginx({ ...common, dir: dir('nginx'), cpus: proxyCpus }));
  if (haveHaproxy && wantedTargets.includes('haproxy')) list.push(await startHaproxy({ ...common, dir: dir('haproxy'), cpus: proxyCpus }));
  if (WORKERS > 1) {
    if (wantedTargets.includes('portico')) list.push(await startPortico({ ...common, dir: dir(`portico-${WORKERS}w`), workers: WORKERS, name: `portico-${WORKERS}w`, extraArgs: ['--data-plane', 'node'] }));
    if (wantedTargets.includes('portico-engine')) {
      list.push(await startPortico({ ...common, dir: dir(`portico-engine-${WORKERS}w`), workers: WORKERS, name: `portico-engine-${WORKERS}w`, extraArgs: ['--data-plane', 'engine'] }));
    }
    if (haveNginx && wantedTargets.includes('nginx')) list.push(await startNginx({ ...common, dir: dir(`nginx-${WORKERS}w`), workers: WORKERS, name: `nginx-${WORKERS}w` }));
    if (haveHaproxy && wantedTargets.includes('haproxy')) list.push(await startHaproxy({ ...common, dir: dir(`haproxy-${WORKERS}t`), threads: WORKERS, name: `haproxy-${WORKERS}t` }));
  }
  return list;
}

async function stopTargets(list) {
  await Promise.all(
    list.map(
      (t) =>
        new Promise((resolve) => {
          if (t.child.exitCode !== null || t.child.signalCode !== null) return resolve();
          // SIGKILL the whole tree if it does not stop: a SIGKILLed nginx master leaves its workers.
          const tree = t.pids();
          const timer = setTimeout(() => killTree(tree), 10_000);
          t.child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          t.child.kill('SIGTERM');
        }),
    ),
  );
}

/** Runs one load in a (pinned) worker process; resolves with its JSON result. */
function runLoad(spec, cpus) {
  const [cmd, argv] = pinnedCommand(cpus, process.execPath, [join(here, 'load-worker.js'), JSON.stringify(spec)]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.once('exit', (code) => {
      try {
        const result = JSON.parse(out.trim().split('\n').pop());
        if (result.failed) reject(new Error(`load worker failed: ${result.failed}`));
        else resolve(result);
      } catch {
        reject(new Error(`load worker exited ${code} without a result: ${out}`));
      }
    });
  });
}

/**
 * The fixed-rate scenario's rate: FIXED_RATE, or half the lowest single-worker proxy req/s of the
 * HTTP keep-alive scenario in this run, rounded down to 500/s (at least 500), or 5,000/s.
 */
function fixedRateFor() {
  if (process.env.FIXED_RATE) return Number(process.env.FIXED_RATE);
  const ka = results.find((r) => r.id === 'http-keepalive');
  const rates = ka?.rows.filter((r) => r.target !== 'direct' && workersOf(r.target) === 1 && r.rps).map((r) => r.rps) ?? [];
  if (rates.length === 0) return 5000;
  return Math.max(500, Math.floor((Math.min(...rates) * 0.5) / 500) * 500);
}

const isSingleProcessTarget = (t) => ['portico', 'portico-engine', 'portico-baseline', 'nginx', 'haproxy'].includes(t.name);

/**
 * One wrk run (warm-up, discarded, then the measured run) with the same CPU bookkeeping as
 * load-worker.js: proxy tree and backend ticks from /proc/<pid>/stat and per-CPU busy time from
 * /proc/stat right around the measured run; wrk's own CPU from its parent shell's cutime/cstime.
 */
async function runWrkLoad(scenario, target, backend, cpus, others) {
  const w = scenario.wrk;
  const port = scenario.tls ? target.tlsPort : target.port;
  const url = `${scenario.tls ? 'https' : 'http'}://127.0.0.1:${port}${w.path ?? '/'}`;
  const headers = [...(w.requests ? [] : [`Host: ${TLS_HOST}`]), ...(w.headers ?? [])];
  const script = wrkScripts.get(scenario.id);
  const run = (durationS) => runWrk({ url, connections: w.connections, durationS, headers, script, cpus });
  return measuredRun('wrk', run, target.name === 'direct' ? [] : target.pids(), backend, others);
}

/** One h2load run (warm-up, discarded, then measured), the CPU bookkeeping as runWrkLoad's. */
async function runH2loadLoad(scenario, target, backend, cpus, others) {
  const h = scenario.h2load;
  const url = `https://127.0.0.1:${target.tlsPort}${h.path}`;
  const run = (durationS) => runH2load({ url, connections: h.connections, streams: h.streams, durationS, headers: [`:authority: ${TLS_HOST}`], cpus });
  return measuredRun('h2load', run, target.pids(), backend, others);
}

/** A generator's warm-up, then its measured run with the proxy, backend, other proxies' and per-CPU ticks taken right around it. */
async function measuredRun(generator, run, proxyPids, backend, others) {
  await run(WARMUP_S);
  const snap = () => ({ proxy: cpuTicks(proxyPids), backend: cpuTicks(backend.pids()), others: cpuTicks(others), machine: machineTicks(), cores: coreTicks() });
  const before = snap();
  const r = await run(DURATION_S);
  const after = snap();
  return {
    ...r,
    generator,
    // CPU is counted over the whole generator process lifetime (start-up included), so cores are per that window.
    cpuWindowSeconds: r.wallSeconds,
    proxyTicks: after.proxy - before.proxy,
    backendTicks: after.backend - before.backend,
    othersTicks: after.others - before.others,
    clientCpuSeconds: r.wrkCpuSeconds,
    machineBusy: 1 - (after.machine.idle - before.machine.idle) / Math.max(1, after.machine.total - before.machine.total),
    coreBusy: coreBusy(before.cores, after.cores),
    coreIrq: coreIrq(before.cores, after.cores),
  };
}

async function measure(scenario, target, roundIndex, allTargets) {
  const isDirect = target.name === 'direct';
  // The other proxies share this proxy's CPU: wait until the previous one is idle, and count what
  // they still use during the run.
  const others = allTargets.filter((t) => t !== target && t.name !== 'direct').flatMap((t) => t.pids());
  const settleMs = await waitIdle(others);
  const backend = backendOf(scenario);
  const tls = scenario.tls;
  const port = tls ? target.tlsPort : target.port;
  const spec = {
    ...scenario.load,
    target: { port, tls, servername: TLS_HOST, host: TLS_HOST },
    warmupS: WARMUP_S,
    durationS: DURATION_S,
    sample: { proxy: isDirect ? [] : target.pids(), backend: backend.pids(), others },
    ...(scenario.fixedRate && { rate: fixedRateFor() }),
  };
  let cpus;
  if (pinned) {
    if (isDirect) {
      // Without a proxy the client and the backend get both CPUs, as the proxied runs use both.
      repin(backend.pids(), `${CPUS.client},${CPUS.proxy}`);
    } else {
      cpus = CPUS.client;
    }
  }
  try {
    const raw = scenario.h2load !== undefined ? await runH2loadLoad(scenario, target, backend, cpus, others) : useWrk(scenario) ? await runWrkLoad(scenario, target, backend, cpus, others) : { generator: scenario.load.kind === 'websocket' ? 'load-worker (ws)' : `load-worker (${scenario.load.kind})`, ...(await runLoad(spec, cpus)) };
    raw.settleMs = settleMs;
    return sampleOf(raw, { round: roundIndex, rssBytes: isDirect ? 0 : rssBytes(target.pids()), isDirect, workers: workersOf(target.name), proxyCpu: pinned && isSingleProcessTarget(target) ? CPUS.proxy : undefined, offeredRate: scenario.fixedRate ? spec.rate : undefined });
  } finally {
    if (pinned && isDirect) repin(backend.pids(), CPUS.client);
  }
}

const fmtPct = (x) => (x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`);
const fmt1 = (x) => (x === null || x === undefined ? '–' : x.toFixed(x < 10 ? 2 : 1));
const wrkScripts = new Map(scenarios.filter((s) => s.wrk).map((s) => [s.id, writeWrkScript(work, s.id, s.wrk)]));
const startedAt = Date.now();
const results = [];
// One proxy configuration per (profile, backend): the WebSocket scenario forwards to the echo backend.
const groups = [...new Map(scenarios.map((s) => [`${s.profile}/${backendOf(s) === nginxBackend ? 'nginx' : 'echo'}`, { profile: s.profile, backend: backendOf(s) }])).entries()];
for (const [key, { profile, backend }] of groups) {
  console.error(`compare: starting the ${profile} configuration (backend: ${backendName(backend)})…`);
  const proxies = await startProfile(profile, backend);
  try {
    for (const scenario of scenarios.filter((s) => `${s.profile}/${backendOf(s) === nginxBackend ? 'nginx' : 'echo'}` === key)) {
      // HTTP/2 only where the target serves it (not the node data plane, nor an older dist).
      const targets = [...proxies.filter((t) => (!scenario.tls || t.tlsPort !== undefined) && (scenario.h2load === undefined || !['portico', 'portico-baseline'].includes(t.name)))];
      if (scenario.direct && wantedTargets.includes('direct')) targets.push(backend);
      // Sanity: every target answers 200 before anything is measured.
      for (const t of targets) {
        const path = scenario.load.requests?.[0].path ?? (scenario.load.kind === 'websocket' ? '/' : scenario.load.path);
        const host = scenario.load.requests?.[0].host ?? TLS_HOST;
        // A few tries: on a shared box a stall of several seconds happens.
        let status;
        for (let attempt = 1; ; attempt++) {
          try {
            status = await probe({ port: scenario.tls ? t.tlsPort : t.port, tls: scenario.tls, host, servername: TLS_HOST, path });
            break;
          } catch (err) {
            if (attempt === 3) throw new Error(`${scenario.id}: ${t.name} did not answer the sanity request ${host}${path}: ${err.message}`);
            console.error(`compare: ${scenario.id}: ${t.name}: sanity request failed (${err.message}), retrying`);
          }
        }
        if (status !== 200) throw new Error(`${scenario.id}: ${t.name} answered ${status} to the sanity request ${host}${path}`);
      }
      const samples = Object.fromEntries(targets.map((t) => [t.name, []]));
      for (let r = 0; r < ROUNDS; r++) {
        const order = targets.map((_, i) => targets[(i + r) % targets.length]);
        for (const t of order) {
          const s = await measure(scenario, t, r, targets);
          samples[t.name].push(s);
          console.error(
            `${scenario.id.padEnd(20)} round ${r + 1}/${ROUNDS} ${t.name.padEnd(12)} ${Math.round(s.rps).toString().padStart(6)}/s  p50 ${fmt1(s.p50)} p99 ${fmt1(s.p99)} p99.9 ${fmt1(s.p999)} ms` +
              (t.name === 'direct' ? '' : `  proxy ${s.proxyUsPerReq?.toFixed(1)} µs/req ${s.proxyCores.toFixed(2)} cores  RSS ${s.rssMB.toFixed(0)} MB`) +
              `  ${s.generator} ${s.clientCores?.toFixed(2) ?? '–'} cores  backend ${s.backendCores.toFixed(2)} cores  CPU0/1 busy ${fmtPct(s.coreBusy?.[CPUS.client])}/${fmtPct(s.coreBusy?.[CPUS.proxy])} (CPU1 irq ${fmtPct(s.coreIrq?.[CPUS.proxy])}, other proxies ${s.othersCores.toFixed(2)})` +
              `  errors ${s.errors}/${s.non2xx}${s.errorSamples ? ` ${s.errorSamples.join(',')}` : ''}${s.generatorBound ? `  GENERATOR-BOUND (${s.generatorBoundWhy.join('; ')})` : ''}`,
          );
        }
      }
      const rows = addRatios(targets.map((t) => summarize(t.name, samples[t.name])));
      const generator = scenario.h2load !== undefined ? 'h2load' : useWrk(scenario) ? 'wrk' : scenario.load.kind === 'websocket' ? 'load-worker (ws)' : `load-worker (${scenario.load.kind})`;
      const load = scenario.h2load !== undefined ? scenario.h2load : useWrk(scenario) ? { ...scenario.wrk, requests: scenario.wrk.requests ? `${scenario.wrk.requests.length} (host, path) pairs` : undefined } : { ...scenario.load, requests: scenario.load.requests ? `${scenario.load.requests.length} (host, path) pairs` : undefined };
      if (scenario.fixedRate) load.rate = fixedRateFor();
      results.push({ id: scenario.id, title: scenario.title, short: scenario.short, description: scenario.description, unit: scenario.unit, showMBps: scenario.showMBps, generator, backend: backendName(backend), load, rows, samples });
    }
  } finally {
    await stopTargets(proxies);
  }
}
await stopAll();

// ---------------------------------------------------------------------------------------------
// Results.
const result = {
  benchmark: 'compare',
  date: new Date().toISOString(),
  versions,
  machine: { cpus: os.availableParallelism(), loadBefore, loadAfter: machineLoad(), kernel: os.release() },
  method: { rounds: ROUNDS, warmupS: WARMUP_S, durationS: DURATION_S, connections: CONNECTIONS, pinned, cpus: CPUS, workers: WORKERS, order: 'rotating', generator: GENERATOR, generatorBound: GENERATOR_BOUND, porticoMallocArenaMax: process.env.PORTICO_MALLOC_ARENA_MAX ?? null },
  missing,
  totalSeconds: (Date.now() - startedAt) / 1000,
  targets: checkTargets(results),
  scenarios: results,
};
const outDir = join(root, 'bench/results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, `${OUT}.json`), `${JSON.stringify(result, null, 2)}\n`);
const md = renderMarkdown(result);
writeFileSync(join(outDir, `${OUT}.md`), md);
writeFileSync(join(outDir, `${OUT}.svg`), renderSvg(result));
console.log(md);
console.error(`compare: wrote bench/results/${OUT}.json, .md, .svg in ${Math.round(result.totalSeconds)} s`);
