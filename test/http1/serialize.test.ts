// Heads written for the other side: unchanged field lines are copied as received, hop-by-hop
// fields go, framing and upgrade fields are written anew.
import { describe, expect, it, vi } from 'vitest';
import { errorResponse, type RequestHead, RequestHeadParser, ResponseHeadParser, serializeRequestHead, serializeResponseHead } from '../../src/http1/index.js';

function request(raw: string, split?: number): RequestHead {
  const parser = new RequestHeadParser();
  const bytes = Buffer.from(raw, 'latin1');
  if (split === undefined) expect(parser.feed(bytes)).toBeGreaterThanOrEqual(0);
  else {
    parser.feed(bytes.subarray(0, split));
    expect(parser.feed(bytes.subarray(split))).toBeGreaterThanOrEqual(0);
  }
  return parser.head!;
}

function response(raw: string, upgrade = false) {
  const parser = new ResponseHeadParser();
  parser.expect({ head: false, upgrade });
  expect(parser.feed(Buffer.from(raw, 'latin1'))).toBeGreaterThanOrEqual(0);
  return parser.head!;
}

describe('serializeRequestHead', () => {
  it('copies end-to-end fields byte for byte (case, OWS inside values) and drops hop-by-hop ones', () => {
    const raw = 'GET /a?b HTTP/1.1\r\nHost: A.example\r\nConnection: keep-alive, X-Secret\r\nx-MiXeD:  v  w\r\nKeep-Alive: 5\r\nX-Secret: s\r\nTE: trailers\r\nProxy-Connection: x\r\nTrailer: y\r\nUpgrade: h2c\r\nAccept: */*\r\n\r\n';
    for (const split of [undefined, 10, 40, raw.length - 1]) {
      expect(serializeRequestHead(request(raw, split)).toString('latin1')).toBe('GET /a?b HTTP/1.1\r\nHost: A.example\r\nx-MiXeD:  v  w\r\nAccept: */*\r\n\r\n');
    }
  });

  it('keeps every field of a head with more separate runs than its scratch space first holds (300 kept lines between dropped ones)', () => {
    const fields = Array.from({ length: 300 }, (_, i) => `X-K${i}: ${i}\r\nTE: trailers\r\n`).join('');
    const parser = new RequestHeadParser({ maxFields: 1000, maxHeadSize: 64 * 1024 });
    expect(parser.feed(Buffer.from(`GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`, 'latin1'))).toBeGreaterThanOrEqual(0);
    const kept = Array.from({ length: 300 }, (_, i) => `X-K${i}: ${i}\r\n`).join('');
    expect(serializeRequestHead(parser.head!).toString('latin1')).toBe(`GET / HTTP/1.1\r\nHost: a\r\n${kept}\r\n`);
    // The next, small head is not given the previous one's runs.
    expect(serializeRequestHead(request('GET /b HTTP/1.1\r\nHost: b\r\nTE: x\r\nX-Z: 1\r\n\r\n')).toString('latin1')).toBe('GET /b HTTP/1.1\r\nHost: b\r\nX-Z: 1\r\n\r\n');
  });

  it('copies consecutive kept lines as one run', () => {
    const head = request(`GET / HTTP/1.1\r\nHost: a\r\n${'X-A: 1\r\n'.repeat(8)}Connection: close\r\n${'X-B: 2\r\n'.repeat(8)}\r\n`);
    const copy = vi.spyOn(Buffer.prototype, 'copy');
    try {
      serializeRequestHead(head);
      expect(copy).toHaveBeenCalledTimes(2);
    } finally {
      copy.mockRestore();
    }
  });

  it('forwards HTTP/1.0 requests as HTTP/1.1', () => {
    expect(serializeRequestHead(request('GET / HTTP/1.0\r\nX: y\r\n\r\n')).toString()).toBe('GET / HTTP/1.1\r\nX: y\r\n\r\n');
  });

  it('absolute-form: origin-form target, Host from the authority', () => {
    const head = request('GET http://b.example:81/p?q HTTP/1.1\r\nHost: ignored\r\nX: y\r\n\r\n');
    expect(serializeRequestHead(head).toString()).toBe('GET /p?q HTTP/1.1\r\nX: y\r\nHost: b.example:81\r\n\r\n');
    expect(serializeRequestHead(request('GET http://b HTTP/1.1\r\nHost: b\r\n\r\n')).toString()).toBe('GET / HTTP/1.1\r\nHost: b\r\n\r\n');
    expect(serializeRequestHead(request('GET http://b?x HTTP/1.1\r\nHost: b\r\n\r\n')).toString()).toBe('GET /?x HTTP/1.1\r\nHost: b\r\n\r\n');
  });

  it('keeps chunked framing (the body is forwarded raw) and Content-Length', () => {
    expect(serializeRequestHead(request('POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n')).toString()).toBe('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(serializeRequestHead(request('POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\n')).toString()).toBe('POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\n');
  });

  it('re-adds Connection/Upgrade for an upgrade, then the extra fields; drops what it is told to', () => {
    const head = request('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Forwarded-For: 6.6.6.6\r\nSec-WebSocket-Key: k\r\n\r\n');
    const out = serializeRequestHead(head, { drop: new Set(['x-forwarded-for']), extra: 'X-Forwarded-For: 10.0.0.1\r\n' }).toString();
    expect(out).toBe('GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\nUpgrade: websocket\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n');
  });
});

describe('serializeResponseHead', () => {
  it('keeps status, reason and field case; drops hop-by-hop; appends extra', () => {
    const head = response('HTTP/1.0 404 Nope\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Backend: b1\r\n\r\n');
    expect(serializeResponseHead(head, { extra: 'Server: portico\r\n' }).toString()).toBe('HTTP/1.1 404 Nope\r\nContent-Length: 2\r\nX-Backend: b1\r\nServer: portico\r\n\r\n');
  });
  it('chunked responses stay chunked; 101 keeps its upgrade', () => {
    expect(serializeResponseHead(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Encoding: br\r\n\r\n')).toString()).toBe('HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(serializeResponseHead(response('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n', true)).toString()).toBe('HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
  });
});

describe('the first line, copied as received or rebuilt: the same bytes either way', () => {
  it('requests: origin-form HTTP/1.1 copied (after leading empty lines, split or not, first field dropped or not); a new target rebuilt', () => {
    const raw = '\r\nPATCH /p%41?q=\xe9 HTTP/1.1\r\nConnection: close\r\nHost: a\r\n\r\n';
    for (const split of [undefined, 5, 20]) {
      expect(serializeRequestHead(request(raw, split)).toString('latin1')).toBe('PATCH /p%41?q=\xe9 HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(serializeRequestHead(request(raw, split), { target: '/new' }).toString('latin1')).toBe('PATCH /new HTTP/1.1\r\nHost: a\r\n\r\n');
    }
    expect(serializeRequestHead(request('GET / HTTP/1.1\r\nHost: a\r\n\r\n')).toString()).toBe('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  });
  it('responses: HTTP/1.1 with a reason (even an empty one after its SP) copied; without that SP, or HTTP/1.0, rebuilt', () => {
    expect(serializeResponseHead(response('HTTP/1.1 200 OK \xe9\r\nX: y\r\n\r\n')).toString('latin1')).toBe('HTTP/1.1 200 OK \xe9\r\nX: y\r\n\r\n');
    expect(serializeResponseHead(response('HTTP/1.1 204 \r\n\r\n')).toString()).toBe('HTTP/1.1 204 \r\n\r\n');
    expect(serializeResponseHead(response('HTTP/1.1 204\r\n\r\n')).toString()).toBe('HTTP/1.1 204 \r\n\r\n');
    expect(serializeResponseHead(response('HTTP/1.0 200 OK\r\nConnection: close\r\nX: y\r\n\r\n')).toString()).toBe('HTTP/1.1 200 OK\r\nX: y\r\n\r\n');
    expect(serializeResponseHead(response('HTTP/1.1 200 OK\r\nConnection: close\r\nX: y\r\n\r\n'), { extra: 'Z: 1\r\n' }).toString()).toBe('HTTP/1.1 200 OK\r\nX: y\r\nZ: 1\r\n\r\n');
  });
});

describe('extra fields as parts, and a first body part in the same buffer', () => {
  it('writes pre-encoded and string parts in order, Latin-1 byte for byte, short and long strings alike', () => {
    const long = `X-Long: ${'\xe9v'.repeat(60)}\r\n`;
    const parts = [Buffer.from('X-Request-ID: ', 'latin1'), 'abc-\xff', Buffer.from('\r\n', 'latin1'), long, 'X-Empty-Part: 1\r\n', ''];
    const out = serializeRequestHead(request('GET / HTTP/1.1\r\nHost: a\r\nTE: x\r\n\r\n'), { extra: parts });
    expect(out.toString('latin1')).toBe(`GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: abc-\xff\r\n${long}X-Empty-Part: 1\r\n\r\n`);
    // The same head from one joined string.
    expect(serializeRequestHead(request('GET / HTTP/1.1\r\nHost: a\r\nTE: x\r\n\r\n'), { extra: parts.map((p) => (typeof p === 'string' ? p : p.toString('latin1'))).join('') }).equals(out)).toBe(true);
  });

  it('a response head followed by its first body bytes: one buffer, the head unchanged', () => {
    const head = response('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n');
    const alone = serializeResponseHead(head, { extra: [Buffer.from('Server: portico\r\n')] });
    const withBody = serializeResponseHead(head, { extra: [Buffer.from('Server: portico\r\n')], body: Buffer.from('hello') });
    expect(alone.toString()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: portico\r\n\r\n');
    expect(withBody.toString()).toBe(`${alone.toString()}hello`);
    // A rebuilt first line (HTTP/1.0) keeps the body after the blank line too.
    expect(serializeResponseHead(response('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n'), { body: Buffer.from('hi') }).toString()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi');
  });
});

describe('errorResponse', () => {
  it('status line, Content-Length, Connection: close', () => {
    expect(errorResponse(431, '{"status":431}').toString()).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\nServer: portico\r\nContent-Type: application/json\r\nContent-Length: 14\r\nConnection: close\r\n\r\n{"status":431}');
    expect(errorResponse(400).toString()).toBe('HTTP/1.1 400 Bad Request\r\nServer: portico\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
});
