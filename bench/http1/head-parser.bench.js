// Cost of parsing a typical ~300-byte GET head with src/http1 (built into dist/), beside Node's own
// llhttp parser (the internal HTTPParser that node:http uses, via _http_common), in one process:
// ns per head and bytes allocated per head. A measurement, not a timed test.
//
//   npm run build && node bench/http1/head-parser.bench.js        (BENCH_ITER=1000000)
//
// Allocation is measured as V8 heap growth over ALLOC_ITER heads with a young generation large
// enough that no scavenge runs meanwhile (the script re-runs itself with --expose-gc and
// --max-semi-space-size=256). Writes bench/results/http1-head-parser.json.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChunkedTracker, RequestHeadParser, serializeRequestHead } from '../../dist/http1/index.js';

if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256', fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const require = createRequire(import.meta.url);
const { HTTPParser } = require('_http_common');
const ITER = Number(process.env.BENCH_ITER ?? 1_000_000);
const ALLOC_ITER = 20_000;

const HEAD = Buffer.from(
  'GET /api/v1/products/12345?include=reviews&sort=desc HTTP/1.1\r\n' +
    'Host: shop.example.com\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n' +
    'Accept: application/json, text/plain, */*\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    'Connection: keep-alive\r\n\r\n',
);
const CHUNKED = Buffer.from('400\r\n' + 'x'.repeat(1024) + '\r\n0\r\n\r\n');

let sink = 0;
const TABLE = new Uint8Array(256).fill(1);
const cases = {
  // The floor for any JS parser on this machine: one table lookup per head byte, nothing else.
  'calibration: one table lookup per head byte': () => () => {
    for (let i = 0; i < HEAD.length; i++) if (TABLE[HEAD[i]] !== 1) sink++;
  },
  // Parse only: method, target, host strings; fields stay offsets.
  'http1 RequestHeadParser (offsets)': () => {
    const p = new RequestHeadParser();
    return () => {
      p.reset();
      sink += p.feed(HEAD);
      sink += p.head.host.length;
    };
  },
  // Parse + every name and value as a string (what llhttp hands to JS).
  'http1 RequestHeadParser + all field strings': () => {
    const p = new RequestHeadParser();
    return () => {
      p.reset();
      sink += p.feed(HEAD);
      const h = p.head;
      for (let i = 0, n = h.fieldCount; i < n; i++) sink += h.name(i).length + h.value(i).length;
    };
  },
  'http1 parse + serializeRequestHead': () => {
    const p = new RequestHeadParser();
    return () => {
      p.reset();
      p.feed(HEAD);
      sink += serializeRequestHead(p.head, { extra: 'X-Forwarded-For: 10.0.0.1\r\n' }).length;
    };
  },
  'http1 split in two chunks (accumulated)': () => {
    const p = new RequestHeadParser();
    const a = HEAD.subarray(0, 150);
    const b = HEAD.subarray(150);
    return () => {
      p.reset();
      p.feed(a);
      sink += p.feed(b);
    };
  },
  // llhttp through the binding node:http uses: headers arrive as a JS array of strings.
  'llhttp (node:http internal HTTPParser)': () => {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {});
    parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url) => {
      sink += headers.length + url.length;
      return 0;
    };
    parser[HTTPParser.kOnMessageComplete] = () => {};
    parser[HTTPParser.kOnHeaders] = () => {};
    parser[HTTPParser.kOnBody] = () => {};
    parser[HTTPParser.kOnExecute] = () => {};
    return () => {
      sink += parser.execute(HEAD);
    };
  },
  'http1 ChunkedTracker, 1 KiB chunked body': () => {
    const t = new ChunkedTracker();
    return () => {
      t.reset();
      sink += t.feed(CHUNKED);
    };
  },
};

function measure(make) {
  const fn = make();
  for (let i = 0; i < 50_000; i++) fn(); // warm up (JIT)
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITER; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / ITER;
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < ALLOC_ITER; i++) fn();
  const bytes = (process.memoryUsage().heapUsed - before) / ALLOC_ITER;
  return { nsPerOp: Math.round(ns), bytesPerOp: Math.round(bytes) };
}

const results = {};
for (const round of [1, 2, 3]) {
  for (const [name, make] of Object.entries(cases)) {
    const r = measure(make);
    (results[name] ??= []).push(r);
    if (round === 3) {
      const ns = results[name].map((x) => x.nsPerOp).sort((x, y) => x - y)[1];
      const bytes = results[name].map((x) => x.bytesPerOp).sort((x, y) => x - y)[1];
      console.log(`${name.padEnd(48)} ${String(ns).padStart(6)} ns/op  ${String(bytes).padStart(6)} B/op`);
    }
  }
}
const summary = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, {
  nsPerOp: v.map((x) => x.nsPerOp).sort((x, y) => x - y)[1],
  bytesPerOp: v.map((x) => x.bytesPerOp).sort((x, y) => x - y)[1],
}]));
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'http1-head-parser.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ node: process.version, loadavg: loadavg().map((l) => Math.round(l * 100) / 100), headBytes: HEAD.length, iterations: ITER, results: summary }, null, 2)}\n`);
console.log(`head ${HEAD.length} bytes; medians of 3 rounds; load average ${loadavg()[0].toFixed(2)} (compare rows with each other, not across machines); wrote ${out}${sink === 0.5 ? '' : ''}`);
