// The request-head parser, class by class. Every case is fed whole, at every split point, byte by
// byte and at an offset (feed.ts asserts they agree), so each row also tests incremental parsing.
import { describe, expect, it } from 'vitest';
import { ERROR, NEED_MORE, RequestHeadParser } from '../../src/http1/index.js';
import { parseRequest } from './feed.js';

const H = 'Host: a.example\r\n';
const get = (target: string, extra = '', version = 'HTTP/1.1'): string => `GET ${target} ${version}\r\n${H}${extra}\r\n`;
const post = (fields: string): string => `POST / HTTP/1.1\r\n${H}${fields}\r\n`;

/** [name, raw request, error code] */
const REJECT: [string, string, string][] = [
  // request line
  ['lower-case method (nginx: 400)', `get / HTTP/1.1\r\n${H}\r\n`, 'BAD_METHOD'],
  ['digit in method', `G3T / HTTP/1.1\r\n${H}\r\n`, 'BAD_METHOD'],
  ['method of 33 letters', `${'A'.repeat(33)} / HTTP/1.1\r\n${H}\r\n`, 'BAD_METHOD'],
  ['two spaces after method', `GET  / HTTP/1.1\r\n${H}\r\n`, 'BAD_REQUEST_LINE'],
  ['tab as separator', `GET\t/ HTTP/1.1\r\n${H}\r\n`, 'BAD_METHOD'],
  ['trailing space after version', `GET / HTTP/1.1 \r\n${H}\r\n`, 'BAD_VERSION'],
  ['HTTP/0.9 style line', 'GET /\r\n\r\n', 'BAD_REQUEST_LINE'],
  ['method only', 'GET\r\n\r\n', 'BAD_REQUEST_LINE'],
  ['HTTP/2.0', get('/', '', 'HTTP/2.0'), 'VERSION_NOT_SUPPORTED'],
  ['HTTP/1.2', get('/', '', 'HTTP/1.2'), 'VERSION_NOT_SUPPORTED'],
  ['HTTP/0.9 version', get('/', '', 'HTTP/0.9'), 'VERSION_NOT_SUPPORTED'],
  ['lower-case http/1.1', get('/', '', 'http/1.1'), 'BAD_VERSION'],
  ['HTTP/1.10', get('/', '', 'HTTP/1.10'), 'BAD_VERSION'],
  ['HTTP/1', get('/', '', 'HTTP/1'), 'BAD_VERSION'],
  ['NUL in target', get('/a\x00b'), 'BAD_REQUEST_LINE'],
  ['CTL in target', get('/a\x01b'), 'BAD_REQUEST_LINE'],
  ['DEL in target', get('/a\x7fb'), 'BAD_REQUEST_LINE'],
  ['fragment in target', get('/a#b'), 'BAD_TARGET'],
  ['relative target', get('a/b'), 'BAD_TARGET'],
  ['invalid %-escape in path', get('/a%zz'), 'BAD_PATH'],
  ['truncated %-escape', get('/a%4'), 'BAD_PATH'],
  ['dot-dot segment', get('/a/../b'), 'BAD_PATH'],
  ['dot-dot at the root', get('/../etc/passwd'), 'BAD_PATH'],
  ['dot segment', get('/a/./b'), 'BAD_PATH'],
  ['trailing dot-dot', get('/a/..'), 'BAD_PATH'],
  ['encoded dot-dot', get('/a/%2e%2E/b'), 'BAD_PATH'],
  ['half-encoded dot-dot', get('/a/.%2e/b'), 'BAD_PATH'],
  ['dot-dot before the query', get('/a/..?x'), 'BAD_PATH'],
  ['asterisk-form (nginx: 400)', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 'TARGET_FORM'],
  ['asterisk with GET', `GET * HTTP/1.1\r\n${H}\r\n`, 'TARGET_FORM'],
  ['CONNECT (nginx: 400)', `CONNECT a.example:443 HTTP/1.1\r\n${H}\r\n`, 'TARGET_FORM'],
  ['CONNECT without port', `CONNECT a.example HTTP/1.1\r\n${H}\r\n`, 'BAD_TARGET'],
  ['absolute-form, other scheme', get('ftp://b/x'), 'BAD_TARGET'],
  ['absolute-form with userinfo', get('http://u@b/x'), 'BAD_HOST'],
  ['absolute-form, empty authority', get('http:///x'), 'BAD_HOST'],
  ['absolute-form, one slash', get('http:/b/x'), 'BAD_TARGET'],
  ['absolute-form, dot-dot', get('http://b/a/../x'), 'BAD_PATH'],
  ['request line over 8 KiB', get(`/${'a'.repeat(8200)}`), 'URI_TOO_LONG'],
  // line endings
  ['bare LF everywhere (nginx: 200)', 'GET / HTTP/1.1\nHost: a\n\n', 'BARE_LF'],
  ['bare LF after a field', `GET / HTTP/1.1\r\nHost: a\n\r\n`, 'BARE_LF'],
  ['bare LF ends the head', `GET / HTTP/1.1\r\nHost: a\r\n\n`, 'BARE_LF'],
  ['bare LF leading line', `\nGET / HTTP/1.1\r\n${H}\r\n`, 'BARE_LF'],
  ['bare CR leading line', `\rGET / HTTP/1.1\r\n${H}\r\n`, 'BARE_CR'],
  ['bare CR in request line', `GET / HTTP/1.1\r\r\n${H}\r\n`, 'BARE_CR'],
  ['bare CR in a value', get('/', 'X: a\rb\r\n'), 'BARE_CR'],
  ['CR CR LF after a value (nginx: 200)', get('/', 'X: a\r\r\n'), 'BARE_CR'],
  // fields
  ['obs-fold', get('/', 'X: a\r\n b\r\n'), 'OBS_FOLD'],
  ['obs-fold with tab', get('/', 'X: a\r\n\tb\r\n'), 'OBS_FOLD'],
  ['first field line starts with space', `GET / HTTP/1.1\r\n Host: a\r\n\r\n`, 'OBS_FOLD'],
  ['space before colon', get('/', 'X : b\r\n'), 'SPACE_BEFORE_COLON'],
  ['tab before colon', get('/', 'X\t: b\r\n'), 'SPACE_BEFORE_COLON'],
  ['Host with space before colon', `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, 'SPACE_BEFORE_COLON'],
  ['empty field name', get('/', ': b\r\n'), 'BAD_FIELD_NAME'],
  ['no colon', get('/', 'nocolon\r\n'), 'BAD_FIELD_NAME'],
  ['non-token name (nginx ignores it)', get('/', 'X@y: b\r\n'), 'BAD_FIELD_NAME'],
  ['NUL in value', get('/', 'X: a\x00b\r\n'), 'BAD_FIELD_VALUE'],
  ['CTL in value (nginx: 200)', get('/', 'X: a\x01b\r\n'), 'BAD_FIELD_VALUE'],
  ['DEL in value', get('/', 'X: a\x7fb\r\n'), 'BAD_FIELD_VALUE'],
  ['ESC in value', get('/', 'X: \x1b[31m\r\n'), 'BAD_FIELD_VALUE'],
  ['field line over 8 KiB', get('/', `X: ${'v'.repeat(8200)}\r\n`), 'HEADER_LINE_TOO_LONG'],
  ['101 fields', get('/', 'X: y\r\n'.repeat(100)), 'TOO_MANY_FIELDS'],
  ['head over 32 KiB', get('/', `X: ${'v'.repeat(8000)}\r\n`.repeat(5)), 'HEAD_TOO_LARGE'],
  // Host
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 'MISSING_HOST'],
  ['absolute-form without Host (nginx: 400)', 'GET http://b/x HTTP/1.1\r\n\r\n', 'MISSING_HOST'],
  ['duplicate Host', `GET / HTTP/1.1\r\n${H}${H}\r\n`, 'DUPLICATE_HOST'],
  ['duplicate Host, different case', `GET / HTTP/1.1\r\n${H}HOST: b\r\n\r\n`, 'DUPLICATE_HOST'],
  ['Host with path and quotes', 'GET / HTTP/1.1\r\nHost: probe test/<"x">\r\n\r\n', 'BAD_HOST'],
  ['Host with space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 'BAD_HOST'],
  ['empty Host', 'GET / HTTP/1.1\r\nHost: \r\n\r\n', 'BAD_HOST'],
  ['Host with slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 'BAD_HOST'],
  ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n', 'BAD_HOST'],
  ['Host a..b', 'GET / HTTP/1.1\r\nHost: a..b\r\n\r\n', 'BAD_HOST'],
  ['Host .a (nginx: 200)', 'GET / HTTP/1.1\r\nHost: .a\r\n\r\n', 'BAD_HOST'],
  ['Host with %', 'GET / HTTP/1.1\r\nHost: a%41\r\n\r\n', 'BAD_HOST'],
  ['Host port not digits (nginx: 200)', 'GET / HTTP/1.1\r\nHost: a:xyz\r\n\r\n', 'BAD_HOST'],
  ['Host port above 65535', 'GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n', 'BAD_HOST'],
  ['Host two colons', 'GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n', 'BAD_HOST'],
  ['Host unbracketed IPv6', 'GET / HTTP/1.1\r\nHost: ::1\r\n\r\n', 'BAD_HOST'],
  ['Host unclosed bracket', 'GET / HTTP/1.1\r\nHost: [::1\r\n\r\n', 'BAD_HOST'],
  ['Host empty brackets', 'GET / HTTP/1.1\r\nHost: []\r\n\r\n', 'BAD_HOST'],
  ['Host junk in brackets', 'GET / HTTP/1.1\r\nHost: [a/b]\r\n\r\n', 'BAD_HOST'],
  ['bad Host on HTTP/1.0 too', 'GET / HTTP/1.0\r\nHost: a b\r\n\r\n', 'BAD_HOST'],
  // framing
  ['CL and TE', post('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n'), 'CL_TE'],
  ['TE and CL', post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n'), 'CL_TE'],
  ['two equal CL', post('Content-Length: 3\r\nContent-Length: 3\r\n'), 'DUPLICATE_CL'],
  ['two different CL', post('Content-Length: 3\r\nContent-Length: 4\r\n'), 'DUPLICATE_CL'],
  ['CL list', post('Content-Length: 3, 3\r\n'), 'BAD_CL'],
  ['CL with plus', post('Content-Length: +3\r\n'), 'BAD_CL'],
  ['CL negative', post('Content-Length: -3\r\n'), 'BAD_CL'],
  ['CL with inner space', post('Content-Length: 1 3\r\n'), 'BAD_CL'],
  ['CL hex', post('Content-Length: 0x10\r\n'), 'BAD_CL'],
  ['CL empty', post('Content-Length: \r\n'), 'BAD_CL'],
  ['CL above 2^53', post('Content-Length: 9007199254740992\r\n'), 'BAD_CL'],
  ['CL of 20 digits', post('Content-Length: 99999999999999999999\r\n'), 'BAD_CL'],
  ['TE gzip, chunked (nginx: 501)', post('Transfer-Encoding: gzip, chunked\r\n'), 'UNSUPPORTED_TE'],
  ['TE chunked, gzip', post('Transfer-Encoding: chunked, gzip\r\n'), 'UNSUPPORTED_TE'],
  ['TE xchunked', post('Transfer-Encoding: xchunked\r\n'), 'UNSUPPORTED_TE'],
  ['TE chunked twice in one line', post('Transfer-Encoding: chunked, chunked\r\n'), 'UNSUPPORTED_TE'],
  ['TE identity', post('Transfer-Encoding: identity\r\n'), 'UNSUPPORTED_TE'],
  ['TE empty', post('Transfer-Encoding: \r\n'), 'UNSUPPORTED_TE'],
  ['TE twice', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'), 'DUPLICATE_TE'],
  ['TE on HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'TE_HTTP10'],
  ['CL over maxBodySize', post('Content-Length: 2000\r\n'), 'BODY_TOO_LARGE'],
  ['unknown expectation', get('/', 'Expect: foo\r\n'), 'BAD_EXPECT'],
  ['100-continue with a parameter', get('/', 'Expect: 100-continue; x\r\n'), 'BAD_EXPECT'],
];

describe('RequestHeadParser rejects', () => {
  it.each(REJECT)('%s', (name, raw, code) => {
    const outcome = parseRequest(raw, name === 'CL over maxBodySize' ? { maxBodySize: 1000 } : {});
    expect(outcome).toMatchObject({ error: code });
  });

  it('answers with the status of the class', () => {
    expect(parseRequest(get('/', '', 'HTTP/2.0'))).toMatchObject({ status: 505 });
    expect(parseRequest(get(`/${'a'.repeat(8200)}`))).toMatchObject({ status: 414 });
    expect(parseRequest(get('/', `X: ${'v'.repeat(8200)}\r\n`))).toMatchObject({ status: 431 });
    expect(parseRequest(post('Transfer-Encoding: gzip, chunked\r\n'))).toMatchObject({ status: 501 });
    expect(parseRequest(get('/', 'Expect: foo\r\n'))).toMatchObject({ status: 417 });
    expect(parseRequest(post('Content-Length: 2000\r\n'), { maxBodySize: 10 })).toMatchObject({ status: 413 });
    expect(parseRequest('GET / HTTP/1.1\r\n\r\n')).toMatchObject({ status: 400 });
  });

  it('reports an over-long request line before its end arrives', () => {
    const parser = new RequestHeadParser();
    expect(parser.feed(Buffer.from(`GET /${'a'.repeat(9000)}`))).toBe(ERROR);
    expect(parser.error?.code).toBe('URI_TOO_LONG');
  });

  it('reports an endless head without waiting for its end', () => {
    const parser = new RequestHeadParser({ maxHeadSize: 4096, maxFields: 1000 });
    let r = parser.feed(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'));
    for (let i = 0; i < 200 && r === NEED_MORE; i++) r = parser.feed(Buffer.from('X-Filler: 0123456789\r\n'));
    expect(r).toBe(ERROR);
    expect(parser.error?.code).toBe('HEAD_TOO_LARGE');
  });

  it('bounds leading empty lines', () => {
    expect(parseRequest(`${'\r\n'.repeat(5000)}GET / HTTP/1.1\r\n${H}\r\n`)).toMatchObject({ error: 'HEAD_TOO_LARGE' });
  });
});

describe('RequestHeadParser accepts', () => {
  it('a typical GET: fields in order, original case, body offset', () => {
    const raw = `GET /a/b?x=1&y HTTP/1.1\r\nHost: Shop.Example:8080\r\nUser-Agent: curl/8\r\naccept:*/*\r\nX-Empty:\r\nX-Pad: \t v \t \r\n\r\nNEXT`;
    expect(parseRequest(raw)).toEqual({
      at: raw.length - 4, method: 'GET', target: '/a/b?x=1&y', form: 'origin', path: '/a/b', query: '?x=1&y', version: 1,
      host: 'Shop.Example:8080', framing: 'none', contentLength: 0, keepAlive: true, upgrade: false, expectContinue: false,
      headers: [['Host', 'Shop.Example:8080'], ['User-Agent', 'curl/8'], ['accept', '*/*'], ['X-Empty', ''], ['X-Pad', 'v']],
    });
  });

  it('leading empty lines before the request line', () => {
    const raw = `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`;
    expect(parseRequest(raw)).toMatchObject({ at: raw.length, method: 'GET' });
  });

  it.each([
    ['Content-Length', post('Content-Length: 42\r\n'), { framing: 'length', contentLength: 42 }],
    ['Content-Length with leading zeros (as nginx)', post('Content-Length: 007\r\n'), { framing: 'length', contentLength: 7 }],
    ['Content-Length 0', post('Content-Length: 0\r\n'), { framing: 'length', contentLength: 0 }],
    ['Content-Length 2^53 - 1', post('Content-Length: 9007199254740991\r\n'), { framing: 'length', contentLength: 2 ** 53 - 1 }],
    ['chunked, any case', post('Transfer-Encoding: ChUnKeD\r\n'), { framing: 'chunked' }],
    ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', { version: 0, host: '', keepAlive: false }],
    ['HTTP/1.0 keep-alive', 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', { keepAlive: true }],
    ['HTTP/1.1 close', get('/', 'Connection: close\r\n'), { keepAlive: false }],
    ['close among other tokens', get('/', 'Connection: foo, , Close \r\n'), { keepAlive: false }],
    ['upgrade', get('/ws', 'Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n'), { upgrade: true, keepAlive: true }],
    ['Upgrade without Connection: upgrade', get('/ws', 'Upgrade: websocket\r\n'), { upgrade: false }],
    ['upgrade token without Upgrade field', get('/ws', 'Connection: upgrade\r\n'), { upgrade: false }],
    ['upgrade on HTTP/1.0 is ignored', 'GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n', { upgrade: false }],
    ['Expect: 100-continue', post('Content-Length: 5\r\nExpect: 100-Continue\r\n'), { expectContinue: true }],
    ['Expect on HTTP/1.0 is ignored', 'POST / HTTP/1.0\r\nExpect: whatever\r\nContent-Length: 1\r\n\r\n', { expectContinue: false }],
    ['absolute-form: authority replaces Host', get('http://B.example:81/p?q'), { form: 'absolute', host: 'B.example:81', path: '/p', query: '?q' }],
    ['absolute-form https, no path', get('HTTPS://b.example'), { form: 'absolute', host: 'b.example', path: '', query: '' }],
    ['absolute-form, query without path', get('http://b?q'), { form: 'absolute', host: 'b', path: '', query: '?q' }],
    ['Host IPv4 with port', 'GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n', { host: '10.0.0.1:80' }],
    ['Host IP-literal with port', 'GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n', { host: '[::1]:80' }],
    ['Host with empty port', 'GET / HTTP/1.1\r\nHost: a:\r\n\r\n', { host: 'a:' }],
    ['Host trailing dot', 'GET / HTTP/1.1\r\nHost: a.example.\r\n\r\n', { host: 'a.example.' }],
    ['Host underscore', 'GET / HTTP/1.1\r\nHost: a_b\r\n\r\n', { host: 'a_b' }],
    ['obs-text in a value', get('/', 'X: caf\xe9\r\n'), { headers: [['Host', 'a.example'], ['X', 'caf\xe9']] }],
    ['HTAB inside a value', get('/', 'X: a\tb\r\n'), { headers: [['Host', 'a.example'], ['X', 'a\tb']] }],
    ['raw UTF-8 and quotes in the path (as nginx)', get('/caf\xc3\xa9/"x"'), { path: '/caf\xc3\xa9/"x"' }],
    ['invalid %-escape in the query (as nginx)', get('/a?100%'), { path: '/a', query: '?100%' }],
    ['dots inside segments', get('/a.b/..c/.d./...'), { path: '/a.b/..c/.d./...' }],
    ['%2F stays raw', get('/a%2Fb'), { path: '/a%2Fb' }],
    ['100 fields', get('/', 'X: y\r\n'.repeat(99)), { method: 'GET' }],
    ['method with _ and -', `M-SEARCH_X / HTTP/1.1\r\n${H}\r\n`, { method: 'M-SEARCH_X' }],
  ])('%s', (_name, raw, expected) => {
    expect(parseRequest(raw)).toMatchObject({ at: raw.length, ...expected });
  });

  it('asterisk-form and authority-form when enabled', () => {
    expect(parseRequest(`OPTIONS * HTTP/1.1\r\n${H}\r\n`, { allowAsterisk: true })).toMatchObject({ form: 'asterisk', host: 'a.example', path: '' });
    expect(parseRequest(`CONNECT b.example:443 HTTP/1.1\r\n${H}\r\n`, { allowConnect: true })).toMatchObject({ form: 'authority', host: 'b.example:443' });
  });

  it('limits are options', () => {
    expect(parseRequest(get('/', 'X: y\r\n'.repeat(3)), { maxFields: 3 })).toMatchObject({ error: 'TOO_MANY_FIELDS' });
    expect(parseRequest(get('/', 'X: y\r\n'.repeat(2)), { maxFields: 3 })).toMatchObject({ method: 'GET' });
    expect(parseRequest(get('/', `X: ${'v'.repeat(90)}\r\n`), { maxLineSize: 64 })).toMatchObject({ error: 'HEADER_LINE_TOO_LONG' });
    expect(parseRequest(get('/', `X: ${'v'.repeat(90)}\r\n`), { maxHeadSize: 100 })).toMatchObject({ error: 'HEAD_TOO_LARGE' });
  });

  it('a line of exactly maxLineSize bytes passes, one more fails', () => {
    const line = (n: number): string => `X: ${'v'.repeat(n - 5)}\r\n`;
    expect(parseRequest(get('/', line(100)), { maxLineSize: 100 })).toMatchObject({ method: 'GET' });
    expect(parseRequest(get('/', line(101)), { maxLineSize: 100 })).toMatchObject({ error: 'HEADER_LINE_TOO_LONG' });
  });

  it('parses pipelined requests in one chunk, in order', () => {
    const one = `GET /1 HTTP/1.1\r\n${H}\r\n`;
    const two = `POST /2 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`;
    const three = `GET /3 HTTP/1.1\r\n${H}\r\n`;
    const chunk = Buffer.from(one + two + three);
    const parser = new RequestHeadParser();
    const paths: string[] = [];
    let at = 0;
    while (at < chunk.length) {
      const r = parser.feed(chunk, at);
      expect(r).toBeGreaterThan(0);
      const head = parser.head!;
      paths.push(head.path);
      at = r + head.contentLength;
      parser.reset();
    }
    expect(paths).toEqual(['/1', '/2', '/3']);
  });

  it('keeps the head valid after the chunk it arrived in was copied out (split heads own their bytes)', () => {
    const parser = new RequestHeadParser();
    const a = Buffer.from('GET /x HTTP/1.1\r\nHo');
    const b = Buffer.from(`st: a\r\nX-A: 1\r\n\r\n`);
    expect(parser.feed(a)).toBe(NEED_MORE);
    a.fill(0);
    expect(parser.feed(b)).toBe(b.length);
    b.fill(0);
    expect(parser.head!.entries()).toEqual([['Host', 'a'], ['X-A', '1']]);
  });

  it('a head stays valid after the parser has moved on to the next one', () => {
    const parser = new RequestHeadParser();
    const chunk = Buffer.from(`GET /1 HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n`);
    const at = parser.feed(chunk);
    const first = parser.head!;
    parser.reset();
    parser.feed(chunk, at);
    expect(parser.head!.entries()).toEqual([['Host', 'b']]);
    expect(first.entries()).toEqual([['Host', 'a'], ['X-One', '1']]);
  });

  it('each head of a connection gets its own target and host, whether they repeat the previous one or not', () => {
    const parser = new RequestHeadParser();
    const seen: [string, string][] = [];
    // Same lengths, different bytes; then a repeat; then other lengths (the previous strings are compared to the new bytes).
    for (const [target, host] of [['/a', 'a.example'], ['/b', 'b.example'], ['/b', 'b.example'], ['/', 'B.example'], ['/x?y', 'b.example:81'], ['/', 'b.example']]) {
      expect(parser.feed(Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`))).toBeGreaterThan(0);
      seen.push([parser.head!.target, parser.head!.host]);
      parser.reset();
    }
    expect(seen).toEqual([['/a', 'a.example'], ['/b', 'b.example'], ['/b', 'b.example'], ['/', 'B.example'], ['/x?y', 'b.example:81'], ['/', 'b.example']]);
  });

  it('refuses to be fed after a head until reset', () => {
    const parser = new RequestHeadParser();
    parser.feed(Buffer.from(get('/')));
    expect(() => parser.feed(Buffer.from(get('/')))).toThrow(/reset/);
  });

  it('HeadFields lookups', () => {
    const parser = new RequestHeadParser();
    parser.feed(Buffer.from(get('/', 'X-Forwarded-For: 1.2.3.4\r\nx-forwarded-for: 5.6.7.8\r\n')));
    const head = parser.head!;
    expect(head.get('x-forwarded-for')).toBe('1.2.3.4');
    expect(head.indexOf('host')).toBe(0);
    expect(head.indexOf('nope')).toBe(-1);
    expect(head.nameIs(2, 'x-forwarded-for')).toBe(true);
  });
});
