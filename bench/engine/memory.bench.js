// Memory of the engine data plane (issue 13): the real CLI (`portico controller --data-plane engine`,
// access log off, as bench/compare runs it) in front of an nginx `return 200` backend. Prints RSS
// (/proc), V8 heap used/total and external memory (the admin port's /metrics) over time through:
//   1. idle, after a few requests;
//   2. MALFORMED (default 100k) malformed requests on fresh connections, 64 at a time (CL+TE, double
//      CL, bad chunk sizes, obs-fold, NUL in a value, bad Host, oversize heads, a valid request
//      pipelined before an invalid one);
//   3. a keep-alive wrk load, 50 connections, SECONDS (default 20) seconds (bench/compare's shape).
// With SNAPSHOTS=1, a heap snapshot after each phase (--heapsnapshot-signal) and the constructors
// whose retained count/size grew most between them. PORTICO_NODE_ARGS adds node flags (the CLI
// adds `--max-semi-space-size=4` itself when none is given: `--max-semi-space-size=16` is Node's default) to compare. The backend and wrk on core 0, Portico on core 1.
//
//   npm run build && node dist/cmd/portico.js certs && node bench/engine/memory.bench.js
//
// Needs nginx (nginx-light), wrk, taskset. Writes bench/results/engine-memory.json (RESULT=name to change).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderPorticoManifests, TLS_HOST, writeConfig } from '../compare/lib/configs.js';
import { freePort, startProcess, stopAll } from '../compare/lib/procs.js';
import { startNginxBackend } from '../compare/lib/targets.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MALFORMED = Number(process.env.MALFORMED ?? 100_000);
const SECONDS = Number(process.env.SECONDS ?? 20);
const SNAPSHOTS = process.env.SNAPSHOTS === '1';
const RESULT = process.env.RESULT ?? 'engine-memory';
const dir = mkdtempSync(join(tmpdir(), 'engine-memory-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const H = `Host: ${TLS_HOST}\r\n`;
const MALFORMED_CASES = [
  `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: a\r\n folded\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`,
  'GET / HTTP/1.1\r\nHost: probe test/<"x">\r\n\r\n',
  `GET / HTTP/1.1\r\n${H}${'X-Big: y\r\n'.repeat(1800)}\r\n`,
  `GET /first HTTP/1.1\r\n${H}\r\nPOST / HTTP/1.1\r\n${H}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
].map((s) => Buffer.from(s, 'latin1'));

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : 0;
}

async function scrape(adminPort) {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const value = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  const mb = (v) => Math.round(v / 104857.6) / 10;
  return { heapUsedMb: mb(value('nodejs_heap_size_used_bytes')), heapTotalMb: mb(value('nodejs_heap_size_total_bytes')), externalMb: mb(value('nodejs_external_memory_bytes')) };
}

async function sample(label, pid, adminPort, samples) {
  const s = { label, t: Math.round(performance.now() / 100) / 10, rssMb: rssMb(pid), ...(await scrape(adminPort)) };
  samples.push(s);
  console.log(`${label.padEnd(22)} RSS ${String(s.rssMb).padStart(6)} MB  heap ${s.heapUsedMb}/${s.heapTotalMb} MB  external ${s.externalMb} MB`);
  return s;
}

/** One malformed request on a fresh connection; resolves when Portico closes it. */
function malformed(port, raw) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', () => undefined);
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.end(raw);
  });
}

async function flood(port, total, concurrency = 64) {
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      await malformed(port, MALFORMED_CASES[i % MALFORMED_CASES.length]);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

async function snapshot(pid, label) {
  if (!SNAPSHOTS) return undefined;
  const before = new Set(readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(200);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file === undefined) continue;
    const size = statSync(join(dir, file)).size;
    await sleep(500);
    if (statSync(join(dir, file)).size === size && size > 0) {
      try {
        return { label, summary: summarise(JSON.parse(readFileSync(join(dir, file), 'utf8'))) };
      } catch {
        // still being written
      }
    }
  }
  throw new Error(`no heap snapshot for ${label}`);
}

/** Heap snapshot → Map(type:name → {count, size}) over every node (self sizes). */
function summarise(snap) {
  const { node_fields: fields, node_types: [types] } = snap.snapshot.meta;
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    const name = type === 'object' || type === 'closure' || type === 'native' ? snap.strings[nodes[i + nameAt]] : '';
    const key = `${type}:${name}`;
    const entry = out.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += nodes[i + sizeAt];
    out.set(key, entry);
  }
  return out;
}

function growth(a, b, top = 12) {
  const rows = [];
  for (const [key, { count, size }] of b.summary) {
    const was = a.summary.get(key) ?? { count: 0, size: 0 };
    rows.push({ key: key.slice(0, 60), count: count - was.count, kB: Math.round((size - was.size) / 1024) });
  }
  rows.sort((x, y) => y.kB - x.kB);
  console.log(`\nheap growth ${a.label} → ${b.label} (self sizes, top ${top})`);
  console.table(rows.slice(0, top));
  return rows.slice(0, top);
}

/** wrk on core 0 (asynchronously: this process samples meanwhile); resolves with its output. */
function wrk(port, seconds) {
  return new Promise((resolve) => {
    const child = spawn('taskset', ['-c', '0', 'wrk', '-t2', '-c50', `-d${seconds}s`, '-H', `Host: ${TLS_HOST}`, `http://127.0.0.1:${port}/`]);
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', () => resolve({ stdout }));
  });
}

