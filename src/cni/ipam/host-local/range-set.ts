import { compareIp, formatCidr, formatIp, ipEquals, lastOf, networkOf, nextIp, prefixContains, type IpAddress, type IpPrefix } from '../../../lib/cidr.js';

// host-local ranges: a subnet with an inclusive [rangeStart, rangeEnd] and a gateway that is never
// handed out. A range set yields one address per ADD; its ranges share a family and never overlap.

export interface Range {
  subnet: IpPrefix;
  rangeStart: IpAddress;
  rangeEnd: IpAddress;
  gateway: IpAddress;
}

export type RangeSet = readonly Range[];

export function rangeContains(range: Range, ip: IpAddress): boolean {
  return prefixContains(range.subnet, ip) && compareIp(ip, range.rangeStart) >= 0 && compareIp(ip, range.rangeEnd) <= 0;
}

export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.subnet.ip.family !== b.subnet.ip.family) return false;
  return rangeContains(a, b.rangeStart) || rangeContains(a, b.rangeEnd) || rangeContains(b, a.rangeStart) || rangeContains(b, a.rangeEnd);
}

export function rangeFor(set: RangeSet, ip: IpAddress): Range | undefined {
  return set.find((range) => rangeContains(range, ip));
}

export function rangeSetOverlaps(a: RangeSet, b: RangeSet): boolean {
  return a.some((ra) => b.some((rb) => rangesOverlap(ra, rb)));
}

/** `10.0.0.2-10.0.0.254,10.0.1.1-10.0.1.254`, as the reference prints a range set in errors. */
export function formatRangeSet(set: RangeSet): string {
  return set.map((r) => `${formatIp(r.rangeStart)}-${formatIp(r.rangeEnd)}`).join(',');
}

export function formatRange(range: Range): string {
  return `${formatCidr(range.subnet)} (${formatIp(range.rangeStart)}-${formatIp(range.rangeEnd)})`;
}

/** Default gateway, rangeStart and rangeEnd of a subnet: .1, .1 and broadcast-1 (IPv4) or the last address (IPv6). */
export function defaultBounds(subnet: IpPrefix): { gateway: IpAddress; rangeStart: IpAddress; rangeEnd: IpAddress } {
  const network = networkOf(subnet);
  const last = lastOf(subnet);
  return {
    gateway: nextIp(network),
    rangeStart: nextIp(network),
    rangeEnd: subnet.ip.family === 4 ? { family: 4, value: last.value - 1n } : last,
  };
}

/**
 * Round-robin iteration over a range set, as host-local does it: start after the last reserved
 * address if it lies in the set (else at the first rangeStart), step up, skip gateways, wrap from
 * a rangeEnd to the next range's rangeStart, and stop after one full lap.
 */
export function* candidates(set: RangeSet, lastReserved: IpAddress | undefined): Generator<{ ip: IpAddress; range: Range }> {
  if (set.length === 0) return;
  let rangeIndex = 0;
  let current: IpAddress | undefined;
  let start: IpAddress | undefined;
  const lastIndex = lastReserved ? set.findIndex((r) => rangeContains(r, lastReserved)) : -1;
  if (lastReserved && lastIndex >= 0) {
    rangeIndex = lastIndex;
    current = lastReserved;
  } else {
    start = set[0]!.rangeStart;
  }
  for (;;) {
    let range = set[rangeIndex]!;
    if (current === undefined) {
      current = range.rangeStart;
      start = current;
    } else {
      if (ipEquals(current, range.rangeEnd)) {
        rangeIndex = (rangeIndex + 1) % set.length;
        range = set[rangeIndex]!;
        current = range.rangeStart;
      } else {
        current = nextIp(current);
      }
      if (start === undefined) start = current;
      else if (ipEquals(current, start)) return;
    }
    if (ipEquals(current, range.gateway)) continue;
    yield { ip: current, range };
  }
}

/** How many addresses of the set are neither a gateway nor in `reserved`. */
export function freeCount(set: RangeSet, reserved: readonly IpAddress[]): bigint {
  let free = 0n;
  for (const range of set) {
    let size = range.rangeEnd.value - range.rangeStart.value + 1n;
    if (rangeContains(range, range.gateway)) size -= 1n;
    const taken = new Set<bigint>();
    for (const ip of reserved) if (rangeContains(range, ip) && !ipEquals(ip, range.gateway)) taken.add(ip.value);
    free += size - BigInt(taken.size);
  }
  return free;
}
