import { describe, expect, it } from 'vitest';
import { formatIp } from '../../src/lib/cidr.js';
import { lowestFree, parsePools, poolContains } from '../../src/lb-ipam/pool.js';
import { parseIp } from '../../src/lib/cidr.js';

const bounds = (text: string) => parsePools(text).ranges.map((r) => `${formatIp(r.first)}-${formatIp(r.last)}`);

describe('parsePools', () => {
  const cases: Array<{ name: string; pool: string; want: string[] }> = [
    { name: 'an IPv4 CIDR leaves out network and broadcast', pool: '192.0.2.0/29', want: ['192.0.2.1-192.0.2.6'] },
    { name: 'a /31 and a /32 keep every address', pool: '192.0.2.8/31,192.0.2.20/32', want: ['192.0.2.8-192.0.2.9', '192.0.2.20-192.0.2.20'] },
    { name: 'host bits in a CIDR mean its network', pool: '192.0.2.5/30', want: ['192.0.2.5-192.0.2.6'] },
    { name: 'the range form names exactly its ends, network and broadcast included', pool: '192.0.2.0-192.0.2.3', want: ['192.0.2.0-192.0.2.3'] },
    { name: 'spaces around commas and the dash', pool: ' 192.0.2.10 - 192.0.2.11 , 198.51.100.7', want: ['192.0.2.10-192.0.2.11', '198.51.100.7-198.51.100.7'] },
    { name: 'IPv6 CIDR keeps every address', pool: '2001:db8::/126', want: ['2001:db8::-2001:db8::3'] },
    { name: 'sorted by family, then address', pool: '2001:db8::10-2001:db8::11,198.51.100.0/30,192.0.2.1-192.0.2.2', want: ['192.0.2.1-192.0.2.2', '198.51.100.1-198.51.100.2', '2001:db8::10-2001:db8::11'] },
  ];
  for (const { name, pool, want } of cases) it(name, () => expect(bounds(pool)).toEqual(want));

  const bad: Array<{ name: string; pool: string; message: RegExp }> = [
    { name: 'not an address', pool: 'nope', message: /"nope" is neither a CIDR/ },
    { name: 'bad prefix', pool: '192.0.2.0/33', message: /"192.0.2.0\/33" is not a CIDR/ },
    { name: 'a bad end', pool: '192.0.2.1-192.0.2.300', message: /both ends of a range must be IP addresses/ },
    { name: 'mixed families', pool: '192.0.2.1-2001:db8::1', message: /of one family/ },
    { name: 'backwards', pool: '192.0.2.9-192.0.2.1', message: /ends before it starts/ },
  ];
  for (const { name, pool, message } of bad) {
    it(`skips a range that does not parse (${name}), naming it, and keeps the others`, () => {
      const parsed = parsePools(`192.0.2.100-192.0.2.101,${pool}`);
      expect(parsed.ranges.map((r) => r.text)).toEqual(['192.0.2.100-192.0.2.101']);
      expect(parsed.diagnostics).toHaveLength(1);
      expect(parsed.diagnostics[0]).toMatchObject({ code: 'PORTICO_ERR_LB_POOL', field: '--pool' });
      expect(parsed.diagnostics[0]!.message).toMatch(message);
    });
  }
});

describe('pool lookups', () => {
  const { ranges } = parsePools('192.0.2.0/30,192.0.2.10-192.0.2.10,2001:db8::/127');
  it('poolContains checks family and bounds', () => {
    expect(poolContains(ranges, parseIp('192.0.2.1')!)).toBe(true);
    expect(poolContains(ranges, parseIp('192.0.2.0')!)).toBe(false);
    expect(poolContains(ranges, parseIp('192.0.2.10')!)).toBe(true);
    expect(poolContains(ranges, parseIp('2001:db8::1')!)).toBe(true);
    expect(poolContains(ranges, parseIp('::ffff:192.0.2.1')!)).toBe(true); // IPv4-mapped is IPv4
  });
  it('lowestFree skips taken addresses and moves to the next range', () => {
    expect(formatIp(lowestFree(ranges, 4, new Set())!)).toBe('192.0.2.1');
    expect(formatIp(lowestFree(ranges, 4, new Set([parseIp('192.0.2.1')!.value]))!)).toBe('192.0.2.2');
    expect(formatIp(lowestFree(ranges, 4, new Set([1, 2].map((n) => parseIp(`192.0.2.${n}`)!.value)))!)).toBe('192.0.2.10');
    expect(lowestFree(ranges, 4, new Set([1, 2, 10].map((n) => parseIp(`192.0.2.${n}`)!.value)))).toBeUndefined();
    expect(formatIp(lowestFree(ranges, 6, new Set())!)).toBe('2001:db8::');
  });
});
