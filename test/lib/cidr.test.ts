import { describe, expect, it } from 'vitest';
import {
  compareIp,
  formatCidr,
  formatIp,
  hasHostBits,
  lastOf,
  maskedPrefix,
  networkOf,
  nextIp,
  parseCidr,
  parseIp,
  prefixContains,
  prefixesOverlap,
} from '../../src/lib/cidr.js';

const ip = (text: string) => {
  const parsed = parseIp(text);
  if (!parsed) throw new Error(`bad test address ${text}`);
  return parsed;
};

describe('parseIp / formatIp', () => {
  it.each([
    ['10.244.1.2', '10.244.1.2'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['fd00::2', 'fd00::2'],
    ['FD00:0:0:0:0:0:0:2', 'fd00::2'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952: the first of equal runs
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not shortened
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:10.1.2.3', '10.1.2.3'], // IPv4-mapped is IPv4, as in Go
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
  ])('%s prints as %s', (input, output) => {
    expect(formatIp(ip(input))).toBe(output);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', 'a.b.c.d', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', ':::', 'g::1', '12345::', ' 1.2.3.4'])(
    'rejects %j',
    (input) => {
      expect(parseIp(input)).toBeUndefined();
    },
  );
});

describe('prefixes', () => {
  it('keeps host bits as written and masks on request', () => {
    const cidr = parseCidr('10.244.1.7/24')!;
    expect(formatCidr(cidr)).toBe('10.244.1.7/24');
    expect(hasHostBits(cidr)).toBe(true);
    expect(formatCidr(maskedPrefix(cidr))).toBe('10.244.1.0/24');
    expect(formatIp(networkOf(cidr))).toBe('10.244.1.0');
    expect(formatIp(lastOf(cidr))).toBe('10.244.1.255');
    expect(hasHostBits(parseCidr('10.244.0.0/16')!)).toBe(false);
  });

  it('handles IPv6 and the extremes', () => {
    expect(formatIp(lastOf(parseCidr('fd00:1::/64')!))).toBe('fd00:1::ffff:ffff:ffff:ffff');
    expect(formatCidr(parseCidr('0.0.0.0/0')!)).toBe('0.0.0.0/0');
    expect(formatCidr(parseCidr('::/0')!)).toBe('::/0');
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('fd00::/129')).toBeUndefined();
    expect(parseCidr('10.0.0.0')).toBeUndefined();
    expect(parseCidr('10.0.0.0/08')).toBeUndefined();
    expect(formatCidr(parseCidr('::ffff:10.0.0.0/104')!)).toBe('10.0.0.0/8');
  });

  it('answers containment and overlap', () => {
    const net = parseCidr('10.244.0.0/16')!;
    expect(prefixContains(net, ip('10.244.255.1'))).toBe(true);
    expect(prefixContains(net, ip('10.245.0.1'))).toBe(false);
    expect(prefixContains(net, ip('fd00::1'))).toBe(false);
    expect(prefixesOverlap(net, parseCidr('10.244.3.0/24')!)).toBe(true);
    expect(prefixesOverlap(parseCidr('10.244.3.0/24')!, net)).toBe(true);
    expect(prefixesOverlap(net, parseCidr('10.0.0.0/16')!)).toBe(false);
  });

  it('steps and orders addresses', () => {
    expect(formatIp(nextIp(ip('10.0.0.255')))).toBe('10.0.1.0');
    expect(formatIp(nextIp(ip('255.255.255.255')))).toBe('0.0.0.0');
    expect(formatIp(nextIp(ip('fd00::ffff')))).toBe('fd00::1:0');
    expect(compareIp(ip('10.0.0.2'), ip('10.0.0.10'))).toBeLessThan(0);
    expect(compareIp(ip('10.0.0.2'), ip('fd00::1'))).toBeLessThan(0);
  });
});
