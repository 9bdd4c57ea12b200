// The upstream response-head parser: hostile backends. Every case is fed whole, split at every
// boundary and byte by byte (feed.ts).
import { describe, expect, it } from 'vitest';
import { type ResponseHead, ResponseHeadParser } from '../../src/http1/index.js';
import { parseResponse } from './feed.js';

const ok = (fields: string, status = '200 OK', version = 'HTTP/1.1'): string => `${version} ${status}\r\n${fields}\r\n`;

describe('ResponseHeadParser rejects', () => {
  it.each([
    ['double Content-Length, equal', ok('Content-Length: 5\r\nContent-Length: 5\r\n'), 'DUPLICATE_CL'],
    ['double Content-Length, different', ok('Content-Length: 5\r\nContent-Length: 6\r\n'), 'DUPLICATE_CL'],
    ['Content-Length list', ok('Content-Length: 5, 5\r\n'), 'BAD_CL'],
    ['Content-Length sign', ok('Content-Length: +5\r\n'), 'BAD_CL'],
    ['Content-Length above 2^53', ok('Content-Length: 9007199254740993\r\n'), 'BAD_CL'],
    ['CL and TE', ok('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'), 'CL_TE'],
    ['TE twice', ok('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'), 'DUPLICATE_TE'],
    ['TE chunked not last', ok('Transfer-Encoding: chunked, gzip\r\n'), 'UNSUPPORTED_TE'],
    ['TE chunked twice', ok('Transfer-Encoding: chunked, chunked\r\n'), 'UNSUPPORTED_TE'],
    ['TE non-token coding', ok('Transfer-Encoding: gz"ip\r\n'), 'UNSUPPORTED_TE'],
    ['TE on HTTP/1.0', ok('Transfer-Encoding: chunked\r\n', '200 OK', 'HTTP/1.0'), 'TE_HTTP10'],
    ['CR injected in a value', ok('Set-Cookie: a\rX-Evil: 1\r\n'), 'BARE_CR'],
    ['LF injected in a value', ok('Set-Cookie: a\nX-Evil: 1\r\n'), 'BARE_LF'],
    ['NUL in a value', ok('X: a\x00b\r\n'), 'BAD_FIELD_VALUE'],
    ['obs-fold', ok('X: a\r\n b\r\n'), 'OBS_FOLD'],
    ['space before colon', ok('Content-Length : 5\r\n'), 'SPACE_BEFORE_COLON'],
    ['oversize field line', ok(`X: ${'v'.repeat(8200)}\r\n`), 'HEADER_LINE_TOO_LONG'],
    ['oversize head', ok(`X: ${'v'.repeat(8000)}\r\n`.repeat(5)), 'HEAD_TOO_LARGE'],
    ['too many fields', ok('X: y\r\n'.repeat(101)), 'TOO_MANY_FIELDS'],
    ['HTTP/2.0 status line', ok('', '200 OK', 'HTTP/2.0'), 'BAD_STATUS_LINE'],
    ['HTTP/1.2 status line', ok('', '200 OK', 'HTTP/1.2'), 'BAD_STATUS_LINE'],
    ['two-digit status', ok('', '20 OK'), 'BAD_STATUS_LINE'],
    ['four-digit status', ok('', '2000 OK'), 'BAD_STATUS_LINE'],
    ['status 600', ok('', '600 X'), 'BAD_STATUS_LINE'],
    ['status 099', ok('', '099 X'), 'BAD_STATUS_LINE'],
    ['CTL in reason', ok('', '200 O\x01K'), 'BAD_STATUS_LINE'],
    ['no status', 'HTTP/1.1\r\n\r\n', 'BAD_STATUS_LINE'],
    ['leading empty line', `\r\n${ok('')}`, 'BAD_STATUS_LINE'],
    ['not HTTP at all', 'SSH-2.0-OpenSSH\r\n\r\n', 'BAD_STATUS_LINE'],
    ['bare LF status line', 'HTTP/1.1 200 OK\n\n', 'BARE_LF'],
    ['101 the request did not ask for', ok('Upgrade: websocket\r\nConnection: upgrade\r\n', '101 Switching Protocols'), 'UNEXPECTED_101'],
  ])('%s', (_name, raw, code) => {
    expect(parseResponse(raw)).toMatchObject({ error: code, status: 502 });
  });
});

