import { formatCidr, formatIp, parseCidr, parseIp } from '../lib/cidr.js';
import { CniError } from './cni-error.js';
import { fieldPath, isObject, readArray, readInteger, readString, readStringList, type JsonObject } from './json-fields.js';
import { versionAtLeast, type CniVersion } from './versions.js';

// The ADD result, held in the richest (1.1.0) shape and rendered in the version the runtime asked
// for: 0.3.x/0.4.0 add `version` to each IP, 1.1.0 adds interface `mtu` and route attributes.
// Keys come out in the order, and with the omissions, of the Go types the reference plugins use.

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  interface?: number;
  /** CIDR: the address with its subnet's prefix length. */
  address: string;
  gateway?: string;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

function renderDns(dns: CniDns): JsonObject {
  const out: JsonObject = {};
  if (dns.nameservers !== undefined) out['nameservers'] = dns.nameservers;
  if (dns.domain) out['domain'] = dns.domain;
  if (dns.search !== undefined) out['search'] = dns.search;
  if (dns.options !== undefined) out['options'] = dns.options;
  return out;
}

/** The result as the JSON document a runtime expects for `version` (4-space indent, like skel). */
export function renderResult(result: CniResult, version: CniVersion): string {
  const v11 = versionAtLeast(version, '1.1.0');
  const legacy = !versionAtLeast(version, '1.0.0');
  const out: JsonObject = { cniVersion: version };
  if (result.interfaces.length > 0) {
    out['interfaces'] = result.interfaces.map((i) => {
      const item: JsonObject = { name: i.name };
      if (i.mac) item['mac'] = i.mac;
      if (v11 && i.mtu) item['mtu'] = i.mtu;
      if (i.sandbox) item['sandbox'] = i.sandbox;
      if (v11 && i.socketPath) item['socketPath'] = i.socketPath;
      if (v11 && i.pciID) item['pciID'] = i.pciID;
      return item;
    });
  }
  if (result.ips.length > 0) {
    out['ips'] = result.ips.map((ip) => {
      const item: JsonObject = {};
      if (legacy) item['version'] = ip.address.includes(':') ? '6' : '4';
      if (ip.interface !== undefined) item['interface'] = ip.interface;
      item['address'] = ip.address;
      if (ip.gateway) item['gateway'] = ip.gateway;
      return item;
    });
  }
  if (result.routes.length > 0) {
    out['routes'] = result.routes.map((r) => {
      const item: JsonObject = { dst: r.dst };
      if (r.gw) item['gw'] = r.gw;
      if (v11) {
        if (r.mtu) item['mtu'] = r.mtu;
        if (r.advmss) item['advmss'] = r.advmss;
        if (r.priority) item['priority'] = r.priority;
        if (r.table) item['table'] = r.table;
        if (r.scope) item['scope'] = r.scope;
      }
      return item;
    });
  }
  out['dns'] = renderDns(result.dns);
  return JSON.stringify(out, null, 4);
}

function canonicalCidr(text: string, path: string): string {
  const cidr = parseCidr(text);
  if (!cidr) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${path} must be an address with a prefix length (10.1.2.3/24), got ${JSON.stringify(text)}`);
  return formatCidr(cidr);
}

function canonicalIp(text: string, path: string): string {
  const ip = parseIp(text);
  if (!ip) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${path} must be an IP address, got ${JSON.stringify(text)}`);
  return formatIp(ip);
}

export function parseDns(obj: JsonObject, path: string): CniDns {
  const dns: CniDns = {};
  const nameservers = readStringList(obj, 'nameservers', path);
  if (nameservers !== undefined) dns.nameservers = nameservers;
  const domain = readString(obj, 'domain', path);
  if (domain) dns.domain = domain;
  const search = readStringList(obj, 'search', path);
  if (search !== undefined) dns.search = search;
  const options = readStringList(obj, 'options', path);
  if (options !== undefined) dns.options = options;
  return dns;
}

export function dnsIsSet(dns: CniDns): boolean {
  return dns.nameservers !== undefined || dns.search !== undefined || dns.options !== undefined || !!dns.domain;
}

/** A route from config or a result: `dst` CIDR, optional `gw`, and the 1.1.0 attributes. */
export function parseRoute(value: unknown, path: string): CniRoute {
  if (!isObject(value)) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${path} must be an object with "dst"`);
  const dst = readString(value, 'dst', path);
  if (dst === undefined) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${fieldPath(path, 'dst')} is required`);
  const route: CniRoute = { dst: canonicalCidr(dst, fieldPath(path, 'dst')) };
  const gw = readString(value, 'gw', path);
  if (gw) route.gw = canonicalIp(gw, fieldPath(path, 'gw'));
  const mtu = readInteger(value, 'mtu', { path, min: 0, max: 65535 });
  if (mtu) route.mtu = mtu;
  const advmss = readInteger(value, 'advmss', { path, min: 0, max: 65535 });
  if (advmss) route.advmss = advmss;
  const priority = readInteger(value, 'priority', { path, min: 0, max: 2 ** 32 - 1 });
  if (priority) route.priority = priority;
  const table = readInteger(value, 'table', { path, min: 0, max: 2 ** 32 - 1 });
  if (table) route.table = table;
  const scope = readInteger(value, 'scope', { path, min: 0, max: 255 });
  if (scope) route.scope = scope;
  return route;
}

/** Parses a result of any supported version (prevResult for CHECK and DEL). */
export function parseResult(value: unknown, path: string): CniResult {
  if (!isObject(value)) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${path} must be an object`);
  const interfaces = (readArray(value, 'interfaces', path) ?? []).map((item, i): CniInterface => {
    const p = fieldPath(fieldPath(path, 'interfaces'), i);
    if (!isObject(item)) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${p} must be an object`);
    const name = readString(item, 'name', p);
    if (!name) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${fieldPath(p, 'name')} is required`);
    const iface: CniInterface = { name };
    const mac = readString(item, 'mac', p);
    if (mac) iface.mac = mac;
    const mtu = readInteger(item, 'mtu', { path: p, min: 0 });
    if (mtu) iface.mtu = mtu;
    const sandbox = readString(item, 'sandbox', p);
    if (sandbox) iface.sandbox = sandbox;
    return iface;
  });
  const ips = (readArray(value, 'ips', path) ?? []).map((item, i): CniIpConfig => {
    const p = fieldPath(fieldPath(path, 'ips'), i);
    if (!isObject(item)) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${p} must be an object`);
    const address = readString(item, 'address', p);
    if (!address) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${fieldPath(p, 'address')} is required`);
    const ip: CniIpConfig = { address: canonicalCidr(address, fieldPath(p, 'address')) };
    const index = readInteger(item, 'interface', { path: p, min: 0 });
    if (index !== undefined) {
      if (index >= interfaces.length) throw new CniError('PORTICO_ERR_CNI_CONFIG', `${fieldPath(p, 'interface')} = ${index} names no interface`);
      ip.interface = index;
    }
    const gateway = readString(item, 'gateway', p);
    if (gateway) ip.gateway = canonicalIp(gateway, fieldPath(p, 'gateway'));
    return ip;
  });
  const routes = (readArray(value, 'routes', path) ?? []).map((item, i) => parseRoute(item, fieldPath(fieldPath(path, 'routes'), i)));
  const dnsValue = value['dns'];
  const dns = isObject(dnsValue) ? parseDns(dnsValue, fieldPath(path, 'dns')) : {};
  return { interfaces, ips, routes, dns };
}
