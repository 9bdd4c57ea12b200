// Differential test: the same raw bytes to a real nginx 1.22 (its own config and prefix in a temp
// dir, 127.0.0.1, ephemeral ports, proxy_pass to a `return 200` server so bodies are read) and to
// the http1 parsers. Invariant: Portico is never more permissive than nginx: for every case, the
// number of leading requests the parsers accept (head and body complete and valid) is at most the
// number nginx answered 2xx. Where the parsers accept fewer, the case must carry `stricter` with
// the reason: the list of deliberate differences is asserted, so it cannot drift.
// HTTP1_DIFF_TABLE=path writes the results as a Markdown table.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkedTracker, ERROR, LengthTracker, NEED_MORE, RequestHeadParser } from '../../src/http1/index.js';
import { exchange, freePort, NGINX, NGINX_MISSING, type RunningNginx, startNginx, statuses } from './nginx.js';

interface Case {
  name: string;
  raw: string;
  /** Why the parsers reject what nginx accepts (a deliberate, documented difference). */
  stricter?: string;
}

const H = 'Host: a.example\r\n';
const get = (target: string, fields = '', version = 'HTTP/1.1'): string => `GET ${target} ${version}\r\n${H}${fields}\r\n`;
const post = (fields: string, body = ''): string => `POST / HTTP/1.1\r\n${H}${fields}\r\n${body}`;
const chunked = (body: string): string => post('Transfer-Encoding: chunked\r\n', body);
const NEXT = get('/next');

