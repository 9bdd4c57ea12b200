import { describe, expect, it } from 'vitest';
import { candidates, freeCount, type Range } from '../../../src/cni/ipam/host-local/range-set.js';
import { formatIp, parseCidr, parseIp } from '../../../src/lib/cidr.js';

const ip = (t: string) => parseIp(t)!;
const range = (subnet: string, start: string, end: string, gateway: string): Range => ({ subnet: parseCidr(subnet)!, rangeStart: ip(start), rangeEnd: ip(end), gateway: ip(gateway) });
const walk = (set: Range[], last?: string) => [...candidates(set, last ? ip(last) : undefined)].map((c) => formatIp(c.ip));

describe('candidates (round-robin order)', () => {
  const small = [range('10.0.0.0/29', '10.0.0.1', '10.0.0.6', '10.0.0.1')];

  it('starts at rangeStart, skipping the gateway, and visits every address once', () => {
    expect(walk(small)).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('continues after the last reserved address and wraps around', () => {
    expect(walk(small, '10.0.0.4')).toEqual(['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect(walk(small, '10.0.0.6')).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('ignores a last reserved address outside the set', () => {
    expect(walk(small, '192.168.0.1')).toEqual(walk(small));
  });

  it('moves across the ranges of a set', () => {
    const set = [range('10.0.0.0/24', '10.0.0.10', '10.0.0.11', '10.0.0.1'), range('10.0.1.0/24', '10.0.1.1', '10.0.1.3', '10.0.1.1')];
    expect(walk(set)).toEqual(['10.0.0.10', '10.0.0.11', '10.0.1.2', '10.0.1.3']);
    expect(walk(set, '10.0.1.2')).toEqual(['10.0.1.3', '10.0.0.10', '10.0.0.11', '10.0.1.2']);
  });

  it('ends when the only address is the gateway', () => {
    expect(walk([range('10.0.0.0/24', '10.0.0.1', '10.0.0.1', '10.0.0.1')])).toEqual([]);
  });

  it('counts free addresses, not the gateway', () => {
    expect(freeCount(small, [])).toBe(5n);
    expect(freeCount(small, [ip('10.0.0.2'), ip('10.0.0.1'), ip('10.0.0.9')])).toBe(4n);
    expect(freeCount([range('fd00::/64', 'fd00::1', 'fd00::ffff:ffff:ffff:ffff', 'fd00::1')], [])).toBe(2n ** 64n - 2n);
  });
});
