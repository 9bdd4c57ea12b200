// Which DNS wire-format library portico dns uses: decode + encode rate of a typical query and
// answer, and what each does on malformed packets (throws = we can answer FORMERR; returns garbage
// or hangs = unusable). Candidates: dns-packet (mafintosh, the one mdns/multicast-dns use) and its
// fork @leichtgewicht/dns-packet.
//
//   node bench/dns/codec.bench.js            (BENCH_ITER=200000)
//
// Writes bench/results/dns-codec.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const ITER = Number(process.env.BENCH_ITER ?? 200_000);

const libs = {
  'dns-packet': require('dns-packet'),
  '@leichtgewicht/dns-packet': await import('@leichtgewicht/dns-packet'),
};

const query = { type: 'query', id: 4242, flags: 256, questions: [{ type: 'A', class: 'IN', name: 'web.default.svc.cluster.local' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 }] };
const answer = {
  type: 'response', id: 4242, flags: 0x8500,
  questions: [{ type: 'A', class: 'IN', name: 'web.default.svc.cluster.local' }],
  answers: [1, 2, 3].map((i) => ({ type: 'A', class: 'IN', name: 'web.default.svc.cluster.local', ttl: 5, data: `10.244.0.${i}` })),
};

// Malformed inputs: [name, bytes].
function header(qd, an = 0, ns = 0, ar = 0) {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(1, 0); b.writeUInt16BE(0x0100, 2); b.writeUInt16BE(qd, 4); b.writeUInt16BE(an, 6); b.writeUInt16BE(ns, 8); b.writeUInt16BE(ar, 10);
  return b;
}
const good = libs['dns-packet'].encode(query);
const malformed = [
  ['empty', Buffer.alloc(0)],
  ['5 bytes', good.subarray(0, 5)],
  ['truncated question', good.subarray(0, 20)],
  ['pointer to itself', Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])],
  ['pointer loop (a→b→a)', Buffer.concat([header(1), Buffer.from([0xc0, 14, 0xc0, 12, 0, 1, 0, 1])])],
  ['label past end', Buffer.concat([header(1), Buffer.from([63, 0x61, 0x61])])],
  ['qdcount 65535, one question', Buffer.concat([header(65535), good.subarray(12)])],
  ['ancount 65535, no answers', Buffer.concat([header(1, 65535), good.subarray(12)])],
  ['name longer than 255', Buffer.concat([header(1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])])],
];

const result = { iterations: ITER, node: process.version, libraries: {} };
for (const [name, lib] of Object.entries(libs)) {
  const q = lib.encode(query);
  const a = lib.encode(answer);
  for (let i = 0; i < 10_000; i++) { lib.decode(q); lib.encode(answer); }
  let t = process.hrtime.bigint();
  for (let i = 0; i < ITER; i++) lib.decode(q);
  const decodeQ = ITER / (Number(process.hrtime.bigint() - t) / 1e9);
  t = process.hrtime.bigint();
  for (let i = 0; i < ITER; i++) lib.encode(answer);
  const encodeA = ITER / (Number(process.hrtime.bigint() - t) / 1e9);
  t = process.hrtime.bigint();
  for (let i = 0; i < ITER; i++) lib.decode(a);
  const decodeA = ITER / (Number(process.hrtime.bigint() - t) / 1e9);
  const behaviour = {};
  for (const [label, bytes] of malformed) {
    try {
      const d = lib.decode(bytes);
      behaviour[label] = `decoded (${d.questions?.length ?? '?'} questions${d.questions?.[0] ? `, name ${JSON.stringify(String(d.questions[0].name).slice(0, 24))}` : ''})`;
    } catch (error) {
      behaviour[label] = `throws ${error.constructor.name}: ${String(error.message).slice(0, 60)}`;
    }
  }
  result.libraries[name] = { version: JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')).version, decodeQueryPerSec: Math.round(decodeQ), encodeAnswerPerSec: Math.round(encodeA), decodeAnswerPerSec: Math.round(decodeA), malformed: behaviour };
}
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
writeFileSync(join(REPO, 'bench', 'results', 'dns-codec.json'), `${JSON.stringify(result, null, 2)}\n`);
