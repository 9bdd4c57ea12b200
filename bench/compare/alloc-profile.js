// Allocation profile of the engine's hot path: what the JavaScript allocates per request (V8's
// sampling heap profiler, counting objects already collected too — the garbage is what costs
// scavenges), with the real CLI pinned alone on CPU 1 and wrk + the nginx `return 200` backend on
// CPU 0, as bench/compare runs them.
//
//   npm run build && node bench/compare/alloc-profile.js
//
// Env: DURATION_S [5] (sampled), CONNECTIONS [50], TOP [30], INTERVAL [1024] (bytes between samples).
// Writes bench/results/alloc-profile-http-keepalive.{json,md}. Needs wrk and nginx (the backend).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { renderPorticoManifests, TLS_HOST, writeConfig } from './lib/configs.js';
import { freePort, killAllNow, pinnedCommand, startProcess, stopAll } from './lib/procs.js';
import { startNginxBackend } from './lib/targets.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DURATION_S = Number(process.env.DURATION_S ?? 5);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const TOP = Number(process.env.TOP ?? 30);
const INTERVAL = Number(process.env.INTERVAL ?? 1024);
const pin = os.availableParallelism() >= 2;

/** A Chrome DevTools Protocol session over the inspector's WebSocket. */
async function inspector(port) {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const pending = new Map();
  ws.on('message', (text) => {
    const msg = JSON.parse(text);
    pending.get(msg.id)?.(msg);
    pending.delete(msg.id);
  });
  return {
    call: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const i = ++id;
        pending.set(i, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
        ws.send(JSON.stringify({ id: i, method, params }));
      }),
    close: () => ws.close(),
  };
}

function wrk(port, seconds) {
  const [cmd, args] = pinnedCommand(pin ? '0' : undefined, 'wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '-H', `Host: ${TLS_HOST}`, `http://127.0.0.1:${port}/bytes/128`]);
  const out = spawnSync(cmd, args, { encoding: 'utf8' });
  const requests = /(\d+) requests in/.exec(out.stdout ?? '');
  if (!requests) throw new Error(`wrk: ${out.stderr || out.stdout}`);
  return Number(requests[1]);
}

/** Self bytes per function (name, file, line), summed over the sampled call tree. */
function bySite(node, into = new Map()) {
  const f = node.callFrame;
  const file = f.url.replace(/^.*\/(dist\/)/, '$1').replace(/^node:internal\//, 'node:');
  const site = `${f.functionName || '(anonymous)'} ${file || '(native)'}${file ? `:${f.lineNumber + 1}` : ''}`;
  into.set(site, (into.get(site) ?? 0) + node.selfSize);
  for (const child of node.children) bySite(child, into);
  return into;
}

process.once('exit', killAllNow);
const work = mkdtempSync(join(os.tmpdir(), 'portico-alloc-'));
const backend = await startNginxBackend({ dir: join(work, 'backend'), cpus: pin ? '0' : undefined });
const manifests = join(work, 'manifests');
writeConfig(manifests, 'bench.json', renderPorticoManifests({ profile: 'base', backendPort: backend.port, certs: join(root, 'certs') }));
const [httpPort, httpsPort, inspectPort] = [await freePort(), await freePort(), await freePort()];
await startProcess({
  name: 'portico',
  command: process.execPath,
  args: [`--inspect=127.0.0.1:${inspectPort}`, 'dist/cmd/portico.js', 'controller', '--workers', '1', '--manifests', manifests, '--http-port', String(httpPort), '--https-port', String(httpsPort), '--admin-port', '0', '--bind-address', '127.0.0.1', '--disable-access-log', '--default-ssl-certificate', 'bench/web-tls'],
  cpus: pin ? '1' : undefined,
  cwd: root,
  ready: (out) => (out.includes('portico serving') ? {} : undefined),
});
const session = await inspector(inspectPort);
wrk(httpPort, 2); // warm-up: JIT, pools, connections
await session.call('HeapProfiler.enable');
await session.call('HeapProfiler.startSampling', { samplingInterval: INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const requests = wrk(httpPort, DURATION_S);
const { profile } = await session.call('HeapProfiler.stopSampling');
session.close();
await stopAll();

const sites = [...bySite(profile.head)].sort((a, b) => b[1] - a[1]);
const total = sites.reduce((sum, [, bytes]) => sum + bytes, 0);
const perRequest = total / requests;
const top = sites.slice(0, TOP).map(([site, bytes]) => ({ site, bytesPerRequest: Math.round(bytes / requests), pct: Math.round((1000 * bytes) / total) / 10 }));
const result = { date: new Date().toISOString(), node: process.version, scenario: 'http-keepalive', connections: CONNECTIONS, durationS: DURATION_S, samplingIntervalBytes: INTERVAL, requests, bytesPerRequest: Math.round(perRequest), top };
const md = [
  '# Engine allocations per request: HTTP keep-alive',
  '',
  `${result.date} · Node ${result.node} · wrk ${CONNECTIONS} connections, GET /bytes/128 · ${requests} requests sampled over ${DURATION_S} s (V8 sampling heap profiler, every ${INTERVAL} bytes, collected objects included).`,
  '',
  `**${result.bytesPerRequest} bytes of JavaScript heap allocated per request**, by allocating function (self):`,
  '',
  '| function | bytes / request | % |',
  '|---|---|---|',
  ...top.map((t) => `| \`${t.site}\` | ${t.bytesPerRequest} | ${t.pct} |`),
  '',
].join('\n');
const out = join(root, 'bench/results/alloc-profile-http-keepalive');
writeFileSync(`${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${out}.md`, md);
console.log(md);
console.log(`alloc-profile: wrote ${out}.{json,md}`);
process.exit(0);
