// Micro-benchmarks behind the hot-path notes in bench/README.md ("Changes made", "not changed"):
//
//   node bench/compare/hot-path-micro.js            (needs dist/: npm run build)
//
//   writeHead      ServerResponse.writeHead(status, array) after a setHeader() (Node's slow path:
//                  every header removeHeader + appendHeader) vs the header carried in the array
//   end-chunk      a bare http server answering 128 bytes with write()+end() vs end(chunk): server
//                  CPU µs per request under autocannon (pinned like the comparison when possible)
//   metrics        PorticoMetrics.observeRequest (prom-client counter + two histograms) per call
import { spawn } from 'node:child_process';
import { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PorticoMetrics } from '../../dist/metrics/metrics.js';
import { killAllNow, pinnedCommand, startProcess, stopAll } from './lib/procs.js';

const here = dirname(fileURLToPath(import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** ns per call of fn, median of 5 runs of n calls after a warm-up. */
function nsPerCall(fn, n) {
  for (let i = 0; i < n / 5; i++) fn(i);
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const u = process.cpuUsage(t);
    runs.push(((u.user + u.system) * 1000) / n);
  }
  return Math.round(median(runs));
}

function writeHead() {
  const HSTS = 'max-age=31536000; includeSubDomains';
  const upstream = ['content-type', 'application/octet-stream', 'content-length', '128', 'date', 'Sun, 23 Nov 2026 02:00:00 GMT', 'server', 'portico'];
  const req = new IncomingMessage(null);
  req.method = 'GET';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  const slow = () => {
    const res = new ServerResponse(req);
    res.setHeader('strict-transport-security', HSTS);
    res.writeHead(200, [...upstream]);
  };
  const fast = () => {
    const res = new ServerResponse(req);
    res.writeHead(200, [...upstream, 'strict-transport-security', HSTS]);
  };
  console.log(`writeHead: setHeader + writeHead(array) ${nsPerCall(slow, 300_000)} ns; HSTS in the array ${nsPerCall(fast, 300_000)} ns (ServerResponse construction included)`);
}

function metrics() {
  const m = new PorticoMetrics({ defaultMetrics: false });
  const match = { backend: { key: 'bench/echo/80', namespace: 'bench', service: 'echo', port: 80 }, ingress: 'bench/echo' };
  console.log(`metrics: observeRequest ${nsPerCall((i) => m.observeRequest(match, 200, 0.0012 + (i & 7) * 1e-4, 0.0009), 500_000)} ns per request`);
}

const SERVER = `
import { createServer } from 'node:http';
const body = Buffer.alloc(128, 'x');
const headers = ['content-type', 'application/octet-stream', 'content-length', '128', 'server', 'portico'];
const endChunk = process.argv[1] === 'end-chunk';
createServer((req, res) => {
  res.writeHead(200, headers);
  if (endChunk) res.end(body);
  else { res.write(body); res.end(); }
}).listen(0, '127.0.0.1', function () { console.log(JSON.stringify({ port: this.address().port })); });
`;

async function endChunk() {
  process.once('exit', killAllNow);
  const pin = os.availableParallelism() >= 2;
  const servers = {};
  for (const mode of ['write+end', 'end-chunk']) {
    servers[mode] = await startProcess({
      name: mode,
      command: process.execPath,
      args: ['--input-type=module', '-e', SERVER, mode],
      cpus: pin ? '1' : undefined,
      ready: (out) => {
        try {
          return { port: JSON.parse(out.split('\n')[0]).port };
        } catch {
          return undefined;
        }
      },
    });
  }
  const perReq = { 'write+end': [], 'end-chunk': [] };
  for (let r = 0; r < 8; r++) {
    for (const mode of r % 2 ? ['write+end', 'end-chunk'] : ['end-chunk', 'write+end']) {
      const s = servers[mode];
      const spec = { kind: 'autocannon', path: '/', connections: 50, target: { port: s.port, tls: false, host: 'x' }, warmupS: 1, durationS: 3, sample: { proxy: [s.pid], backend: [] } };
      const [cmd, argv] = pinnedCommand(pin ? '0' : undefined, process.execPath, [join(here, 'load-worker.js'), JSON.stringify(spec)]);
      const out = await new Promise((resolve) => {
        const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (c) => (text += c));
        child.once('exit', () => resolve(text));
      });
      const x = JSON.parse(out);
      perReq[mode].push(((x.proxyTicks / 100) * 1e6) / x.requests);
    }
  }
  await stopAll();
  console.log(`end-chunk: server CPU per request, median of 8: write()+end() ${median(perReq['write+end']).toFixed(2)} µs; end(chunk) ${median(perReq['end-chunk']).toFixed(2)} µs`);
}

writeHead();
metrics();
await endChunk();
