// The client address behind trusted proxies (ingress-nginx's use-forwarded-headers / enable-real-ip
// with proxy-real-ip-cidr and forwarded-for-header, nginx's real_ip module with
// real_ip_recursive on): when the connection comes from a trusted address, the client is the
// right-most address of the forwarded-for list that is not itself trusted. Everything that keys on
// the client (access lists, rate and connection limits, X-Real-IP, the access log) then sees it.
// Without the ConfigMap keys none of this exists: the connection's own address is the client.
// An entry may carry a port, as nginx reads it (ngx_parse_addr_port): `IPv4:port` or
// `[IPv6]:port`; the client is the address without it.
import { parseCidr, parseIp, prefixContains, type IpPrefix } from './cidr.js';

/** The ConfigMap's forwarded-header keys, as the compiler leaves them (plain data, in the route model). */
export interface RealIpPolicy {
  /** proxy-real-ip-cidr: the peers whose forwarded headers are believed. */
  readonly trusted: readonly string[];
  /** forwarded-for-header, lower-case (x-forwarded-for). */
  readonly header: string;
  /** use-forwarded-headers: a trusted peer's X-Forwarded-Proto, -Host and -Port are passed on too. */
  readonly passForwarded: boolean;
  /** compute-full-forwarded-for: X-Forwarded-For upstream is the received list plus the peer, not the client alone. */
  readonly fullForwardedFor: boolean;
}

/** What the proxy sends for the forwarded fields of one request. */
export interface ForwardedValues {
  /** X-Real-IP, and the client every step sees. */
  readonly client: string;
  readonly forwardedFor: string;
  readonly host: string;
  readonly port: string;
  readonly proto: string;
}

const CACHE_MAX = 4096;

export class RealIp {
  readonly policy: RealIpPolicy;
  readonly #trusted: readonly IpPrefix[];
  /** Trust verdict per address (bounded): a busy proxy in front costs one Map lookup. */
  readonly #verdicts = new Map<string, boolean>();

  constructor(policy: RealIpPolicy) {
    this.policy = policy;
    this.#trusted = policy.trusted.map((text) => parseCidr(text) ?? parseCidr(`${text}/${text.includes(':') ? 128 : 32}`)).filter((p): p is IpPrefix => p !== undefined);
  }

  get header(): string {
    return this.policy.header;
  }

  trusts(address: string): boolean {
    let verdict = this.#verdicts.get(address);
    if (verdict === undefined) {
      const ip = parseIp(address);
      verdict = ip !== undefined && this.#trusted.some((prefix) => prefixContains(prefix, ip));
      if (this.#verdicts.size >= CACHE_MAX) this.#verdicts.clear();
      this.#verdicts.set(address, verdict);
    }
    return verdict;
  }

  /** The client for a request from `peer` carrying `forwardedFor` (the header's value, repeated fields joined with commas). */
  clientOf(peer: string, forwardedFor: string | undefined): string {
    if (forwardedFor === undefined || !this.trusts(peer)) return peer;
    const list = forwardedFor.split(',');
    let client = peer;
    // Right to left: each trusted hop passes the question on; the first untrusted one is the client.
    for (let i = list.length - 1; i >= 0; i--) {
      const address = forwardedAddress(list[i]!.trim());
      if (address === undefined) break;
      client = address;
      if (!this.trusts(address)) break;
    }
    return client;
  }

  /**
   * The scheme the client used, for steps (ssl-redirect, $scheme): with use-forwarded-headers, a
   * trusted peer's X-Forwarded-Proto (http or https only); else the listener's. Behind a load
   * balancer that terminates TLS this is what keeps force-ssl-redirect from looping.
   */
  schemeOf(peer: string, forwardedProto: string | undefined, own: 'http' | 'https'): 'http' | 'https' {
    if (!this.policy.passForwarded || forwardedProto === undefined || !this.trusts(peer)) return own;
    const proto = forwardedProto.trim().toLowerCase();
    return proto === 'https' || proto === 'http' ? proto : own;
  }

  /** The forwarded fields for one request; `read` returns a request header (lower-case name), `own` what the proxy would send. */
  forwarded(peer: string, client: string, read: (name: string) => string | undefined, own: { readonly host: string; readonly port: string; readonly proto: string }): ForwardedValues {
    const trusted = this.trusts(peer);
    const received = trusted ? read(this.policy.header) : undefined;
    const forwardedFor = this.policy.fullForwardedFor ? (received !== undefined && received.trim() !== '' ? `${received}, ${peer}` : peer) : client;
    if (!this.policy.passForwarded || !trusted) return { client, forwardedFor, ...own };
    return {
      client,
      forwardedFor,
      host: validOr(read('x-forwarded-host'), own.host),
      port: validOr(read('x-forwarded-port'), own.port),
      proto: validOr(read('x-forwarded-proto'), own.proto),
    };
  }
}

/**
 * One entry of a forwarded-for list as nginx's real_ip reads it (ngx_parse_addr_port): an address,
 * `IPv4:port` or `[IPv6]:port` with a port from 1 to 65535; the address alone, or undefined for
 * anything else (`[IPv6]` without a port included, as nginx).
 */
export function forwardedAddress(entry: string): string | undefined {
  if (parseIp(entry) !== undefined) return entry;
  let address: string;
  let port: string;
  if (entry.charCodeAt(0) === 0x5b) {
    const close = entry.indexOf(']');
    if (close === -1 || entry.charCodeAt(close + 1) !== 0x3a) return undefined;
    address = entry.slice(1, close);
    port = entry.slice(close + 2);
  } else {
    const colon = entry.indexOf(':');
    if (colon === -1) return undefined;
    address = entry.slice(0, colon);
    port = entry.slice(colon + 1);
  }
  if (!/^\d{1,10}$/.test(port)) return undefined;
  const number = Number(port);
  if (number < 1 || number > 65535 || parseIp(address) === undefined) return undefined;
  return address;
}

/** A forwarded value passed on only when it is a plain visible-ASCII token (no CR/LF, commas or spaces smuggled upstream). */
function validOr(value: string | undefined, fallback: string): string {
  return value !== undefined && /^[\x21-\x7e]{1,255}$/.test(value) && !value.includes(',') ? value : fallback;
}
