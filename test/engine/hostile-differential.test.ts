// End-to-end differential test (issue 13): the same raw bytes, over real sockets, to an EngineServer
// and to a real nginx 1.22 (its own config and prefix in a temp dir, 127.0.0.1, ephemeral ports),
// each proxying to its own raw TCP backend of the same kind that records every request reaching it
// and answers scripted (hostile) responses. The http1 parser tests (test/http1) compare parsers;
// this one compares whole proxies: timeouts, request buffering, pipelining order, what reaches the
// backend.
//
// Invariant, for every case: Portico is never more permissive than nginx:
// - its backend receives no more requests than nginx's backend;
// - it answers no more leading 2xx than nginx (where nginx answers 4xx/5xx, or closes, so does Portico);
// - no request smuggled inside another (a path with `smuggled`) ever reaches its backend;
// - it keeps serving afterwards (a plain GET answers 200).
// Where Portico is stricter, the case carries `stricter` with the reason: the list of deliberate
// differences is asserted, so it cannot drift. nginx runs with 1 s client header/body timeouts and
// a 1 s proxy_read_timeout, the engine with the same; nginx's proxy_buffer_size is 32k, the
// engine's response-head limit (nginx's default is one page; see nginx-upstream-differential).
// HOSTILE_DIFF_TABLE=path writes the results as a Markdown table.
import { writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendRegistry } from '../../src/balancer/backend-registry.js';
import { EngineServer } from '../../src/engine/engine-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { freePort, NGINX, NGINX_MISSING, type RunningNginx, startNginx, statuses } from '../http1/nginx.js';
import { backendEndpoints, backendRef, endpoint } from '../proxy/proxy-fixture.js';

const TIMEOUT_MS = 1_000;

interface Case {
  name: string;
  /** Bytes sent at once (then the client half-closes, unless `hold`). */
  raw: string;
  /** Then these bytes, one every `everyMs` (no half-close). */
  trickle?: { bytes: string; everyMs: number };
  /** Do not half-close: the proxy's own timeout has to end it. */
  hold?: boolean;
  stricter?: string;
}

const H = 'Host: a.example\r\n';
const get = (target: string, fields = ''): string => `GET ${target} HTTP/1.1\r\n${H}${fields}\r\n`;
const post = (fields: string, body = ''): string => `POST /p HTTP/1.1\r\n${H}${fields}\r\n${body}`;
const chunked = (body: string): string => post('Transfer-Encoding: chunked\r\n', body);
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n';
const NEXT = get('/next');

