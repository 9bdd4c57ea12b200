import { describe, expect, it } from 'vitest';
import { forwardedAddress, RealIp, type RealIpPolicy } from '../../src/lib/real-ip.js';

const policy = (over: Partial<RealIpPolicy> = {}): RealIpPolicy => ({ trusted: ['10.0.0.0/8'], header: 'x-forwarded-for', passForwarded: false, fullForwardedFor: false, ...over });
const own = { host: 'web.example.com', port: '443', proto: 'https' };

describe('RealIp (nginx real_ip with real_ip_recursive on)', () => {
  it('believes the header only from a trusted peer, and takes the right-most untrusted address', () => {
    const realIp = new RealIp(policy());
    expect(realIp.clientOf('192.0.2.9', '203.0.113.5')).toBe('192.0.2.9'); // untrusted peer: its header is the client's to forge
    expect(realIp.clientOf('10.0.0.1', '203.0.113.5')).toBe('203.0.113.5');
    // A client that prepends its own choice gets nothing: the right-most untrusted address wins.
    expect(realIp.clientOf('10.0.0.1', '1.2.3.4, 203.0.113.5, 10.0.0.7')).toBe('203.0.113.5');
    // Every hop trusted: the left-most.
    expect(realIp.clientOf('10.0.0.1', '10.1.1.1, 10.2.2.2')).toBe('10.1.1.1');
    // Garbage stops the walk at the last good address.
    expect(realIp.clientOf('10.0.0.1', 'evil, 10.9.9.9')).toBe('10.9.9.9');
    expect(realIp.clientOf('10.0.0.1', 'not-an-ip')).toBe('10.0.0.1');
    expect(realIp.clientOf('10.0.0.1', undefined)).toBe('10.0.0.1');
    expect(realIp.clientOf('10.0.0.1', '2001:db8::1')).toBe('2001:db8::1');
  });

  it('reads an entry with a port as nginx (ngx_parse_addr_port): IPv4:port and [IPv6]:port are the address; a bad port or a bare [IPv6] is not an address', () => {
    expect(['203.0.113.5:4711', '[2001:db8::1]:443', '[203.0.113.5]:1', '203.0.113.5:65535', '203.0.113.5:080', '2001:db8::1'].map(forwardedAddress)).toEqual(['203.0.113.5', '2001:db8::1', '203.0.113.5', '203.0.113.5', '203.0.113.5', '2001:db8::1']);
    for (const bad of ['203.0.113.5:0', '203.0.113.5:65536', '203.0.113.5:', '203.0.113.5:x1', '203.0.113.5:80:81', '[2001:db8::1]', '[2001:db8::1]443', '[2001:db8::1:443', 'evil:80', ':80', '[]:80', '203.0.113.5:99999999999', '203.0.113.5:+80']) expect(forwardedAddress(bad), bad).toBeUndefined();
    const realIp = new RealIp(policy());
    expect(realIp.clientOf('10.0.0.1', '198.51.100.1:1000, 203.0.113.5:4711')).toBe('203.0.113.5');
    expect(realIp.clientOf('10.0.0.1', '198.51.100.1, [2001:db8::7]:443, 10.0.0.7:8080')).toBe('2001:db8::7');
    // A trusted hop with a port passes the question on, as one without.
    expect(realIp.clientOf('10.0.0.1', '198.51.100.1:1000, 10.0.0.7:8080')).toBe('198.51.100.1');
    // A bad port stops the walk at the last good address.
    expect(realIp.clientOf('10.0.0.1', '198.51.100.1, 10.9.9.9, 203.0.113.5:0')).toBe('10.0.0.1');
    expect(new RealIp(policy({ header: 'x-real-ip' })).clientOf('10.0.0.1', '203.0.113.5:4711')).toBe('203.0.113.5');
  });

  it('gives steps the forwarded scheme of a trusted peer only with use-forwarded-headers (http or https)', () => {
    const pass = new RealIp(policy({ passForwarded: true }));
    expect(pass.schemeOf('10.0.0.1', 'https', 'http')).toBe('https');
    expect(pass.schemeOf('10.0.0.1', 'HTTPS ', 'http')).toBe('https');
    expect(pass.schemeOf('10.0.0.1', 'gopher', 'http')).toBe('http');
    expect(pass.schemeOf('192.0.2.9', 'https', 'http')).toBe('http');
    expect(new RealIp(policy()).schemeOf('10.0.0.1', 'https', 'http')).toBe('http');
  });

  it('builds the forwarded fields: the client as X-Real-IP, the full chain with compute-full-forwarded-for, passed X-Forwarded-* only with use-forwarded-headers from a trusted peer', () => {
    const fields: Record<string, string> = { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'outer.example.com', 'x-forwarded-port': '80' };
    const read = (name: string) => fields[name];
    expect(new RealIp(policy()).forwarded('10.0.0.1', '203.0.113.5', read, own)).toEqual({ client: '203.0.113.5', forwardedFor: '203.0.113.5', ...own });
    expect(new RealIp(policy({ fullForwardedFor: true })).forwarded('10.0.0.1', '203.0.113.5', read, own).forwardedFor).toBe('203.0.113.5, 10.0.0.1');
    expect(new RealIp(policy({ passForwarded: true })).forwarded('10.0.0.1', '203.0.113.5', read, own)).toEqual({ client: '203.0.113.5', forwardedFor: '203.0.113.5', host: 'outer.example.com', port: '80', proto: 'http' });
    // An untrusted peer's X-Forwarded-* are never passed on, nor its X-Forwarded-For chained.
    expect(new RealIp(policy({ passForwarded: true, fullForwardedFor: true })).forwarded('192.0.2.9', '192.0.2.9', read, own)).toEqual({ client: '192.0.2.9', forwardedFor: '192.0.2.9', ...own });
    // A value that could smuggle a field or a list is not passed.
    const hostile = (name: string) => (name === 'x-forwarded-proto' ? 'https\r\nx-admin: 1' : name === 'x-forwarded-host' ? 'a.example, b.example' : undefined);
    expect(new RealIp(policy({ passForwarded: true })).forwarded('10.0.0.1', '10.0.0.1', hostile, own)).toMatchObject({ proto: 'https', host: 'web.example.com' });
  });
});
