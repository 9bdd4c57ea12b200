import { compareIp, formatIp, lastOf, networkOf, parseCidr, parseIp, type IpAddress, type IpFamily } from '../lib/cidr.js';
import type { Diagnostic } from '../model/route-model.js';

// LoadBalancer address pools: `--pool 192.0.2.0/28,192.0.2.100-192.0.2.110,2001:db8::/120`. Each
// range is an inclusive [first, last] of one family. An IPv4 CIDR leaves out its network and
// broadcast addresses (as a router would; /31 and /32 keep both); the `a-b` form means exactly
// what it names. IPv6 CIDRs keep every address.

export interface PoolRange {
  /** As written, for messages. */
  readonly text: string;
  readonly family: IpFamily;
  readonly first: IpAddress;
  readonly last: IpAddress;
}

export interface ParsedPools {
  /** Sorted by family then first address; the ranges that parsed. */
  readonly ranges: readonly PoolRange[];
  /** One per range that does not parse (PORTICO_ERR_LB_POOL), naming it. */
  readonly diagnostics: readonly Diagnostic[];
}

/** Parses one range; undefined with a reason when it does not parse. */
export function parsePoolRange(text: string): { range: PoolRange } | { error: string } {
  const trimmed = text.trim();
  if (trimmed.includes('/')) {
    const cidr = parseCidr(trimmed);
    if (!cidr) return { error: `${JSON.stringify(trimmed)} is not a CIDR (like 192.0.2.0/24)` };
    const network = networkOf(cidr);
    const broadcast = lastOf(cidr);
    const skipEnds = cidr.ip.family === 4 && cidr.prefix < 31;
    return {
      range: {
        text: trimmed,
        family: cidr.ip.family,
        first: skipEnds ? { family: 4, value: network.value + 1n } : network,
        last: skipEnds ? { family: 4, value: broadcast.value - 1n } : broadcast,
      },
    };
  }
  const dash = trimmed.indexOf('-');
  if (dash < 0) {
    const single = parseIp(trimmed);
    if (!single) return { error: `${JSON.stringify(trimmed)} is neither a CIDR (192.0.2.0/24) nor a range (192.0.2.10-192.0.2.20)` };
    return { range: { text: trimmed, family: single.family, first: single, last: single } };
  }
  const first = parseIp(trimmed.slice(0, dash).trim());
  const last = parseIp(trimmed.slice(dash + 1).trim());
  if (!first || !last) return { error: `${JSON.stringify(trimmed)}: both ends of a range must be IP addresses (like 192.0.2.10-192.0.2.20)` };
  if (first.family !== last.family) return { error: `${JSON.stringify(trimmed)}: the ends of a range must be of one family` };
  if (compareIp(first, last) > 0) return { error: `${JSON.stringify(trimmed)}: the range ends before it starts` };
  return { range: { text: trimmed, family: first.family, first, last } };
}

/**
 * Parses comma-separated ranges (or a list of them). A range that does not parse is skipped with
 * a diagnostic naming it; the others are used.
 */
export function parsePools(input: string | readonly string[]): ParsedPools {
  const parts = (typeof input === 'string' ? input.split(',') : input.flatMap((part) => part.split(','))).map((part) => part.trim()).filter(Boolean);
  const ranges: PoolRange[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const part of parts) {
    const parsed = parsePoolRange(part);
    if ('range' in parsed) ranges.push(parsed.range);
    else diagnostics.push({ severity: 'error', code: 'PORTICO_ERR_LB_POOL', object: POOL_OBJECT, field: '--pool', message: `pool range ${parsed.error}; skipped` });
  }
  ranges.sort((a, b) => compareIp(a.first, b.first) || compareIp(a.last, b.last));
  return { ranges, diagnostics };
}

/** What pool diagnostics are about: the flag, not a Kubernetes object. */
export const POOL_OBJECT = { kind: 'LoadBalancerPool', name: 'pool' } as const;

export function poolContains(ranges: readonly PoolRange[], ip: IpAddress): boolean {
  return ranges.some((range) => range.family === ip.family && compareIp(ip, range.first) >= 0 && compareIp(ip, range.last) <= 0);
}

export function poolFamilies(ranges: readonly PoolRange[]): Set<IpFamily> {
  return new Set(ranges.map((range) => range.family));
}

/** The lowest address of the family in the ranges that `taken` does not hold. */
export function lowestFree(ranges: readonly PoolRange[], family: IpFamily, taken: { has(value: bigint): boolean }): IpAddress | undefined {
  for (const range of ranges) {
    if (range.family !== family) continue;
    // At most |taken| steps across all ranges: each step past the start skips a taken address.
    for (let value = range.first.value; value <= range.last.value; value++) {
      if (!taken.has(value)) return { family, value };
    }
  }
  return undefined;
}

export function formatPool(ranges: readonly PoolRange[]): string {
  return ranges.map((range) => (range.text.includes('/') ? range.text : `${formatIp(range.first)}-${formatIp(range.last)}`)).join(',');
}
