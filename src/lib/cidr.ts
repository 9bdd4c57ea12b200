// IPv4/IPv6 addresses and CIDR prefixes as plain values (bigint arithmetic), parsed strictly and
// printed the way Go's net package prints them (RFC 5952 for IPv6), so files and results written
// by the CNI plugin match the reference plugins byte for byte.

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

export interface IpPrefix {
  /** The address as written (host bits kept, like Go's types.IPNet). */
  readonly ip: IpAddress;
  readonly prefix: number;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };
const V4_MAPPED = 0xffffn << 32n;

export function bitsOf(family: IpFamily): number {
  return BITS[family];
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // Go rejects leading zeros (ambiguous octal) since 1.17; so do we.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseV6(text: string): bigint | undefined {
  if (text.includes('%')) return undefined; // zones are not addresses
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): string[] | undefined => (part === '' ? [] : part.split(':'));
  const left = groupsOf(halves[0]!);
  const right = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (!left || !right) return undefined;
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is IPv4, as in Go. */
export function parseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return undefined;
  if (!text.includes(':')) {
    const v4 = parseV4(text);
    return v4 === undefined ? undefined : { family: 4, value: v4 };
  }
  const v6 = parseV6(text);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === V4_MAPPED >> 32n) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

/** Formats an address: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as `::`). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((shift) => String((v >> shift) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(':');
  if (bestLength < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** Parses `addr/prefix`; the address keeps its host bits (check with hasHostBits). */
export function parseCidr(text: string): IpPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9]\d{0,2})$/.test(bitsText)) return undefined;
  const prefix = Number(bitsText);
  // An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) becomes its IPv4 form, as in Go.
  if (ip.family === 4 && text.slice(0, slash).includes(':')) {
    if (prefix < 96 || prefix > 128) return undefined;
    return { ip, prefix: prefix - 96 };
  }
  if (prefix > BITS[ip.family]) return undefined;
  return { ip, prefix };
}

export function formatCidr(cidr: IpPrefix): string {
  return `${formatIp(cidr.ip)}/${cidr.prefix}`;
}

function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(BITS[family] - prefix)) - 1n;
}

/** The network address (host bits cleared). */
export function networkOf(cidr: IpPrefix): IpAddress {
  return { family: cidr.ip.family, value: cidr.ip.value & ~hostMask(cidr.ip.family, cidr.prefix) };
}

/** The network prefix with host bits cleared. */
export function maskedPrefix(cidr: IpPrefix): IpPrefix {
  return { ip: networkOf(cidr), prefix: cidr.prefix };
}

export function hasHostBits(cidr: IpPrefix): boolean {
  return (cidr.ip.value & hostMask(cidr.ip.family, cidr.prefix)) !== 0n;
}

/** The last address of the prefix (the IPv4 broadcast address). */
export function lastOf(cidr: IpPrefix): IpAddress {
  return { family: cidr.ip.family, value: networkOf(cidr).value | hostMask(cidr.ip.family, cidr.prefix) };
}

export function prefixContains(cidr: IpPrefix, ip: IpAddress): boolean {
  return ip.family === cidr.ip.family && (ip.value & ~hostMask(ip.family, cidr.prefix)) === networkOf(cidr).value;
}

export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  return a.ip.family === b.ip.family && (prefixContains(a, b.ip) || prefixContains(b, a.ip));
}

export function ipEquals(a: IpAddress | undefined, b: IpAddress | undefined): boolean {
  return a !== undefined && b !== undefined && a.family === b.family && a.value === b.value;
}

export function compareIp(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The next address, wrapping at the end of the family's space. */
export function nextIp(ip: IpAddress): IpAddress {
  const max = (1n << BigInt(BITS[ip.family])) - 1n;
  return { family: ip.family, value: ip.value === max ? 0n : ip.value + 1n };
}

export function addToIp(ip: IpAddress, delta: bigint): IpAddress {
  const size = 1n << BigInt(BITS[ip.family]);
  return { family: ip.family, value: (((ip.value + delta) % size) + size) % size };
}

/** The all-zero prefix of a family (`0.0.0.0/0`, `::/0`). */
export function defaultPrefix(family: IpFamily): IpPrefix {
  return { ip: { family, value: 0n }, prefix: 0 };
}
