import { describe, expect, it } from 'vitest';
import { buildRequestHead, buildResponseHeaders, clientAddressOf, renderUpgradeHead } from '../../src/proxy/hop-by-hop.js';
import type { RequestHead } from '../../src/proxy/hop-by-hop.js';
import { parseAbsoluteTarget } from '../../src/proxy/request-target.js';

const listener = { proto: 'https' as const, port: '8443' };

function head(raw: string[], hostOverride?: string): RequestHead {
  const into: RequestHead = { headers: [], host: undefined, hasBody: false, upgrade: undefined, requestId: '' };
  buildRequestHead(raw, '10.1.2.3', listener, hostOverride, into);
  return into;
}

describe('buildRequestHead', () => {
  it('keeps end-to-end headers in order with their case and duplicates, appends forwarding headers', () => {
    const h = head(['Host', 'a.example', 'Accept', '*/*', 'X-Dup', '1', 'x-dup', '2', 'X-Forwarded-For', '6.6.6.6', 'X-Real-IP', '7.7.7.7']);
    expect(h.headers).toEqual([
      'Host', 'a.example', 'Accept', '*/*', 'X-Dup', '1', 'x-dup', '2',
      'x-forwarded-for', '10.1.2.3', 'x-real-ip', '10.1.2.3', 'x-forwarded-host', 'a.example',
      'x-forwarded-port', '8443', 'x-forwarded-proto', 'https', 'x-request-id', h.requestId,
    ]);
    expect(h.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/); // generated: none was sent
    expect(h.host).toBe('a.example');
    expect(h.hasBody).toBe(false);
  });

  it('drops hop-by-hop headers and every header named in Connection (any case, several Connection lines)', () => {
    const h = head([
      'Host', 'a', 'Connection', 'Keep-Alive, X-A', 'connection', 'x-b', 'X-A', '1', 'X-B', '2', 'X-C', '3',
      'Keep-Alive', 'timeout=1', 'Proxy-Connection', 'x', 'TE', 'trailers', 'Trailer', 'X', 'Upgrade', 'h2c', 'Expect', '100-continue',
    ]);
    expect(h.headers.filter((_, i) => i % 2 === 0)).toEqual(['Host', 'X-C', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-request-id']);
    expect(h.upgrade).toBe('h2c');
  });

  it('detects bodies from Content-Length and Transfer-Encoding (which it drops)', () => {
    expect(head(['Host', 'a', 'Content-Length', '0']).hasBody).toBe(false);
    expect(head(['Host', 'a', 'Content-Length', '12']).hasBody).toBe(true);
    const chunked = head(['Host', 'a', 'Transfer-Encoding', 'chunked']);
    expect(chunked.hasBody).toBe(true);
    expect(chunked.headers).not.toContain('Transfer-Encoding');
  });

  it('uses the absolute-form authority as Host', () => {
    expect(head(['Host', 'ignored'], 'abs.example').headers.slice(0, 2)).toEqual(['Host', 'abs.example']);
    const added = head([], 'abs.example');
    expect(added.host).toBe('abs.example');
    expect(added.headers.slice(0, 2)).toEqual(['host', 'abs.example']);
  });

  it('omits X-Forwarded-Host without a Host', () => {
    expect(head([]).headers).not.toContain('x-forwarded-host');
  });

  it('renders an upgrade head with Connection/Upgrade kept', () => {
    const h = head(['Host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k', 'X-Request-ID', 'req-1']);
    expect(renderUpgradeHead('GET', '/ws?x', h)).toBe(
      'GET /ws?x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\nx-forwarded-for: 10.1.2.3\r\nx-real-ip: 10.1.2.3\r\n' +
        'x-forwarded-host: a\r\nx-forwarded-port: 8443\r\nx-forwarded-proto: https\r\nx-request-id: req-1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
  });

  it('passes the client X-Request-ID on once when it looks like an id, else generates one', () => {
    const passed = head(['Host', 'a', 'x-request-id', 'abc-123', 'X-Request-ID', 'second']);
    expect(passed.requestId).toBe('abc-123');
    expect(passed.headers.filter((v, i) => i % 2 === 0 && v.toLowerCase() === 'x-request-id')).toHaveLength(1);
    for (const junk of ['', 'has space', 'x'.repeat(201), 'ünï']) {
      const replaced = head(['Host', 'a', 'X-Request-ID', junk]);
      expect(replaced.requestId, JSON.stringify(junk)).not.toBe(junk);
      expect(replaced.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(head(['Host', 'a']).requestId).not.toBe(head(['Host', 'a']).requestId);
  });
});

describe('buildResponseHeaders', () => {
  it('flattens, removes hop-by-hop and Connection-named headers, keeps duplicates, adds Server', () => {
    expect(
      buildResponseHeaders({
        'content-type': 'text/plain',
        connection: 'keep-alive, x-hop',
        'keep-alive': 'timeout=5',
        'x-hop': 'gone',
        'transfer-encoding': 'chunked',
        trailer: 'x-t',
        upgrade: 'h2c',
        'proxy-connection': 'x',
        te: 'x',
        'set-cookie': ['a=1', 'b=2'],
        'content-length': '3',
      }),
    ).toEqual(['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-length', '3', 'server', 'portico']);
  });

  it('keeps the upstream Server header', () => {
    expect(buildResponseHeaders({ server: 'nginx' })).toEqual(['server', 'nginx']);
  });
});

describe('helpers', () => {
  it('shows IPv4-mapped addresses as IPv4', () => {
    expect(clientAddressOf('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(clientAddressOf('::1')).toBe('::1');
    expect(clientAddressOf('fd00::ffff:1')).toBe('fd00::ffff:1');
    expect(clientAddressOf(undefined)).toBe('');
  });

  it('parses absolute-form targets', () => {
    expect(parseAbsoluteTarget('http://a.example:81/p?q=1')).toEqual({ authority: 'a.example:81', target: '/p?q=1' });
    expect(parseAbsoluteTarget('HTTPS://user@b.example')).toEqual({ authority: 'b.example', target: '/' });
    expect(parseAbsoluteTarget('http://c.example?x')).toEqual({ authority: 'c.example', target: '/?x' });
    expect(parseAbsoluteTarget('ftp://d.example/')).toBeUndefined();
    expect(parseAbsoluteTarget('*')).toBeUndefined();
    expect(parseAbsoluteTarget('http:///nohost')).toBeUndefined();
  });
});
