// The per-request routing table built from a RouteModel: host maps over PathTries.
import { RealIp } from '../lib/real-ip.js';
import type { AccessLogField } from '../model/access-log-fields.js';
import { normalizePathForMatch } from '../lib/normalize-path.js';
import type { RouteLookup, RouteMatch, RouteModel, Route } from '../model/route-model.js';
import { PathTrie } from './path-trie.js';
import { RegexRoutes } from './regex-routes.js';

/** One host's routes: element-wise Ingress paths, or ingress-nginx regex prefixes. */
interface PathLookup<M> {
  lookup(path: string): M | undefined;
}

const DOT = 0x2e;
const OPEN_BRACKET = 0x5b;

/**
 * A Host header value → the host to route on: port stripped (`[v6]:port` keeps its brackets, a bare
 * IPv6 address is left whole), one trailing dot dropped, ASCII lower-cased. Allocates nothing when
 * the header is already in that form.
 */
export function normalizeHost(hostHeader: string): string {
  let end = hostHeader.length;
  if (hostHeader.charCodeAt(0) === OPEN_BRACKET) {
    const close = hostHeader.indexOf(']');
    if (close >= 0) end = close + 1;
  } else {
    const colon = hostHeader.indexOf(':');
    if (colon >= 0 && hostHeader.indexOf(':', colon + 1) < 0) end = colon;
  }
  if (end > 0 && hostHeader.charCodeAt(end - 1) === DOT) end--;
  const host = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return host.toLowerCase();
  }
  return host;
}

export interface RouteTableOptions<M extends RouteMatch> {
  /** Turns each pre-built match into what the data plane routes with (e.g. with its composed steps); called once per route per build. */
  readonly extend?: (match: RouteMatch) => M;
}

export class RouteTable<M extends RouteMatch = RouteMatch> implements RouteLookup<M> {
  readonly #hosts: ReadonlyMap<string, PathLookup<M>>;
  /** Wildcard hosts keyed by what follows `*.`: `*.example.com` → `example.com`. */
  readonly #wildcards: ReadonlyMap<string, PathLookup<M>>;
  readonly #hostless: PathLookup<M> | undefined;
  readonly #defaultMatch: M | undefined;
  /** The model's hsts (the ConfigMap's); undefined: the data plane's own. */
  readonly hsts: string | false | undefined;
  /** The model's http2 (the ConfigMap's use-http2); undefined: the data plane's own. */
  readonly http2: boolean | undefined;
  /** The model's realIp, compiled; undefined: the connection's address is the client. */
  readonly realIp: RealIp | undefined;
  readonly accessLogFields: readonly AccessLogField[] | undefined;

  private constructor(parts: {
    hosts: Map<string, PathLookup<M>>;
    wildcards: Map<string, PathLookup<M>>;
    hostless: PathLookup<M> | undefined;
    defaultMatch: M | undefined;
    hsts: string | false | undefined;
    http2: boolean | undefined;
    realIp: RealIp | undefined;
    accessLogFields: readonly AccessLogField[] | undefined;
  }) {
    this.accessLogFields = parts.accessLogFields;
    this.hsts = parts.hsts;
    this.http2 = parts.http2;
    this.realIp = parts.realIp;
    this.#hosts = parts.hosts;
    this.#wildcards = parts.wildcards;
    this.#hostless = parts.hostless;
    this.#defaultMatch = parts.defaultMatch;
  }

  static build<M extends RouteMatch = RouteMatch>(model: RouteModel, options: RouteTableOptions<M> = {}): RouteTable<M> {
    const extend = options.extend ?? ((match: RouteMatch) => match as M);
    const hosts = new Map<string, PathLookup<M>>();
    const wildcards = new Map<string, PathLookup<M>>();
    for (const vhost of model.virtualHosts) {
      if (vhost.routes.length === 0) continue;
      const host = vhost.host.toLowerCase();
      const paths = buildPaths(vhost.routes, vhost.regex === true, extend, host);
      if (host.startsWith('*.')) wildcards.set(host.slice(2), paths);
      else hosts.set(host, paths);
    }
    const def = model.defaultBackend;
    return new RouteTable<M>({
      hosts,
      wildcards,
      hostless: model.hostless.length > 0 ? buildPaths(model.hostless, model.hostlessRegex === true, extend) : undefined,
      defaultMatch: def === undefined ? undefined : extend({ backend: def.backend, ingress: def.ingress }),
      hsts: model.hsts,
      http2: model.http2,
      realIp: model.realIp === undefined ? undefined : new RealIp(model.realIp),
      accessLogFields: model.accessLogFields,
    });
  }

  /**
   * Routes a request. `host` is the raw Host header (normalised here, see normalizeHost); `path` is
   * the raw request path (anything from `?` on is ignored), matched case-sensitively, with only
   * percent-encoded unreserved characters decoded (normalizePathForMatch).
   *
   * Precedence: the exact host's routes, then the wildcard covering the host (`*.` + all but its
   * first label), then hostless rules, then the defaultBackend. It falls through: a host that
   * matches but has no route for the path does not end the search, the next level is tried.
   * Undefined means no match at all (the proxy answers 404). Returned objects are shared: the table
   * pre-builds one RouteMatch per route, so a lookup allocates nothing in the common case.
   */
  lookup(host: string | undefined, path: string): M | undefined {
    const q = path.indexOf('?');
    if (q >= 0) path = path.slice(0, q);
    path = normalizePathForMatch(path);
    const name = host === undefined ? '' : normalizeHost(host);
    if (name !== '') {
      const exact = this.#hosts.get(name)?.lookup(path);
      if (exact !== undefined) return exact;
      if (this.#wildcards.size > 0) {
        const dot = name.indexOf('.');
        if (dot > 0) {
          const wildcard = this.#wildcards.get(name.slice(dot + 1))?.lookup(path);
          if (wildcard !== undefined) return wildcard;
        }
      }
    }
    return this.#hostless?.lookup(path) ?? this.#defaultMatch;
  }
}

function buildPaths<M extends RouteMatch>(routes: readonly Route[], regex: boolean, extend: (match: RouteMatch) => M, host?: string): PathLookup<M> {
  // The rule's host rides on the match (metrics label requests with it, never with the raw Host header).
  const matchOf = (route: Route): M => extend(host === undefined ? { backend: route.backend, ingress: route.ingress, route } : { backend: route.backend, ingress: route.ingress, route, host });
  if (regex) {
    const list = new RegexRoutes<M>();
    for (const route of routes) list.insert(route.path, matchOf(route));
    return list;
  }
  const trie = new PathTrie<M>();
  for (const route of routes) trie.insert(route.pathType, route.path, matchOf(route));
  return trie;
}