const CASES: Case[] = [
  // baselines: both accept
  { name: 'plain GET', raw: get('/') },
  { name: 'two pipelined GETs', raw: get('/1') + get('/2') },
  { name: 'POST with Content-Length, then a GET', raw: post('Content-Length: 5\r\n', 'hello') + NEXT },
  { name: 'chunked POST, then a GET', raw: chunked('5\r\nhello\r\n0\r\n\r\n') + NEXT },
  { name: 'chunked with ext and trailer', raw: chunked('5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n') + NEXT },
  { name: 'HTTP/1.0 without Host', raw: 'GET / HTTP/1.0\r\n\r\n' },
  { name: 'absolute-form with Host', raw: get('http://b.example/x') },
  { name: 'leading CRLF', raw: `\r\n${get('/')}` },
  { name: 'Content-Length with leading zeros', raw: post('Content-Length: 005\r\n', 'hello') },
  { name: 'Transfer-Encoding: CHUNKED', raw: post('Transfer-Encoding: CHUNKED\r\n', '0\r\n\r\n') },
  { name: 'Host with port and IP-literal', raw: 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n' },
  { name: 'obs-text in a value', raw: get('/', 'X: caf\xe9\r\n') },
  { name: 'Expect: 100-continue', raw: post('Content-Length: 1\r\nExpect: 100-continue\r\n', 'x') },
  { name: 'upgrade request', raw: get('/', 'Connection: upgrade\r\nUpgrade: websocket\r\n') },
  // smuggling / framing
  { name: 'CL + TE', raw: post('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n') },
  { name: 'TE + CL', raw: post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '0\r\n\r\n') },
  { name: 'double CL, equal', raw: post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc') },
  { name: 'double CL, different', raw: post('Content-Length: 3\r\nContent-Length: 5\r\n', 'abcde') },
  { name: 'CL list 3, 3', raw: post('Content-Length: 3, 3\r\n', 'abc') },
  { name: 'CL with plus sign', raw: post('Content-Length: +3\r\n', 'abc') },
  { name: 'CL negative', raw: post('Content-Length: -3\r\n', 'abc') },
  { name: 'CL with inner space', raw: post('Content-Length: 1 3\r\n', 'abcdefghijklm') },
  { name: 'CL with trailing space (OWS, valid)', raw: post('Content-Length: 3 \r\n', 'abc') },
  { name: 'CL overflow', raw: post('Content-Length: 99999999999999999999\r\n', 'abc') },
  { name: 'CL hex', raw: post('Content-Length: 0x3\r\n', 'abc') },
  { name: 'TE: gzip, chunked', raw: post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n') },
  { name: 'TE: chunked, gzip', raw: post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n') },
  { name: 'TE: xchunked', raw: post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n') },
  { name: 'TE: identity', raw: post('Transfer-Encoding: identity\r\n', '') },
  { name: 'TE twice', raw: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n') },
  { name: 'TE on HTTP/1.0', raw: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
  { name: 'bytes after CL body that do not parse', raw: post('Content-Length: 3\r\n', 'abcXYZ garbage\r\n\r\n') },
  { name: 'pipelined CL+TE after a valid GET', raw: get('/1') + post('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n') },
  // chunk sizes and framing
  { name: 'chunk size 0x5', raw: chunked('0x5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with leading space', raw: chunked(' 5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with trailing space', raw: chunked('5 \r\nhello\r\n0\r\n\r\n') + NEXT, stricter: 'BWS after the size is only allowed before `;` (RFC 9112 §7.1.1); nginx skips it' },
  { name: 'chunk size negative', raw: chunked('-5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size not hex', raw: chunked('g\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size overflow', raw: chunked('ffffffffffffffffff\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size 17 digits with leading zeros', raw: chunked('00000000000000005\r\nhello\r\n0\r\n\r\n') + NEXT, stricter: 'chunk-size is bounded to 16 hex digits, leading zeros included' },
  { name: 'chunk data too long', raw: chunked('5\r\nhelloXX\r\n0\r\n\r\n') },
  { name: 'chunk ext with CTL', raw: chunked('5;\x01\r\nhello\r\n0\r\n\r\n') + NEXT, stricter: 'chunk-ext must follow the grammar (token[=token|quoted-string]); nginx skips anything up to CRLF' },
  { name: 'chunk ext quoted', raw: chunked('5;a="b c"\r\nhello\r\n0\r\n\r\n') + NEXT },
  { name: 'chunked with bare LF', raw: chunked('5\nhello\n0\n\n') + NEXT, stricter: 'bare LF is refused everywhere (nginx accepts it in chunked framing)' },
  { name: 'empty line before chunk size', raw: chunked('\r\n5\r\nhello\r\n0\r\n\r\n') },
  { name: 'trailer without colon', raw: chunked('5\r\nhello\r\n0\r\nX y\r\n\r\n') + NEXT, stricter: 'trailer fields must be valid field lines (nginx discards trailers unread)' },
  { name: 'trailer Content-Length', raw: chunked('5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n') + NEXT, stricter: 'framing fields (Content-Length, Transfer-Encoding, Host) are refused in trailers' },
  // field syntax
  { name: 'obs-fold', raw: get('/', 'X: a\r\n b\r\n') },
  { name: 'space before colon', raw: get('/', 'X : b\r\n') },
  { name: 'space before colon in Host', raw: 'GET / HTTP/1.1\r\nHost : a\r\n\r\n' },
  { name: 'NUL in value', raw: get('/', 'X: a\x00b\r\n') },
  { name: 'CR in value', raw: get('/', 'X: a\rb\r\n') },
  { name: 'LF in value (bare LF line end)', raw: get('/', 'X: a\nb: c\r\n'), stricter: 'bare LF is refused (RFC 9112 §2.2 only says MAY accept; nginx does)' },
  { name: 'CR CR LF ending a field', raw: get('/', 'X: a\r\r\n'), stricter: 'a CR not followed by LF is a bare CR; nginx skips repeated CRs' },
  { name: 'CTL 0x01 in value', raw: get('/', 'X: a\x01b\r\n'), stricter: 'CTLs other than HTAB are refused in values (RFC 9110 §5.5 field-vchar); nginx refuses only NUL and CR' },
  { name: 'DEL in value', raw: get('/', 'X: a\x7fb\r\n'), stricter: 'DEL is not a field-vchar' },
  { name: 'non-token field name', raw: get('/', 'X@y: b\r\n'), stricter: 'a field name must be a token; nginx ignores such a line (ignore_invalid_headers)' },
  { name: 'field line without colon', raw: get('/', 'nocolon\r\n'), stricter: 'a field line must have a colon; nginx ignores such a line' },
  { name: 'empty field name', raw: get('/', ': b\r\n') },
  { name: 'first field line starts with space', raw: 'GET / HTTP/1.1\r\n Host: a\r\n\r\n' },
  { name: 'bare LF line endings', raw: 'GET / HTTP/1.1\nHost: a\n\n', stricter: 'bare LF is refused: a backend that does not accept it would see a different message' },
  { name: 'bare CR in request line', raw: 'GET / HTTP/1.1\r\r\nHost: a\r\n\r\n' },
  // Host
  { name: 'missing Host on HTTP/1.1', raw: 'GET / HTTP/1.1\r\n\r\n' },
  { name: 'duplicate Host', raw: `GET / HTTP/1.1\r\n${H}Host: b.example\r\n\r\n` },
  { name: 'duplicate identical Host', raw: `GET / HTTP/1.1\r\n${H}${H}\r\n` },
  { name: 'Host: probe test/<"x">', raw: 'GET / HTTP/1.1\r\nHost: probe test/<"x">\r\n\r\n' },
  { name: 'Host with space', raw: 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n' },
  { name: 'empty Host', raw: 'GET / HTTP/1.1\r\nHost: \r\n\r\n' },
  { name: 'Host a..b', raw: 'GET / HTTP/1.1\r\nHost: a..b\r\n\r\n' },
  { name: 'Host with slash', raw: 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n' },
  { name: 'Host with userinfo', raw: 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n', stricter: '`@` is not a reg-name character' },
  { name: 'Host .a', raw: 'GET / HTTP/1.1\r\nHost: .a\r\n\r\n', stricter: 'an empty first label is not a host name' },
  { name: 'Host with %', raw: 'GET / HTTP/1.1\r\nHost: a%41\r\n\r\n', stricter: 'percent-encoded hosts are refused (no Ingress host can match one)' },
  { name: 'Host with bad port', raw: 'GET / HTTP/1.1\r\nHost: a:xyz\r\n\r\n', stricter: 'the port must be digits (nginx does not look at it)' },
  { name: 'Host port 99999', raw: 'GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n', stricter: 'the port must be at most 65535' },
  { name: 'absolute-form without Host', raw: 'GET http://b.example/x HTTP/1.1\r\n\r\n' },
  { name: 'absolute-form with userinfo', raw: get('http://u@b.example/x') },
  { name: 'absolute-form ftp scheme', raw: get('ftp://b.example/x'), stricter: 'only http and https absolute-form targets are accepted' },
  // request line
  { name: 'lower-case method', raw: `get / HTTP/1.1\r\n${H}\r\n` },
  { name: 'HTTP/2.0', raw: get('/', '', 'HTTP/2.0') },
  { name: 'HTTP/1.2', raw: get('/', '', 'HTTP/1.2'), stricter: 'only HTTP/1.0 and HTTP/1.1 (505); nginx serves 1.2 as 1.1' },
  { name: 'HTTP/0.9 request line (no version)', raw: 'GET /\r\n\r\n' },
  { name: 'HTTP/0.9 version', raw: get('/', '', 'HTTP/0.9') },
  { name: 'double space after method', raw: `GET  / HTTP/1.1\r\n${H}\r\n`, stricter: 'exactly one SP between request-line parts (RFC 9112 §3)' },
  { name: 'asterisk-form', raw: `OPTIONS * HTTP/1.1\r\n${H}\r\n` },
  { name: 'CONNECT authority-form', raw: `CONNECT a.example:443 HTTP/1.1\r\n${H}\r\n` },
  { name: 'CTL in target', raw: get('/a\x01b') },
  { name: 'invalid %-escape in path', raw: get('/a%zz') },
  { name: 'dot-dot above the root', raw: get('/../etc/passwd') },
  { name: 'dot-dot inside the path', raw: get('/a/../b'), stricter: 'dot segments are refused: routing looks at the raw path, nginx normalises it' },
  { name: 'fragment in target', raw: get('/a#b'), stricter: 'a fragment is never part of a request-target' },
  { name: 'quote and raw UTF-8 in path', raw: get('/caf\xc3\xa9/"x"') },
  // limits
  { name: 'request line over 8 KiB', raw: get(`/${'a'.repeat(9000)}`) },
  { name: 'field line over 8 KiB', raw: get('/', `X: ${'v'.repeat(9000)}\r\n`) },
  { name: 'head of 5 lines of 7.9 KiB (39 KiB)', raw: get('/', `X: ${'v'.repeat(7900)}\r\n`.repeat(5)) },
  { name: '100 fields', raw: get('/', 'X-F: v\r\n'.repeat(99)) },
  { name: '200 fields', raw: get('/', 'X-F: v\r\n'.repeat(200)), stricter: 'at most 100 field lines (HAProxy: 101); nginx limits only bytes' },
  { name: 'unknown expectation', raw: get('/', 'Expect: foo\r\n'), stricter: 'an expectation other than 100-continue is 417 (RFC 9110 §10.1.1); nginx ignores it' },
];

/** What the parsers make of `raw`: one entry per request, 'ok' or the error status, or 'incomplete'. */
function parserVerdict(raw: Buffer): (string | number)[] {
  const out: (string | number)[] = [];
  const parser = new RequestHeadParser();
  let at = 0;
  while (at < raw.length) {
    parser.reset();
    const r = parser.feed(raw, at);
    if (r === ERROR) return [...out, parser.error!.status];
    if (r === NEED_MORE) return [...out, 'incomplete'];
    const head = parser.head!;
    let end = r;
    if (head.framing === 'length') {
      end = new LengthTracker(head.contentLength).feed(raw, r);
      if (end === NEED_MORE) return [...out, 'incomplete'];
    } else if (head.framing === 'chunked') {
      const t = new ChunkedTracker();
      end = t.feed(raw, r);
      if (end === ERROR) return [...out, t.error!.status];
      if (end === NEED_MORE) return [...out, 'incomplete'];
    }
    out.push('ok');
    at = end;
  }
  return out;
}

const leadingOk = (list: (string | number)[]): number => {
  let n = 0;
  while (n < list.length && (list[n] === 'ok' || (typeof list[n] === 'number' && (list[n] as number) < 300))) n++;
  return n;
};

describe.skipIf(NGINX === undefined)('http1 parsers vs nginx (never more permissive)', () => {
  let nginx: RunningNginx | undefined;
  let port = 0;
  const rows: { name: string; nginx: string; parser: string; verdict: string }[] = [];

  beforeAll(async () => {
    port = await freePort();
    const back = await freePort();
    nginx = await startNginx(port, `
  client_max_body_size 0;          # Portico has no body limit by default: do not let 413 hide a difference
  client_header_timeout 2s;
  client_body_timeout 2s;
  server {
    listen 127.0.0.1:${port};
    # proxy_pass reads the whole body (chunked included) before answering; the test half-closes its
    # side after sending, which must not make nginx drop the request (it would answer nothing).
    location / { proxy_pass http://127.0.0.1:${back}; proxy_ignore_client_abort on; }
  }
  server { listen 127.0.0.1:${back}; location / { return 200 "ok\\n"; } }`);
  });

  afterAll(async () => {
    await nginx?.stop();
    if (process.env.HTTP1_DIFF_TABLE) {
      const lines = ['| case | nginx | parser | verdict |', '|---|---|---|---|', ...rows.map((r) => `| ${r.name} | ${r.nginx} | ${r.parser} | ${r.verdict} |`)];
      writeFileSync(process.env.HTTP1_DIFF_TABLE, `${lines.join('\n')}\n`);
    }
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const raw = Buffer.from(c.raw, 'latin1');
    const fromNginx = statuses(await exchange(port, raw));
    const fromParser = parserVerdict(raw);
    const nginxOk = leadingOk(fromNginx);
    const parserOk = leadingOk(fromParser);
    const verdict = parserOk > nginxOk ? 'MORE PERMISSIVE' : parserOk < nginxOk ? `stricter: ${c.stricter ?? '(undocumented)'}` : 'same';
    rows.push({ name: c.name.replace(/\|/g, '\\|'), nginx: fromNginx.join(', ') || 'closed', parser: fromParser.join(', '), verdict });
    expect(parserOk, `nginx ${JSON.stringify(fromNginx)} parser ${JSON.stringify(fromParser)}`).toBeLessThanOrEqual(nginxOk);
    // A deliberate difference is documented; an undocumented one (or a stale note) fails.
    expect(parserOk < nginxOk ? 'stricter' : 'same', `nginx ${JSON.stringify(fromNginx)} parser ${JSON.stringify(fromParser)}`).toBe(c.stricter === undefined ? 'same' : 'stricter');
  });
});

if (NGINX === undefined) {
  describe('http1 parsers vs nginx', () => {
    it.skip(NGINX_MISSING, () => {});
  });
}


