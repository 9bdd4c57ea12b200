import { compareIp, formatCidr, formatIp, hasHostBits, parseCidr, parseIp, prefixContains, bitsOf, type IpAddress } from '../../../lib/cidr.js';
import type { CniArgs } from '../../cni-args.js';
import { CniError } from '../../cni-error.js';
import { fieldPath, invalid, isObject, readArray, readObject, readString, readStringList, type JsonObject } from '../../json-fields.js';
import { parseRoute, type CniRoute } from '../../result.js';
import { defaultBounds, formatRange, rangeSetOverlaps, rangesOverlap, type Range, type RangeSet } from './range-set.js';

// host-local's configuration, parsed and validated the way the reference does it (same defaults,
// legacy single-range keys, runtimeConfig.ipRanges prepended, requested IPs from CNI_ARGS, args
// and runtimeConfig), with errors that name the offending field.

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export interface HostLocalConfig {
  /** The network name: the directory under dataDir. */
  network: string;
  ranges: RangeSet[];
  routes: CniRoute[];
  dataDir: string;
  resolvConf: string | undefined;
  /** Specific addresses asked for (one per range set at most is used). */
  requestedIps: IpAddress[];
}

function parseRange(value: unknown, path: string): Range {
  if (!isObject(value)) invalid(path, 'must be an object with "subnet"');
  const subnetText = readString(value, 'subnet', path);
  if (subnetText === undefined || subnetText === '') invalid(fieldPath(path, 'subnet'), 'is required');
  const subnet = parseCidr(subnetText);
  if (!subnet) invalid(fieldPath(path, 'subnet'), `must be a CIDR such as 10.244.1.0/24, got ${JSON.stringify(subnetText)}`);
  if (subnet.prefix > bitsOf(subnet.ip.family) - 2) invalid(fieldPath(path, 'subnet'), `network ${formatCidr(subnet)} is too small to allocate from`);
  if (hasHostBits(subnet)) invalid(fieldPath(path, 'subnet'), `${formatCidr(subnet)} has host bits set`);
  const defaults = defaultBounds(subnet);
  const address = (key: string): IpAddress | undefined => {
    const text = readString(value, key, path);
    if (text === undefined || text === '') return undefined;
    const ip = parseIp(text);
    if (!ip) invalid(fieldPath(path, key), `must be an IP address, got ${JSON.stringify(text)}`);
    if (!prefixContains(subnet, ip)) invalid(fieldPath(path, key), `${formatIp(ip)} is not in subnet ${formatCidr(subnet)}`);
    return ip;
  };
  const gateway = address('gateway') ?? defaults.gateway;
  const rangeStart = address('rangeStart') ?? defaults.rangeStart;
  const rangeEnd = address('rangeEnd') ?? defaults.rangeEnd;
  if (compareIp(rangeEnd, rangeStart) < 0) {
    invalid(fieldPath(path, 'rangeEnd'), `${formatIp(rangeEnd)} is before rangeStart ${formatIp(rangeStart)}`);
  }
  return { subnet, rangeStart, rangeEnd, gateway };
}

function parseRangeSet(value: unknown, path: string): RangeSet {
  if (!Array.isArray(value)) invalid(path, 'must be a list of ranges');
  if (value.length === 0) invalid(path, 'is an empty range set');
  const set = value.map((item, i) => parseRange(item, fieldPath(path, i)));
  for (const [i, range] of set.entries()) {
    if (range.subnet.ip.family !== set[0]!.subnet.ip.family) invalid(fieldPath(path, i), 'mixes address families within one range set');
    for (let j = 0; j < i; j++) {
      if (rangesOverlap(set[j]!, range)) invalid(fieldPath(path, i), `${formatRange(range)} overlaps ${formatRange(set[j]!)}`);
    }
  }
  return set;
}

function parseRequestedIp(text: unknown, path: string, allowPrefix: boolean): IpAddress {
  if (typeof text !== 'string') invalid(path, `must be an IP address, got ${JSON.stringify(text)}`);
  const ip = parseIp(text) ?? (allowPrefix ? parseCidr(text)?.ip : undefined);
  if (!ip) invalid(path, `must be an IP address, got ${JSON.stringify(text)}`);
  return ip;
}

/** Parses the `ipam` section (with the top-level keys host-local reads) of a network config. */
export function parseHostLocalConfig(config: JsonObject, args: CniArgs): HostLocalConfig {
  const ipam = readObject(config, 'ipam');
  if (!ipam) invalid('ipam', 'is required for host-local');
  const network = readString(config, 'name') ?? '';

  const ranges: RangeSet[] = [];
  const runtimeConfig = readObject(config, 'runtimeConfig');
  for (const [i, set] of (runtimeConfig ? (readArray(runtimeConfig, 'ipRanges', 'runtimeConfig') ?? []) : []).entries()) {
    ranges.push(parseRangeSet(set, `runtimeConfig.ipRanges[${i}]`));
  }
  const legacySubnet = readString(ipam, 'subnet', 'ipam');
  if (legacySubnet) ranges.push([parseRange(ipam, 'ipam')]);
  for (const [i, set] of (readArray(ipam, 'ranges', 'ipam') ?? []).entries()) ranges.push(parseRangeSet(set, `ipam.ranges[${i}]`));
  if (ranges.length === 0) invalid('ipam.ranges', 'is missing: no IP ranges specified');
  for (let i = 1; i < ranges.length; i++) {
    for (let j = 0; j < i; j++) {
      if (rangeSetOverlaps(ranges[j]!, ranges[i]!)) invalid('ipam.ranges', `range set ${j} overlaps with range set ${i}`);
    }
  }

  const routes = (readArray(ipam, 'routes', 'ipam') ?? []).map((item, i) => {
    const path = `ipam.routes[${i}]`;
    const route = parseRoute(item, path);
    const dst = parseCidr(route.dst)!;
    if (hasHostBits(dst)) invalid(`${path}.dst`, `${route.dst} has host bits set`);
    return route;
  });

  const dataDir = readString(ipam, 'dataDir', 'ipam') || DEFAULT_DATA_DIR;
  if (!dataDir.startsWith('/')) invalid('ipam.dataDir', `must be an absolute path, got ${JSON.stringify(dataDir)}`);
  const resolvConf = readString(ipam, 'resolvConf', 'ipam') || undefined;

  const requested = new Map<string, IpAddress>();
  const want = (ip: IpAddress) => requested.set(formatIp(ip), ip);
  const envIp = args.get('IP');
  if (envIp !== undefined && envIp !== '') {
    const ip = parseIp(envIp);
    if (!ip) throw new CniError('PORTICO_ERR_CNI_ENV', `CNI_ARGS IP=${JSON.stringify(envIp)} is not an IP address`);
    want(ip);
  }
  const cniArgs = readObject(config, 'args');
  const cni = cniArgs ? readObject(cniArgs, 'cni', 'args') : undefined;
  for (const [i, text] of (cni ? (readStringList(cni, 'ips', 'args.cni') ?? []) : []).entries()) want(parseRequestedIp(text, `args.cni.ips[${i}]`, false));
  for (const [i, text] of (runtimeConfig ? (readArray(runtimeConfig, 'ips', 'runtimeConfig') ?? []) : []).entries()) {
    want(parseRequestedIp(text, `runtimeConfig.ips[${i}]`, true));
  }

  return { network, ranges, routes, dataDir, resolvConf, requestedIps: [...requested.values()] };
}