describe('ResponseHeadParser framing', () => {
  it.each([
    ['Content-Length', ok('Content-Length: 5\r\n'), {}, { framing: 'length', contentLength: 5, keepAlive: true }],
    ['chunked', ok('Transfer-Encoding: chunked\r\n'), {}, { framing: 'chunked' }],
    ['gzip, chunked', ok('Transfer-Encoding: gzip, chunked\r\n'), {}, { framing: 'chunked' }],
    ['TE without chunked: close-delimited', ok('Transfer-Encoding: gzip\r\n'), {}, { framing: 'close', keepAlive: false }],
    ['no length: close-delimited', ok('X: y\r\n'), {}, { framing: 'close', keepAlive: false }],
    ['204 ignores CL', ok('Content-Length: 5\r\n', '204 No Content'), {}, { framing: 'none', contentLength: 0, keepAlive: true }],
    ['304 ignores CL', ok('Content-Length: 5\r\n', '304 Not Modified'), {}, { framing: 'none', keepAlive: true }],
    ['304 without CL keeps the connection', ok('ETag: "x"\r\n', '304 Not Modified'), {}, { framing: 'none', keepAlive: true }],
    ['HEAD response has no body', ok('Content-Length: 500\r\n'), { head: true }, { framing: 'none', keepAlive: true }],
    ['HEAD response chunked has no body', ok('Transfer-Encoding: chunked\r\n'), { head: true }, { framing: 'none' }],
    ['100 Continue is interim', 'HTTP/1.1 100 Continue\r\n\r\n', {}, { interim: true, status: 100, framing: 'none' }],
    ['103 Early Hints is interim, fields kept', ok('Link: </a.css>; rel=preload\r\n', '103 Early Hints'), {}, { interim: true, headers: [['Link', '</a.css>; rel=preload']] }],
    ['101 to an upgrade request', ok('Upgrade: websocket\r\nConnection: Upgrade\r\n', '101 Switching Protocols'), { upgrade: true }, { upgrade: true, interim: false, framing: 'none', keepAlive: false }],
    ['Connection: close', ok('Content-Length: 0\r\nConnection: close\r\n'), {}, { keepAlive: false }],
    ['HTTP/1.0 without keep-alive', ok('Content-Length: 0\r\n', '200 OK', 'HTTP/1.0'), {}, { keepAlive: false, version: 0 }],
    ['HTTP/1.0 with keep-alive', ok('Content-Length: 0\r\nConnection: keep-alive\r\n', '200 OK', 'HTTP/1.0'), {}, { keepAlive: true }],
    ['status line without reason', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', {}, { status: 200, reason: '' }],
    ['status line with empty reason', 'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n', {}, { reason: '' }],
    ['reason with obs-text and tab', ok('Content-Length: 0\r\n', '200 \xc3\xa7a\tva'), {}, { reason: '\xc3\xa7a\tva' }],
    ['header name case kept', ok('content-LENGTH: 1\r\nX-MiXeD: v\r\n'), {}, { headers: [['content-LENGTH', '1'], ['X-MiXeD', 'v']] }],
  ])('%s', (_name, raw, context, expected) => {
    expect(parseResponse(raw, context)).toMatchObject({ at: raw.length, ...expected });
  });

  it('parses interim responses and then the final one from one chunk', () => {
    const chunk = Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi');
    const parser = new ResponseHeadParser();
    const heads: ResponseHead[] = [];
    let at = 0;
    for (;;) {
      parser.expect({ head: false, upgrade: false });
      at = parser.feed(chunk, at);
      heads.push(parser.head!);
      if (!parser.head!.interim) break;
    }
    expect(heads.map((h) => h.status)).toEqual([100, 103, 200]);
    // each head keeps its own fields after the parser moved on
    expect(heads.map((h) => h.entries())).toEqual([[], [['Link', '<a>']], [['Content-Length', '2']]]);
    expect(chunk.subarray(at).toString()).toBe('hi');
  });
});