/** Requests from clients. */
const CLIENT_CASES: Case[] = [
  // baselines
  { name: 'GET', raw: get('/') },
  { name: 'POST with Content-Length, then a GET', raw: post('Content-Length: 5\r\n', 'hello') + NEXT },
  { name: 'chunked POST with trailer, then a GET', raw: chunked('5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n') + NEXT },
  { name: 'Expect: 100-continue', raw: post('Content-Length: 1\r\nExpect: 100-continue\r\n', 'x') },
  // CL + TE, double CL
  { name: 'CL + TE smuggling a request', raw: post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUGGLED}`) },
  { name: 'TE + CL smuggling a request', raw: post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', `0\r\n\r\n${SMUGGLED}`) },
  { name: 'TE: chunked, gzip', raw: post('Transfer-Encoding: chunked, gzip\r\n', `0\r\n\r\n${SMUGGLED}`) },
  { name: 'TE twice', raw: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n') },
  { name: 'double CL, different', raw: post('Content-Length: 3\r\nContent-Length: 40\r\n', `abc${SMUGGLED}`) },
  { name: 'double CL, equal', raw: post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc') },
  { name: 'CL list', raw: post('Content-Length: 3, 3\r\n', 'abc') },
  { name: 'CL with sign', raw: post('Content-Length: +3\r\n', 'abc') },
  { name: 'bytes after the CL body that do not parse', raw: post('Content-Length: 3\r\n', 'abcXYZ garbage\r\n\r\n') },
  // bad chunk sizes
  { name: 'chunk size not hex', raw: chunked(`g\r\nhello\r\n0\r\n\r\n${SMUGGLED}`) },
  { name: 'chunk size 0x5', raw: chunked('0x5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size negative', raw: chunked('-5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size overflow', raw: chunked(`ffffffffffffffffff\r\nhello\r\n0\r\n\r\n${SMUGGLED}`) },
  { name: 'chunk data longer than its size', raw: chunked('5\r\nhelloXX\r\n0\r\n\r\n') },
  { name: 'chunk size with trailing space', raw: chunked('5 \r\nhello\r\n0\r\n\r\n') + NEXT, stricter: 'BWS after the chunk size is refused (RFC 9112 §7.1.1); nginx skips it' },
  { name: 'chunked with bare LF', raw: chunked('5\nhello\n0\n\n') + NEXT, stricter: 'bare LF is refused in chunked framing too; nginx accepts it' },
  // obs-fold, NUL / CR / CTL in values
  { name: 'obs-fold', raw: get('/', 'X: a\r\n b\r\n') },
  { name: 'NUL in a value', raw: get('/', 'X: a\x00b\r\n') },
  { name: 'CR in a value', raw: get('/', 'X: a\rb\r\n') },
  { name: 'LF in a value (bare LF)', raw: get('/', `X: a\nb: c\r\n`), stricter: 'bare LF is refused; nginx takes it as a line end' },
  { name: 'CTL in a value', raw: get('/', 'X: a\x01b\r\n'), stricter: 'CTLs other than HTAB are refused in values; nginx refuses only NUL and CR' },
  { name: 'space before colon', raw: get('/', 'X : b\r\n') },
  // Host
  { name: 'Host: probe test/<"x">', raw: 'GET / HTTP/1.1\r\nHost: probe test/<"x">\r\n\r\n' },
  { name: 'duplicate Host', raw: `GET / HTTP/1.1\r\n${H}Host: b.example\r\n\r\n` },
  { name: 'missing Host on HTTP/1.1', raw: 'GET / HTTP/1.1\r\n\r\n' },
  { name: 'Host .a', raw: 'GET / HTTP/1.1\r\nHost: .a\r\n\r\n', stricter: 'an empty first label is not a host name' },
  { name: 'Host with bad port', raw: 'GET / HTTP/1.1\r\nHost: a:xyz\r\n\r\n', stricter: 'the port must be digits (nginx does not look at it)' },
  // absolute-form
  { name: 'absolute-form with Host', raw: get('http://b.example/x') },
  { name: 'absolute-form without Host', raw: 'GET http://b.example/x HTTP/1.1\r\n\r\n' },
  { name: 'absolute-form ftp scheme', raw: get('ftp://b.example/x'), stricter: 'only http and https absolute-form targets are accepted' },
  { name: 'CONNECT authority-form', raw: `CONNECT a.example:443 HTTP/1.1\r\n${H}\r\n` },
  { name: 'asterisk-form', raw: `OPTIONS * HTTP/1.1\r\n${H}\r\n` },
  // pipelining order: the valid first is answered, then the 400, then the connection closes
  { name: 'pipelined: valid GET, then CL+TE', raw: get('/1') + post('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n') },
  { name: 'pipelined: valid POST, then bytes that do not parse', raw: post('Content-Length: 5\r\n', 'hello') + 'NOT HTTP\r\n\r\n' },
  // header count and size limits
  { name: '100 fields', raw: get('/', 'X-F: v\r\n'.repeat(99)) },
  { name: '200 fields', raw: get('/', 'X-F: v\r\n'.repeat(200)), stricter: 'at most 100 field lines (HAProxy: 101); nginx limits only bytes' },
  { name: 'field line over 8 KiB', raw: get('/', `X: ${'v'.repeat(9000)}\r\n`) },
  { name: 'request line over 8 KiB', raw: get(`/${'a'.repeat(9000)}`) },
  { name: 'head of 20 KiB (3 lines of 7 KiB)', raw: get('/', `X: ${'v'.repeat(7000)}\r\n`.repeat(3)), stricter: 'a request head is at most 16 KiB (431); nginx takes up to 4 buffers of 8k' },
  { name: 'head of 39 KiB', raw: get('/', `X: ${'v'.repeat(7900)}\r\n`.repeat(5)) },
  // slow clients (1 s timeouts on both sides)
  { name: 'slow head: one byte every 150 ms', raw: 'GET / HTTP/1.1\r\nHost: a.example\r\nX-Slow: ', trickle: { bytes: `${'v'.repeat(20)}\r\n\r\n`, everyMs: 150 } },
  { name: 'stalled head', raw: 'GET / HTTP/1.1\r\nHost: a.example\r\nX-Half:', hold: true },
  { name: 'stalled body (10 of 100 bytes)', raw: post('Content-Length: 100\r\n', 'only ten b'), hold: true },
  { name: 'stalled chunked body', raw: chunked('5\r\nhel'), hold: true },
  { name: 'slow body that keeps coming (one byte every 150 ms)', raw: post('Content-Length: 12\r\n'), trickle: { bytes: 'abcdefghijkl', everyMs: 150 } },
  { name: 'connection that sends nothing', raw: '', hold: true },
];

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const ok = (fields: string): string => `HTTP/1.1 200 OK\r\n${fields}Content-Length: 2\r\n\r\nok`;

interface UpstreamCase {
  name: string;
  /** What the backend writes for the request; `close`: then it closes. */
  raw: string;
  close?: boolean;
  stricter?: string;
}

/** Responses from a hostile upstream (the client sends a plain GET /r/<index>, then a GET /next on the same connection). */
const UPSTREAM_CASES: UpstreamCase[] = [
  { name: 'valid', raw: OK },
  { name: 'chunked', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'double Content-Length, different', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok', close: true, stricter: 'a duplicate Content-Length is an error (RFC 9112 §6.3); nginx 1.22 relays it' },
  { name: 'double Content-Length, equal', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok', stricter: 'a duplicate Content-Length is an error (RFC 9112 §6.3); nginx 1.22 relays it' },
  { name: 'CL and TE', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', stricter: 'Transfer-Encoding with Content-Length is an error (RFC 9112 §6.3); nginx 1.22 lets TE win' },
  { name: 'header injection: CR in a value', raw: ok('Set-Cookie: a\rX-Evil: 1\r\n') },
  { name: 'header injection: LF in a value', raw: ok('Set-Cookie: a\nX-Evil: 1\r\n'), stricter: 'bare LF is refused (nginx takes it as a line end and the injected field reaches the client)' },
  { name: 'NUL in a value', raw: ok('X: a\x00b\r\n') },
  { name: 'oversize field line (9 KiB)', raw: ok(`X: ${'v'.repeat(9000)}\r\n`), stricter: 'a response field line is at most 8 KiB (nginx: only its 32k buffer)' },
  { name: 'oversize head (35 KiB)', raw: ok(`X: ${'v'.repeat(7000)}\r\n`.repeat(5)) },
  { name: 'not HTTP', raw: 'SSH-2.0-OpenSSH_9.2\r\n', close: true, stricter: 'a response that is not HTTP/1.x is refused (502); nginx relays it as an HTTP/0.9 body under a 200' },
  { name: 'closed before any byte', raw: '', close: true },
  { name: 'mid-body close (10 of 100 bytes)', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b', close: true },
  { name: 'mid-chunk close', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly', close: true },
  { name: 'two responses to one request', raw: `${OK}HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON` },
  { name: 'silent upstream', raw: '' },
];

interface Recorded {
  method: string;
  path: string;
  /** Its body arrived whole. */
  complete: boolean;
}

/** Where a chunked body starting at `at` ends (trailers included), or -1 while incomplete. */
function chunkedEnd(buffer: Buffer, at: number): number {
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd < 0) return -1;
    const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailer fields, then the empty line.
      for (;;) {
        const end = buffer.indexOf('\r\n', at);
        if (end < 0) return -1;
        if (end === at) return end + 2;
        at = end + 2;
      }
    }
    at += size + 2;
    if (at > buffer.length) return -1;
  }
}

/** A raw backend: records each request (head and body framing read the simple way), answers by path. */
async function recordingBackend(): Promise<{ port: number; requests: Recorded[]; close: () => Promise<void> }> {
  const requests: Recorded[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    /** The request whose head is in and whose body is not (yet). */
    let current: Recorded | undefined;
    socket.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d]);
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffer.subarray(0, headEnd).toString('latin1');
        if (current === undefined) {
          // Counted as soon as its head arrives: an upstream connection taken for a body that never
          // comes counts too.
          const [method = '', path = ''] = head.split('\r\n', 1)[0]!.split(' ');
          current = { method, path, complete: false };
          requests.push(current);
        }
        let end = headEnd + 4;
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (length) {
          end += Number(length[1]);
          if (buffer.length < end) return;
        } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const bodyEnd = chunkedEnd(buffer, end);
          if (bodyEnd < 0) return;
          end = bodyEnd;
        }
        buffer = buffer.subarray(end);
        const { method, path } = current;
        current.complete = true;
        current = undefined;
        const scripted = /^\/r\/(\d+)$/.exec(path);
        if (scripted) {
          const c = UPSTREAM_CASES[Number(scripted[1])]!;
          if (c.raw !== '') socket.write(Buffer.from(c.raw, 'latin1'));
          if (c.close) socket.end();
          if (c.close || c.raw === '') return; // a silent upstream answers nothing more on this connection
        } else {
          const body = `${method} ${path}`;
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Sends `c` the way it says; resolves with everything received once the peer closes (or after waitMs). */
function talk(port: number, c: { raw: string; trickle?: { bytes: string; everyMs: number }; hold?: boolean }, waitMs = 6_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let trickler: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      clearInterval(trickler);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.once('connect', () => {
      if (c.raw !== '') socket.write(Buffer.from(c.raw, 'latin1'));
      if (c.trickle) {
        let i = 0;
        const bytes = Buffer.from(c.trickle.bytes, 'latin1');
        trickler = setInterval(() => {
          if (i >= bytes.length) {
            clearInterval(trickler);
            socket.end();
            return;
          }
          if (!socket.destroyed) socket.write(bytes.subarray(i, ++i));
        }, c.trickle.everyMs);
      } else if (!c.hold) socket.end();
    });
  });
}

const leading2xx = (list: number[]): number => {
  let n = 0;
  while (n < list.length && list[n]! < 300) n++;
  return n;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(NGINX === undefined)('engine vs nginx end to end, raw sockets (never more permissive)', () => {
  let nginx: RunningNginx | undefined;
  let engine: EngineServer | undefined;
  let registry: BackendRegistry | undefined;
  let enginePort = 0;
  let behindEngine: Awaited<ReturnType<typeof recordingBackend>>;
  let behindNginx: Awaited<ReturnType<typeof recordingBackend>>;
  const rows: string[] = [];

  beforeAll(async () => {
    behindEngine = await recordingBackend();
    behindNginx = await recordingBackend();
    const port = await freePort();
    nginx = await startNginx(port, `
  client_max_body_size 0;
  client_header_timeout ${TIMEOUT_MS / 1000}s;
  client_body_timeout ${TIMEOUT_MS / 1000}s;
  keepalive_timeout 5s;
  upstream back { server 127.0.0.1:${behindNginx.port}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://back;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffer_size 32k;
      proxy_buffers 8 32k;
      proxy_busy_buffers_size 64k;
      proxy_read_timeout ${TIMEOUT_MS / 1000}s;
      proxy_next_upstream off;
      proxy_ignore_client_abort on;   # the client half-closes after sending
    }
  }`);
    const ref = backendRef();
    registry = new BackendRegistry();
    registry.sync(new Map([[ref.key, backendEndpoints(ref, [endpoint(behindEngine.port)])]]));
    engine = new EngineServer({
      backends: registry,
      routes: { lookup: () => ({ backend: ref, ingress: 'default/diff' }) },
      logger: createLogger({ level: 'silent' }),
      clientTimeoutMs: TIMEOUT_MS,
      upstreamTimeoutMs: TIMEOUT_MS,
      keepAliveTimeoutMs: 5_000,
      endpointWaitMs: 0,
    });
    enginePort = (await engine.listen({ port: 0, host: '127.0.0.1' })).port;
  });

  afterAll(async () => {
    if (process.env.HOSTILE_DIFF_TABLE) {
      writeFileSync(process.env.HOSTILE_DIFF_TABLE, ['| case | nginx: statuses, backend requests | Portico: statuses, backend requests | verdict |', '|---|---|---|---|', ...rows, ''].join('\n'));
    }
    await nginx?.stop();
    await engine?.close(100);
    await registry?.close();
    await behindEngine?.close();
    await behindNginx?.close();
  });

  /** Runs one exchange against both; what each client got and what reached each backend. */
  async function both(c: Parameters<typeof talk>[1]): Promise<{ n: { statuses: number[]; text: string; requests: Recorded[] }; p: { statuses: number[]; text: string; requests: Recorded[] } }> {
    const n0 = behindNginx.requests.length;
    const p0 = behindEngine.requests.length;
    const [n, p] = await Promise.all([talk(nginx!.port, c), talk(enginePort, c)]);
    await sleep(30); // anything still on its way to a backend lands
    return {
      n: { statuses: statuses(n.text), text: n.text, requests: behindNginx.requests.slice(n0) },
      p: { statuses: statuses(p.text), text: p.text, requests: behindEngine.requests.slice(p0) },
    };
  }

  async function stillServing(): Promise<void> {
    const { text } = await talk(enginePort, { raw: 'GET /alive HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n' });
    expect(text, 'the engine keeps serving').toMatch(/^HTTP\/1\.1 200 /);
  }

  describe('client side', () => {
    it.each(CLIENT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const { n, p } = await both(c);
      const nOk = leading2xx(n.statuses);
      const pOk = leading2xx(p.statuses);
      const stricter = pOk < nOk || p.requests.length < n.requests.length;
      const more = pOk > nOk || p.requests.length > n.requests.length;
      const verdict = more ? 'MORE PERMISSIVE' : stricter ? `stricter: ${c.stricter ?? '(undocumented)'}` : 'same';
      rows.push(`| ${c.name.replace(/\|/g, '\\|')} | ${n.statuses.join(', ') || 'closed'}; ${n.requests.length} | ${p.statuses.join(', ') || 'closed'}; ${p.requests.length} | ${verdict} |`);
      const detail = `nginx ${JSON.stringify(n.statuses)} backend ${JSON.stringify(n.requests)}; portico ${JSON.stringify(p.statuses)} backend ${JSON.stringify(p.requests)}`;
      expect(p.requests.length, `backend requests: ${detail}`).toBeLessThanOrEqual(n.requests.length);
      expect(pOk, `leading 2xx: ${detail}`).toBeLessThanOrEqual(nOk);
      expect(p.requests.some((r) => r.path.includes('smuggled')), `smuggled: ${detail}`).toBe(false);
      expect(stricter ? 'stricter' : 'same', detail).toBe(c.stricter === undefined ? 'same' : 'stricter');
      await stillServing();
    });

    it('a valid request pipelined before an invalid one: its response first, then the 400, then the close (as nginx)', async () => {
      const raw = get('/first') + post('Content-Length: 3\r\nContent-Length: 4\r\n', 'abcd');
      const { n, p } = await both({ raw });
      expect(n.statuses).toEqual([200, 400]);
      expect(p.statuses).toEqual([200, 400]);
      expect(p.text.indexOf('GET /first')).toBeGreaterThan(0);
      expect(p.text.indexOf('HTTP/1.1 400')).toBeGreaterThan(p.text.indexOf('GET /first'));
      expect(p.requests.map((r) => r.path)).toEqual(['/first']);
    });

    it('100 stalled uploads to each: nginx and Portico open no upstream connection for them, and both keep serving a GET meanwhile', async () => {
      const stalled = (port: number) =>
        Array.from({ length: 100 }, () => talk(port, { raw: post('Content-Length: 100\r\n', 'only ten b'), hold: true }));
      const n0 = behindNginx.requests.length;
      const p0 = behindEngine.requests.length;
      const pending = [...stalled(nginx!.port), ...stalled(enginePort)];
      await sleep(200);
      const [fromNginx, fromEngine] = await Promise.all([
        talk(nginx!.port, { raw: 'GET /meanwhile HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n' }),
        talk(enginePort, { raw: 'GET /meanwhile HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n' }),
      ]);
      expect(statuses(fromNginx.text)).toEqual([200]);
      expect(statuses(fromEngine.text)).toEqual([200]);
      expect(engine!.pool.openConnections).toBeLessThanOrEqual(1);
      const outs = await Promise.all(pending);
      await sleep(30);
      expect(behindEngine.requests.slice(p0).map((r) => r.path)).toEqual(['/meanwhile']);
      expect(behindNginx.requests.slice(n0).map((r) => r.path)).toEqual(['/meanwhile']);
      for (const out of outs.slice(100)) expect(out.text).toMatch(/^HTTP\/1\.1 408 /);
    });
  });

  describe('hostile upstream responses', () => {
    it.each(UPSTREAM_CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
      // A second request on the same connection: nothing of the first response may leak into it.
      const raw = `GET /r/${i} HTTP/1.1\r\n${H}\r\nGET /next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
      const { n, p } = await both({ raw });
      const nOk = leading2xx(n.statuses);
      const pOk = leading2xx(p.statuses);
      // A response that is relayed whole counts; one cut mid-body counts as relayed too (both send its head).
      const stricter = pOk < nOk;
      const verdict = pOk > nOk ? 'MORE PERMISSIVE' : stricter ? `stricter: ${c.stricter ?? '(undocumented)'}` : 'same';
      rows.push(`| upstream: ${c.name} | ${n.statuses.join(', ') || 'closed'}; ${n.requests.length} | ${p.statuses.join(', ') || 'closed'}; ${p.requests.length} | ${verdict} |`);
      const detail = `nginx ${JSON.stringify(n.statuses)} ${JSON.stringify(n.text.slice(0, 120))}; portico ${JSON.stringify(p.statuses)} ${JSON.stringify(p.text.slice(0, 120))}`;
      expect(pOk, detail).toBeLessThanOrEqual(nOk);
      expect(stricter ? 'stricter' : 'same', detail).toBe(c.stricter === undefined ? 'same' : 'stricter');
      // No injected field, no second response's bytes, ever reach Portico's client.
      expect(p.text, detail).not.toMatch(/\r\nX-Evil:/i);
      expect(p.text, detail).not.toContain('POISON');
      expect(p.requests.length, detail).toBeLessThanOrEqual(n.requests.length);
      await stillServing();
    });
  });
});

if (NGINX === undefined) {
  describe('engine vs nginx end to end', () => {
    it.skip(NGINX_MISSING, () => {});
  });
}
