// Differential test for hostile upstream responses: a raw TCP backend sends each scripted response to
// nginx 1.22 (proxy_pass, HTTP/1.1) and the same bytes go to ResponseHeadParser. Invariant: when nginx
// refuses the upstream response (502 to its client), the parser refuses it too. Where the parser
// refuses what nginx relays, the case carries `stricter` with the reason (asserted, so it cannot drift).
// nginx's proxy_buffer_size is set to 32k, the parser's default maxHeadSize (nginx's default is one
// page, 4k: ingress-nginx's proxy-buffer-size default is also 4k; the engine may pass a smaller limit).
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR, NEED_MORE, ResponseHeadParser } from '../../src/http1/index.js';
import { exchange, freePort, NGINX, NGINX_MISSING, type RunningNginx, startNginx, statuses } from './nginx.js';

interface Case {
  name: string;
  raw: string;
  stricter?: string;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const ok = (fields: string, status = '200 OK', version = 'HTTP/1.1'): string => `${version} ${status}\r\n${fields}Content-Length: 2\r\n\r\nok`;

const CASES: Case[] = [
  { name: 'valid', raw: OK },
  { name: 'chunked', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'close-delimited', raw: 'HTTP/1.1 200 OK\r\nX: y\r\n\r\nok' },
  { name: '100 then 200', raw: `HTTP/1.1 100 Continue\r\n\r\n${OK}` },
  { name: '103 then 200', raw: `HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n${OK}` },
  { name: '204 with Content-Length', raw: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n' },
  { name: 'status line without reason', raw: 'HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'double Content-Length, equal', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok', stricter: 'a duplicate or malformed Content-Length is an error (RFC 9112 §6.3); nginx 1.22 relays it' },
  { name: 'double Content-Length, different', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok', stricter: 'a duplicate or malformed Content-Length is an error (RFC 9112 §6.3); nginx 1.22 relays it' },
  { name: 'Content-Length list', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok', stricter: 'a duplicate or malformed Content-Length is an error (RFC 9112 §6.3); nginx 1.22 relays it' },
  { name: 'Content-Length with sign', raw: 'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok', stricter: 'a duplicate or malformed Content-Length is an error (RFC 9112 §6.3); nginx 1.22 relays it' },
  { name: 'Content-Length not a number', raw: 'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok', stricter: 'a duplicate or malformed Content-Length is an error (RFC 9112 §6.3); nginx 1.22 relays it' },
  { name: 'CL and TE', raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', stricter: 'Transfer-Encoding with Content-Length is an error (RFC 9112 §6.3 "ought to be handled as an error"); nginx 1.22 lets TE win' },
  { name: 'TE twice', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', stricter: 'a second Transfer-Encoding line is refused; nginx 1.22 relays it' },
  { name: 'TE chunked, gzip', raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nok' },
  { name: 'TE on HTTP/1.0', raw: 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', stricter: 'Transfer-Encoding on an HTTP/1.0 response is faulty framing (RFC 9112 §6.1); nginx 1.22 relays it' },
  { name: 'CR injected in a value', raw: ok('Set-Cookie: a\rX-Evil: 1\r\n') },
  { name: 'LF injected in a value', raw: ok('Set-Cookie: a\nX-Evil: 1\r\n'), stricter: 'bare LF is refused (nginx accepts it as a line end, so the injected field reaches the client)' },
  { name: 'NUL in a value', raw: ok('X: a\x00b\r\n') },
  { name: 'CTL in a value', raw: ok('X: a\x01b\r\n'), stricter: 'CTLs other than HTAB are refused in values' },
  { name: 'obs-fold', raw: ok('X: a\r\n b\r\n') },
  { name: 'space before colon', raw: ok('X : b\r\n') },
  { name: 'field line without colon', raw: ok('nocolon\r\n'), stricter: 'a field line must have a colon (nginx drops it)' },
  { name: 'HTTP/2.0 status line', raw: ok('', '200 OK', 'HTTP/2.0'), stricter: 'only HTTP/1.0 and HTTP/1.1 status lines; nginx 1.22 takes any HTTP/x.y' },
  { name: 'two-digit status', raw: ok('', '20 OK') },
  { name: 'status 600', raw: ok('', '600 Odd'), stricter: 'a status outside 100-599 is refused (nginx relays it)' },
  { name: 'bare LF status line', raw: 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', stricter: 'bare LF line endings are refused (nginx accepts them)' },
  { name: 'not HTTP (HTTP/0.9 body)', raw: 'SSH-2.0-OpenSSH_9.2\r\n' },
  { name: 'unexpected 101', raw: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n' },
  { name: 'field line over 8 KiB', raw: ok(`X: ${'v'.repeat(9000)}\r\n`), stricter: 'a field line is at most 8 KiB (nginx: only the 32k buffer)' },
  { name: 'head over 32 KiB', raw: ok(`X: ${'v'.repeat(7000)}\r\n`.repeat(5)) },
  { name: '200 fields', raw: ok('X-F: v\r\n'.repeat(200)), stricter: 'at most 100 field lines' },
];

function parserVerdict(raw: Buffer): string | number {
  const parser = new ResponseHeadParser();
  let at = 0;
  for (;;) {
    parser.expect({ head: false, upgrade: false });
    const r = parser.feed(raw, at);
    if (r === ERROR) return parser.error!.status;
    if (r === NEED_MORE) return 'incomplete';
    if (!parser.head!.interim) return 'ok';
    at = r;
  }
}

describe.skipIf(NGINX === undefined)('ResponseHeadParser vs nginx as a proxy (never more permissive)', () => {
  let nginx: RunningNginx | undefined;
  let backend: Server | undefined;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    backend = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      let head = '';
      socket.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const m = /^GET \/r\/(\d+) /.exec(head);
        const raw = m === null ? OK : CASES[Number(m[1])]!.raw;
        socket.end(Buffer.from(raw, 'latin1'));
        head = '';
      });
    });
    await new Promise<void>((resolve) => backend!.listen(0, '127.0.0.1', resolve));
    const back = (backend.address() as { port: number }).port;
    const port = await freePort();
    nginx = await startNginx(port, `
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${back};
      proxy_http_version 1.1;
      proxy_buffer_size 32k;
      proxy_buffers 8 32k;
      proxy_busy_buffers_size 64k;
      proxy_read_timeout 2s;
      proxy_ignore_client_abort on;   # the test half-closes after sending
    }
  }`);
  });

  const rows: string[] = [];

  afterAll(async () => {
    if (process.env.HTTP1_DIFF_TABLE_UPSTREAM) {
      writeFileSync(process.env.HTTP1_DIFF_TABLE_UPSTREAM, ['| upstream response | nginx to its client | parser | verdict |', '|---|---|---|---|', ...rows, ''].join('\n'));
    }
    await nginx?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((r) => backend?.close(r));
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const response = await exchange(nginx!.port, Buffer.from(`GET /r/${i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`));
    const fromNginx = statuses(response)[0];
    const nginxRelays = fromNginx !== undefined && fromNginx !== 502;
    const parser = parserVerdict(Buffer.from(c.raw, 'latin1'));
    const parserAccepts = parser === 'ok';
    const verdict = parserAccepts && !nginxRelays ? 'MORE PERMISSIVE' : !parserAccepts && nginxRelays ? `stricter: ${c.stricter ?? '(undocumented)'}` : 'same';
    rows.push(`| ${c.name} | ${fromNginx ?? 'no status line'} | ${parser} | ${verdict} |`);
    const detail = `nginx ${fromNginx ?? 'no status line'} (${JSON.stringify(response.slice(0, 60))}), parser ${parser}`;
    expect(parserAccepts && !nginxRelays, `more permissive: ${detail}`).toBe(false);
    expect(!parserAccepts && nginxRelays ? 'stricter' : 'same', detail).toBe(c.stricter === undefined ? 'same' : 'stricter');
  });
});

if (NGINX === undefined) {
  describe('ResponseHeadParser vs nginx as a proxy', () => {
    it.skip(NGINX_MISSING, () => {});
  });
}