async function main() {
  spawnSync('mkdir', ['-p', join(dir, 'backend')]);
  const backend = await startNginxBackend({ dir: join(dir, 'backend'), cpus: '0' });
  const manifests = join(dir, 'manifests');
  writeConfig(manifests, 'bench.json', renderPorticoManifests({ profile: 'base', backendPort: backend.port, certs: join(ROOT, 'certs') }));
  const [port, tlsPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const nodeArgs = process.env.PORTICO_NODE_ARGS ? process.env.PORTICO_NODE_ARGS.split(' ') : [];
  const portico = await startProcess({
    name: 'portico',
    command: process.execPath,
    args: [...nodeArgs, `--diagnostic-dir=${dir}`, '--heapsnapshot-signal=SIGUSR2', 'dist/cmd/portico.js', 'controller', '--manifests', manifests, '--data-plane', 'engine', '--http-port', String(port), '--https-port', String(tlsPort), '--admin-port', String(adminPort), '--bind-address', '127.0.0.1', '--disable-access-log', '--default-ssl-certificate', 'bench/web-tls'],
    cpus: '1',
    cwd: ROOT,
    ready: (out) => (out.includes('portico serving') ? {} : undefined),
  });
  const pid = portico.pid;
  const samples = [];
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { host: TLS_HOST } }).catch(() => undefined);
    if (r?.status === 200) break;
    await sleep(100);
  }
  for (let i = 0; i < 200; i++) await (await fetch(`http://127.0.0.1:${port}/`, { headers: { host: TLS_HOST } })).arrayBuffer();
  await sleep(1000);
  const idle = await sample('idle', pid, adminPort, samples);
  const snaps = [await snapshot(pid, 'idle')];

  const floodStart = performance.now();
  const floodDone = flood(port, MALFORMED);
  let finished = false;
  void floodDone.then(() => (finished = true));
  while (!finished) {
    await sleep(2000);
    await sample('malformed flood', pid, adminPort, samples);
  }
  const floodSeconds = (performance.now() - floodStart) / 1000;
  await sleep(2000);
  const afterFlood = await sample(`after ${MALFORMED / 1000}k malformed`, pid, adminPort, samples);
  snaps.push(await snapshot(pid, 'after malformed'));

  const load = wrk(port, SECONDS);
  let loadDone = false;
  void load.then(() => (loadDone = true));
  const underLoad = [];
  while (!loadDone) {
    await sleep(1000);
    if (!loadDone) underLoad.push(await sample('keep-alive load', pid, adminPort, samples));
  }
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec((await load).stdout)?.[1]);
  await sleep(2000);
  const afterLoad = await sample('after load', pid, adminPort, samples);
  snaps.push(await snapshot(pid, 'after load'));
  const growths = SNAPSHOTS ? { malformed: growth(snaps[0], snaps[1]), load: growth(snaps[0], snaps[2]) } : undefined;
  const peakUnderLoad = Math.max(...underLoad.map((s) => s.rssMb));
  const summary = { idleRssMb: idle.rssMb, afterMalformedRssMb: afterFlood.rssMb, malformedPerSecond: Math.round(MALFORMED / floodSeconds), peakRssUnderLoadMb: peakUnderLoad, afterLoadRssMb: afterLoad.rssMb, loadRps: rps };
  console.log('\nsummary', summary);
  writeFileSync(join(ROOT, 'bench', 'results', `${RESULT}.json`), `${JSON.stringify({ node: process.version, date: new Date().toISOString(), nodeArgs, malformed: MALFORMED, seconds: SECONDS, summary, samples, heapGrowth: growths }, null, 2)}\n`);
}

try {
  await main();
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
