// What the primary and its workers say to each other over the IPC channel (`--workers N`). Every
// message is plain JSON with a `type` and a protocol `version`: render* turns the model into a
// message, parse* checks an untrusted one (the other side may be a different build: a worker
// restarted after `npm install` replaced dist/) and throws PORTICO_ERR_WORKER_MESSAGE naming what is
// wrong, so a malformed message is rejected whole instead of half-applied.
//
// A configuration snapshot carries only the parts a build recompiled (a newly started worker gets
// all of them): the route model, the endpoints of every backend, and the TLS plan. Certificates
// travel as PEM text once per worker and by id after that (`{ id }`: the pair this worker already
// holds): the PEMs are nine tenths of a plan, and a plan goes out with every route change. Each
// worker builds its own TLS contexts, route table and balancers from them.
import { ACCESS_LOG_FIELDS, type AccessLogField } from '../model/access-log-fields.js';
import type { RealIpPolicy } from '../lib/real-ip.js';
import { PorticoError, type ErrorCode } from '../lib/errors.js';
import type { BackendEndpoints, BackendRef, Endpoint, Route, RouteModel, RoutePolicies, TlsHost, UpstreamTlsPolicy, UpstreamTlsVersion, VirtualHost } from '../model/route-model.js';
import type { TlsPlan, TlsPlanHost } from '../tls/compile-tls.js';
import type { IssuedCertificate } from '../tls/certificate-factory.js';
import type { SniCertificate, SniPlan } from '../tls/sni-store.js';
import { TICKET_KEYS_BYTES } from '../tls/tls-settings.js';

export const WORKER_PROTOCOL_VERSION = 2;

/** A certificate the worker already holds (it got its PEMs in an earlier snapshot). */
export interface CertificateRef {
  readonly id: string;
  readonly certPem?: never;
}

/** A TLS plan as it travels: each certificate in full, or by id when the worker has it. */
export interface SnapshotTls {
  readonly hosts: SniPlan['hosts'];
  readonly certificates: ReadonlyMap<string, SniCertificate | CertificateRef>;
  readonly defaultCertificate?: SniCertificate | CertificateRef;
}

export const isCertificateRef = (c: SniCertificate | CertificateRef): c is CertificateRef => c.certPem === undefined;

/** One configuration change, as the worker applies it (certificates, then backends, then routes). */
export interface ConfigSnapshot {
  /** Counts builds in the primary; a worker acknowledges the generation it has applied. */
  readonly generation: number;
  /** Every part present: sent to a newly started worker. */
  readonly full: boolean;
  readonly tls?: SnapshotTls;
  /** Every backend the routes use, replacing the previous set (as BackendRegistry.sync does). */
  readonly endpoints?: readonly BackendEndpoints[];
  /** Diagnostics are the primary's business (logs, Events): they are not sent. */
  readonly routes?: RouteModel;
}

/** The primary's first message: where to listen and the default certificate (generated once, in the primary). */
export interface WorkerStart {
  readonly http: number;
  readonly https?: number;
  readonly fallbackCertificate: IssuedCertificate;
  /** Session-ticket keys shared by all workers (base64 on the wire), so a session resumes on any of them. */
  readonly ticketKeys: Buffer;
  /** A full configuration follows at once: listen only after it is applied (no 404s from an empty table). */
  readonly waitForConfig: boolean;
}

/** A worker's counters, for /metrics and /debug/stats on the primary. */
export interface WorkerReport {
  readonly id: number;
  /** Requests this worker answered since it started. */
  readonly requests: number;
  readonly handshakeFailures: Readonly<Record<string, number>>;
  /** prom-client `registry.getMetricsAsJSON()`; merged with AggregatorRegistry.aggregate. */
  readonly metrics: readonly WireMetric[];
}

export interface WireMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  readonly values: ReadonlyArray<{ readonly value: number; readonly labels: Readonly<Record<string, string | number>>; readonly metricName?: string }>;
}

export type PrimaryMessage =
  | ({ readonly type: 'start' } & WorkerStart)
  | ({ readonly type: 'config' } & ConfigSnapshot)
  | { readonly type: 'collect'; readonly id: number }
  /** grace: the SIGTERM sequence (grace period, then drain); false: drain now (primary closing, or gone). */
  | { readonly type: 'shutdown'; readonly grace: boolean };

export type WorkerMessage =
  | { readonly type: 'listening'; readonly http: number; readonly https?: number }
  | { readonly type: 'applied'; readonly generation: number }
  | ({ readonly type: 'report' } & WorkerReport)
  | { readonly type: 'failed'; readonly message: string; readonly code?: string };

type Versioned<T> = T & { readonly version: number };

// ---------------------------------------------------------------------------------------------
// render: model → message

interface WireCertificate {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** ISO 8601. */
  readonly notAfter: string;
}

/** The TLS plan without what only the primary needs (diagnostics, the parsed X509 objects); `known` pairs by id. */
function renderTls(plan: SniPlan | TlsPlan | SnapshotTls, known: ReadonlySet<string>) {
  const wireCertificate = (c: SniCertificate | CertificateRef): WireCertificate | CertificateRef =>
    isCertificateRef(c) || known.has(c.id) ? { id: c.id } : { id: c.id, certPem: c.certPem, keyPem: c.keyPem, notAfter: c.notAfter.toISOString() };
  return {
    hosts: plan.hosts.map((h) => (h.secret === undefined ? { host: h.host } : { host: h.host, secret: h.secret })),
    certificates: [...plan.certificates].map(([key, certificate]) => [key, wireCertificate(certificate)] as const),
    ...(plan.defaultCertificate && { defaultCertificate: wireCertificate(plan.defaultCertificate) }),
  };
}

/** The certificate ids a plan uses: what a worker holds once it has applied it. */
export function certificateIdsOf(plan: Pick<SnapshotTls, 'certificates' | 'defaultCertificate'>): Set<string> {
  const ids = new Set([...plan.certificates.values()].map((c) => c.id));
  if (plan.defaultCertificate) ids.add(plan.defaultCertificate.id);
  return ids;
}

export interface SnapshotParts {
  readonly generation: number;
  readonly full: boolean;
  readonly tls?: SniPlan | TlsPlan | SnapshotTls;
  readonly endpoints?: ReadonlyMap<string, BackendEndpoints> | readonly BackendEndpoints[];
  readonly routes?: RouteModel;
  /** Certificate ids the receiving worker holds: those go by id alone. */
  readonly knownCertificates?: ReadonlySet<string>;
}

export function renderConfigSnapshot(parts: SnapshotParts): Versioned<PrimaryMessage> {
  return {
    type: 'config',
    version: WORKER_PROTOCOL_VERSION,
    generation: parts.generation,
    full: parts.full,
    ...(parts.tls && { tls: renderTls(parts.tls, parts.knownCertificates ?? new Set()) as unknown as SnapshotTls }),
    ...(parts.endpoints && { endpoints: Array.isArray(parts.endpoints) ? parts.endpoints : [...(parts.endpoints as ReadonlyMap<string, BackendEndpoints>).values()] }),
    ...(parts.routes && { routes: { ...parts.routes, diagnostics: [] } }),
  };
}

export function renderPrimaryMessage(message: PrimaryMessage): Versioned<PrimaryMessage> {
  if (message.type === 'config') return renderConfigSnapshot(message);
  if (message.type === 'start') return { ...message, ticketKeys: message.ticketKeys.toString('base64'), version: WORKER_PROTOCOL_VERSION } as unknown as Versioned<PrimaryMessage>;
  return { ...message, version: WORKER_PROTOCOL_VERSION };
}

export function renderWorkerMessage(message: WorkerMessage): Versioned<WorkerMessage> {
  return { ...message, version: WORKER_PROTOCOL_VERSION };
}

// ---------------------------------------------------------------------------------------------
// parse: untrusted message → model

class Invalid extends Error {}

const fail = (path: string, what: string): never => {
  throw new Invalid(`${path}: ${what}`);
};
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const object = (value: unknown, path: string): Record<string, unknown> => (isObject(value) ? value : fail(path, 'not an object'));
const array = (value: unknown, path: string): unknown[] => (Array.isArray(value) ? value : fail(path, 'not an array'));
const string = (value: unknown, path: string): string => (typeof value === 'string' ? value : fail(path, 'not a string'));
const optionalString = (value: unknown, path: string): string | undefined => (value === undefined ? undefined : string(value, path));
const bool = (value: unknown, path: string): boolean => (typeof value === 'boolean' ? value : fail(path, 'not a boolean'));
const count = (value: unknown, path: string): number => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fail(path, 'not a whole number ≥ 0'));
const port = (value: unknown, path: string): number => (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535 ? (value as number) : fail(path, 'not a port'));
/** A sample value: JSON turns NaN (a gauge nothing has set yet, e.g. event-loop lag at start) into null. */
const sample = (value: unknown, path: string): number => (typeof value === 'number' ? value : value === null ? Number.NaN : fail(path, 'not a number'));

function backendRef(value: unknown, path: string): BackendRef {
  const o = object(value, path);
  const p = o['port'];
  if (typeof p !== 'number' && typeof p !== 'string') fail(`${path}.port`, 'not a number or name');
  const ref: BackendRef = { key: string(o['key'], `${path}.key`), namespace: string(o['namespace'], `${path}.namespace`), service: string(o['service'], `${path}.service`), port: p as number | string };
  if (o['serviceUpstream'] === undefined) return ref;
  if (o['serviceUpstream'] !== true) fail(`${path}.serviceUpstream`, 'not true');
  return { ...ref, serviceUpstream: true };
}

function route(value: unknown, path: string): Route {
  const o = object(value, path);
  const pathType = o['pathType'];
  if (pathType !== 'Exact' && pathType !== 'Prefix') fail(`${path}.pathType`, 'not Exact or Prefix');
  const r: Route = {
    pathType: pathType as Route['pathType'],
    path: string(o['path'], `${path}.path`),
    backend: backendRef(o['backend'], `${path}.backend`),
    ingress: string(o['ingress'], `${path}.ingress`),
  };
  return {
    ...r,
    ...(o['sslRedirect'] !== undefined && { sslRedirect: bool(o['sslRedirect'], `${path}.sslRedirect`) }),
    ...(o['policies'] !== undefined && { policies: routePolicies(o['policies'], `${path}.policies`) }),
  };
}

const stringList = (value: unknown, path: string): readonly string[] => array(value, path).map((s, i) => string(s, `${path}[${i}]`));
/** `[[name, value], …]` (ConfigMap add-headers / proxy-set-headers). */
const headerList = (value: unknown, path: string): ReadonlyArray<readonly [string, string]> =>
  array(value, path).map((entry, i) => {
    const pair = array(entry, `${path}[${i}]`);
    if (pair.length !== 2) fail(`${path}[${i}]`, 'not a [name, value] pair');
    return [string(pair[0], `${path}[${i}][0]`), string(pair[1], `${path}[${i}][1]`)] as const;
  });
/** RouteModel.hsts: a header value, or false (none). */
const hstsValue = (value: unknown, path: string): string | false => (value === false ? false : string(value, path));

/**
 * A route's policies, field by field. A field this parser does not know fails the snapshot: a
 * policy the worker dropped would serve the route without it (an allowlist lost is an open door),
 * so a new policy in RoutePolicies needs its line here (the round-trip test covers every field).
 */
const UPSTREAM_TLS_FIELDS: ReadonlySet<string> = new Set(['serverName', 'verify', 'clientCertificate', 'minVersion', 'maxVersion', 'ciphers', 'refused'] satisfies ReadonlyArray<keyof UpstreamTlsPolicy>);
const TLS_VERSIONS: ReadonlySet<string> = new Set(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] satisfies readonly UpstreamTlsVersion[]);

function routePolicies(value: unknown, path: string): RoutePolicies {
  const o = object(value, path);
  const parsers: { readonly [K in keyof RoutePolicies]-?: (v: unknown, p: string) => NonNullable<RoutePolicies[K]> } = {
    sourceRange: (v, p) => {
      const range = object(v, p);
      for (const key of Object.keys(range)) if (key !== 'allow' && key !== 'deny') fail(`${p}.${key}`, 'not a source-range field');
      return {
        ...(range['allow'] !== undefined && { allow: stringList(range['allow'], `${p}.allow`) }),
        ...(range['deny'] !== undefined && { deny: stringList(range['deny'], `${p}.deny`) }),
      };
    },
    upstreamVhost: string,
    forwardedPrefix: string,
    redirect: (v, p) => {
      const r = object(v, p);
      const status = count(r['status'], `${p}.status`);
      if (status < 300 || status > 308) fail(`${p}.status`, 'not a redirect status');
      return { url: string(r['url'], `${p}.url`), status };
    },
    appRoot: string,
    rewriteTarget: string,
    maxBodySize: count,
    accessLog: (v, p) => (v === false ? false : fail(p, 'not false')),
    externalAuth: (v, p) => {
      if (v === 'refused') return 'refused' as const;
      const e = object(v, p);
      return {
        url: string(e['url'], `${p}.url`),
        method: string(e['method'], `${p}.method`),
        responseHeaders: stringList(e['responseHeaders'], `${p}.responseHeaders`),
        ...(e['signin'] !== undefined && { signin: string(e['signin'], `${p}.signin`) }),
        ...(e['signinParam'] !== undefined && { signinParam: string(e['signinParam'], `${p}.signinParam`) }),
      };
    },
    nextUpstream: (v, p) => {
      const n = object(v, p);
      return {
        off: bool(n['off'], `${p}.off`),
        ...(n['tries'] !== undefined && { tries: count(n['tries'], `${p}.tries`) }),
        ...(n['timeoutMs'] !== undefined && { timeoutMs: count(n['timeoutMs'], `${p}.timeoutMs`) }),
      };
    },
    basicAuth: (v, p) => {
      const b = object(v, p);
      return {
        realm: string(b['realm'], `${p}.realm`),
        users: array(b['users'], `${p}.users`).map((u, i) => {
          const pair = array(u, `${p}.users[${i}]`);
          return [string(pair[0], `${p}.users[${i}][0]`), string(pair[1], `${p}.users[${i}][1]`)] as const;
        }),
      };
    },
    grpc: (v, p) => {
      if (v !== true) fail(p, 'not true');
      return true as const;
    },
    upstreamTls: (v, p) => {
      const t = object(v, p);
      for (const key of Object.keys(t)) if (!UPSTREAM_TLS_FIELDS.has(key)) fail(`${p}.${key}`, 'not an upstreamTls field');
      const version = (value: unknown, at: string): UpstreamTlsVersion => (TLS_VERSIONS.has(value as string) ? (value as UpstreamTlsVersion) : fail(at, 'not TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3'));
      const verify = t['verify'] === undefined ? undefined : object(t['verify'], `${p}.verify`);
      const client = t['clientCertificate'] === undefined ? undefined : object(t['clientCertificate'], `${p}.clientCertificate`);
      return {
        ...(t['serverName'] !== undefined && { serverName: string(t['serverName'], `${p}.serverName`) }),
        ...(verify !== undefined && {
          verify: {
            ca: string(verify['ca'], `${p}.verify.ca`),
            ...(verify['name'] !== undefined && { name: string(verify['name'], `${p}.verify.name`) }),
            depth: count(verify['depth'], `${p}.verify.depth`),
          },
        }),
        ...(client !== undefined && { clientCertificate: { cert: string(client['cert'], `${p}.clientCertificate.cert`), key: string(client['key'], `${p}.clientCertificate.key`) } }),
        ...(t['minVersion'] !== undefined && { minVersion: version(t['minVersion'], `${p}.minVersion`) }),
        ...(t['maxVersion'] !== undefined && { maxVersion: version(t['maxVersion'], `${p}.maxVersion`) }),
        ...(t['ciphers'] !== undefined && { ciphers: string(t['ciphers'], `${p}.ciphers`) }),
        ...(t['refused'] !== undefined && { refused: string(t['refused'], `${p}.refused`) }),
      };
    },
    affinity: (v, p) => {
      const a = object(v, p);
      const mode = a['mode'];
      if (mode !== 'balanced' && mode !== 'persistent') fail(`${p}.mode`, 'not balanced or persistent');
      const sameSite = a['sameSite'];
      if (sameSite !== undefined && sameSite !== 'None' && sameSite !== 'Lax' && sameSite !== 'Strict') fail(`${p}.sameSite`, 'not None, Lax or Strict');
      return {
        cookie: string(a['cookie'], `${p}.cookie`),
        mode: mode as 'balanced' | 'persistent',
        ...(a['path'] !== undefined && { path: string(a['path'], `${p}.path`) }),
        ...(a['domain'] !== undefined && { domain: string(a['domain'], `${p}.domain`) }),
        ...(sameSite !== undefined && { sameSite: sameSite as 'None' | 'Lax' | 'Strict' }),
        secure: bool(a['secure'], `${p}.secure`),
        ...(a['maxAge'] !== undefined && { maxAge: count(a['maxAge'], `${p}.maxAge`) }),
        ...(a['expires'] !== undefined && { expires: count(a['expires'], `${p}.expires`) }),
      };
    },
    timeouts: (v, p) => {
      const t = object(v, p);
      return {
        ...(t['connectMs'] !== undefined && { connectMs: count(t['connectMs'], `${p}.connectMs`) }),
        ...(t['readMs'] !== undefined && { readMs: count(t['readMs'], `${p}.readMs`) }),
        ...(t['sendMs'] !== undefined && { sendMs: count(t['sendMs'], `${p}.sendMs`) }),
      };
    },
    canary: (v, p) => {
      const c = object(v, p);
      const opt = (key: string) => (c[key] === undefined ? {} : { [key]: string(c[key], `${p}.${key}`) });
      return {
        backend: backendRef(c['backend'], `${p}.backend`),
        ingress: string(c['ingress'], `${p}.ingress`),
        ...opt('header'),
        ...opt('headerValue'),
        ...opt('headerPattern'),
        ...opt('cookie'),
        weight: count(c['weight'], `${p}.weight`),
        weightTotal: count(c['weightTotal'], `${p}.weightTotal`),
      };
    },
    cors: (v, p) => {
      const c = object(v, p);
      return {
        origins: stringList(c['origins'], `${p}.origins`),
        methods: string(c['methods'], `${p}.methods`),
        headers: string(c['headers'], `${p}.headers`),
        ...(c['expose'] !== undefined && { expose: string(c['expose'], `${p}.expose`) }),
        credentials: bool(c['credentials'], `${p}.credentials`),
        maxAge: count(c['maxAge'], `${p}.maxAge`),
      };
    },
    upstreamHashBy: string,
    mirror: (v, p) => {
      const m = object(v, p);
      return { url: string(m['url'], `${p}.url`), body: bool(m['body'], `${p}.body`), ...(m['host'] !== undefined && { host: string(m['host'], `${p}.host`) }) };
    },
    defaultBackend: backendRef,
    customHttpErrors: (v, p) => array(v, p).map((code, i) => {
      const n = count(code, `${p}[${i}]`);
      return n >= 300 && n <= 599 ? n : fail(`${p}[${i}]`, 'not a status from 300 to 599');
    }),
    loadBalance: (v, p) => (v === 'ewma' ? 'ewma' : fail(p, 'not ewma')),
    connectionLimit: (v, p) => {
      const c = object(v, p);
      const max = count(c['max'], `${p}.max`);
      if (max < 1) fail(`${p}.max`, 'not above 0');
      const status = c['status'] === undefined ? undefined : count(c['status'], `${p}.status`);
      if (status !== undefined && (status < 400 || status > 599)) fail(`${p}.status`, 'not a status from 400 to 599');
      return { max, ...(c['exempt'] !== undefined && { exempt: stringList(c['exempt'], `${p}.exempt`) }), ...(status !== undefined && { status }) };
    },
    rateLimit: (v, p) => {
      const r = object(v, p);
      const positive = (x: unknown, at: string) => (count(x, at) > 0 ? (x as number) : fail(at, 'not above 0'));
      return {
        ...(r['rps'] !== undefined && { rps: positive(r['rps'], `${p}.rps`) }),
        ...(r['rpm'] !== undefined && { rpm: positive(r['rpm'], `${p}.rpm`) }),
        burstMultiplier: positive(r['burstMultiplier'], `${p}.burstMultiplier`),
        ...(r['exempt'] !== undefined && { exempt: stringList(r['exempt'], `${p}.exempt`) }),
        ...(r['status'] !== undefined && { status: count(r['status'], `${p}.status`) }),
      };
    },
    responseHeaders: headerList,
    upstreamHeaders: headerList,
  };
  const policies: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(o)) {
    const parse = (parsers as Record<string, (v: unknown, p: string) => unknown>)[key];
    if (parse === undefined) fail(`${path}.${key}`, 'not a route policy this worker knows');
    if (field !== undefined) policies[key] = parse!(field, `${path}.${key}`);
  }
  return policies as RoutePolicies;
}

/** Regex mode: absent or true (a worker that dropped it would route regex paths literally). */
const regexFlag = (value: unknown, path: string): boolean => (value === undefined ? false : value === true ? true : fail(path, 'not true'));

function routeModel(value: unknown, path: string): RouteModel {
  const o = object(value, path);
  const virtualHosts = array(o['virtualHosts'], `${path}.virtualHosts`).map((v, i): VirtualHost => {
    const vo = object(v, `${path}.virtualHosts[${i}]`);
    const vhost: VirtualHost = { host: string(vo['host'], `${path}.virtualHosts[${i}].host`), routes: array(vo['routes'], `${path}.virtualHosts[${i}].routes`).map((r, j) => route(r, `${path}.virtualHosts[${i}].routes[${j}]`)) };
    return regexFlag(vo['regex'], `${path}.virtualHosts[${i}].regex`) ? { ...vhost, regex: true } : vhost;
  });
  const hostless = array(o['hostless'], `${path}.hostless`).map((r, i) => route(r, `${path}.hostless[${i}]`));
  const backends = array(o['backends'], `${path}.backends`).map((b, i) => backendRef(b, `${path}.backends[${i}]`));
  const tls = array(o['tls'], `${path}.tls`).map((t, i): TlsHost => {
    const to = object(t, `${path}.tls[${i}]`);
    const secret = optionalString(to['secret'], `${path}.tls[${i}].secret`);
    return { host: string(to['host'], `${path}.tls[${i}].host`), ingress: string(to['ingress'], `${path}.tls[${i}].ingress`), ...(secret !== undefined && { secret }) };
  });
  const ownedIngresses = array(o['ownedIngresses'], `${path}.ownedIngresses`).map((s, i) => string(s, `${path}.ownedIngresses[${i}]`));
  const model: RouteModel = {
    virtualHosts,
    hostless,
    ...(regexFlag(o['hostlessRegex'], `${path}.hostlessRegex`) && { hostlessRegex: true as const }),
    ...(o['hsts'] !== undefined && { hsts: hstsValue(o['hsts'], `${path}.hsts`) }),
    ...(o['accessLogFields'] !== undefined && { accessLogFields: array(o['accessLogFields'], `${path}.accessLogFields`).map((f, i) => accessLogFieldOf(f, `${path}.accessLogFields[${i}]`)) }),
    ...(o['realIp'] !== undefined && { realIp: realIpOf(o['realIp'], `${path}.realIp`) }),
    ...(o['http2'] !== undefined && { http2: typeof o['http2'] === 'boolean' ? o['http2'] : fail(`${path}.http2`, 'not a boolean') }),
    backends,
    tls,
    ownedIngresses,
    diagnostics: [],
  };
  if (o['defaultBackend'] === undefined) return model;
  const d = object(o['defaultBackend'], `${path}.defaultBackend`);
  return { ...model, defaultBackend: { backend: backendRef(d['backend'], `${path}.defaultBackend.backend`), ingress: string(d['ingress'], `${path}.defaultBackend.ingress`) } };
}

function endpoint(value: unknown, path: string): Endpoint {
  const o = object(value, path);
  const podName = optionalString(o['podName'], `${path}.podName`);
  return {
    key: string(o['key'], `${path}.key`),
    address: string(o['address'], `${path}.address`),
    port: port(o['port'], `${path}.port`),
    ready: bool(o['ready'], `${path}.ready`),
    serving: bool(o['serving'], `${path}.serving`),
    terminating: bool(o['terminating'], `${path}.terminating`),
    ...(podName !== undefined && { podName }),
  };
}

function backendEndpoints(value: unknown, path: string): BackendEndpoints {
  const o = object(value, path);
  const result: BackendEndpoints = {
    backend: backendRef(o['backend'], `${path}.backend`),
    endpoints: array(o['endpoints'], `${path}.endpoints`).map((e, i) => endpoint(e, `${path}.endpoints[${i}]`)),
  };
  if (o['problem'] === undefined) return result;
  const p = object(o['problem'], `${path}.problem`);
  return { ...result, problem: { code: string(p['code'], `${path}.problem.code`) as ErrorCode, message: string(p['message'], `${path}.problem.message`) } };
}

function certificate(value: unknown, path: string): SniCertificate | CertificateRef {
  const o = object(value, path);
  const id = string(o['id'], `${path}.id`);
  if (o['certPem'] === undefined && o['keyPem'] === undefined && o['notAfter'] === undefined) return { id };
  const notAfter = new Date(string(o['notAfter'], `${path}.notAfter`));
  if (Number.isNaN(notAfter.getTime())) fail(`${path}.notAfter`, 'not a date');
  const certPem = string(o['certPem'], `${path}.certPem`);
  const keyPem = string(o['keyPem'], `${path}.keyPem`);
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) fail(`${path}.certPem`, 'holds no PEM certificate');
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) fail(`${path}.keyPem`, 'holds no PEM private key');
  return { id, certPem, keyPem, notAfter };
}

function tlsPlan(value: unknown, path: string): SnapshotTls {
  const o = object(value, path);
  const hosts = array(o['hosts'], `${path}.hosts`).map((h, i): TlsPlanHost => {
    const ho = object(h, `${path}.hosts[${i}]`);
    const secret = optionalString(ho['secret'], `${path}.hosts[${i}].secret`);
    return { host: string(ho['host'], `${path}.hosts[${i}].host`), ...(secret !== undefined && { secret }) };
  });
  const certificates = new Map<string, SniCertificate | CertificateRef>();
  array(o['certificates'], `${path}.certificates`).forEach((entry, i) => {
    const pair = array(entry, `${path}.certificates[${i}]`);
    if (pair.length !== 2) fail(`${path}.certificates[${i}]`, 'not a [secret, certificate] pair');
    certificates.set(string(pair[0], `${path}.certificates[${i}][0]`), certificate(pair[1], `${path}.certificates[${i}][1]`));
  });
  const plan: SnapshotTls = { hosts, certificates };
  return o['defaultCertificate'] === undefined ? plan : { ...plan, defaultCertificate: certificate(o['defaultCertificate'], `${path}.defaultCertificate`) };
}

function ticketKeys(value: unknown, path: string): Buffer {
  const text = string(value, path);
  const keys = Buffer.from(text, 'base64');
  return keys.length === TICKET_KEYS_BYTES && keys.toString('base64') === text ? keys : fail(path, `not ${TICKET_KEYS_BYTES} bytes of base64`);
}

function envelope(value: unknown, side: string): Record<string, unknown> {
  const o = object(value, side);
  if (o['version'] !== WORKER_PROTOCOL_VERSION) fail(`${side}.version`, `protocol version ${JSON.stringify(o['version'])}, this build speaks ${WORKER_PROTOCOL_VERSION}`);
  string(o['type'], `${side}.type`);
  return o;
}

function wrap<T>(side: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof Invalid) throw new PorticoError('PORTICO_ERR_WORKER_MESSAGE', `malformed ${side} message: ${error.message}`);
    throw error;
  }
}

export function parseConfigSnapshot(o: Record<string, unknown>, path = 'config'): ConfigSnapshot {
  const snapshot: ConfigSnapshot = {
    generation: count(o['generation'], `${path}.generation`),
    full: bool(o['full'], `${path}.full`),
    ...(o['tls'] !== undefined && { tls: tlsPlan(o['tls'], `${path}.tls`) }),
    ...(o['endpoints'] !== undefined && { endpoints: array(o['endpoints'], `${path}.endpoints`).map((b, i) => backendEndpoints(b, `${path}.endpoints[${i}]`)) }),
    ...(o['routes'] !== undefined && { routes: routeModel(o['routes'], `${path}.routes`) }),
  };
  if (snapshot.full && (!snapshot.tls || !snapshot.endpoints || !snapshot.routes)) fail(path, 'a full snapshot needs tls, endpoints and routes');
  return snapshot;
}

/** What a worker receives from the primary. */
export function parsePrimaryMessage(value: unknown): PrimaryMessage {
  return wrap('primary', () => {
    const o = envelope(value, 'primary');
    switch (o['type']) {
      case 'start': {
        const c = object(o['fallbackCertificate'], 'start.fallbackCertificate');
        return {
          type: 'start',
          http: port(o['http'], 'start.http'),
          ...(o['https'] !== undefined && { https: port(o['https'], 'start.https') }),
          fallbackCertificate: { certPem: string(c['certPem'], 'start.fallbackCertificate.certPem'), keyPem: string(c['keyPem'], 'start.fallbackCertificate.keyPem') },
          ticketKeys: ticketKeys(o['ticketKeys'], 'start.ticketKeys'),
          waitForConfig: bool(o['waitForConfig'], 'start.waitForConfig'),
        };
      }
      case 'config':
        return { type: 'config', ...parseConfigSnapshot(o) };
      case 'collect':
        return { type: 'collect', id: count(o['id'], 'collect.id') };
      case 'shutdown':
        return { type: 'shutdown', grace: bool(o['grace'], 'shutdown.grace') };
      default:
        return fail('primary.type', `unknown message type ${JSON.stringify(o['type'])}`);
    }
  });
}

function wireMetric(value: unknown, path: string): WireMetric {
  const o = object(value, path);
  return {
    name: string(o['name'], `${path}.name`),
    help: string(o['help'], `${path}.help`),
    type: string(o['type'], `${path}.type`),
    aggregator: string(o['aggregator'], `${path}.aggregator`),
    values: array(o['values'], `${path}.values`).map((v, i) => {
      const vo = object(v, `${path}.values[${i}]`);
      const labels = object(vo['labels'] ?? {}, `${path}.values[${i}].labels`) as Record<string, string | number>;
      const metricName = optionalString(vo['metricName'], `${path}.values[${i}].metricName`);
      return { value: sample(vo['value'], `${path}.values[${i}].value`), labels, ...(metricName !== undefined && { metricName }) };
    }),
  };
}

/** What the primary receives from a worker. */
export function parseWorkerMessage(value: unknown): WorkerMessage {
  return wrap('worker', () => {
    const o = envelope(value, 'worker');
    switch (o['type']) {
      case 'listening':
        return { type: 'listening', http: port(o['http'], 'listening.http'), ...(o['https'] !== undefined && { https: port(o['https'], 'listening.https') }) };
      case 'applied':
        return { type: 'applied', generation: count(o['generation'], 'applied.generation') };
      case 'report': {
        const failures = object(o['handshakeFailures'], 'report.handshakeFailures');
        return {
          type: 'report',
          id: count(o['id'], 'report.id'),
          requests: count(o['requests'], 'report.requests'),
          handshakeFailures: Object.fromEntries(Object.entries(failures).map(([reason, n]) => [reason, count(n, `report.handshakeFailures.${reason}`)])),
          metrics: array(o['metrics'], 'report.metrics').map((m, i) => wireMetric(m, `report.metrics[${i}]`)),
        };
      }
      case 'failed': {
        const code = optionalString(o['code'], 'failed.code');
        return { type: 'failed', message: string(o['message'], 'failed.message'), ...(code !== undefined && { code }) };
      }
      default:
        return fail('worker.type', `unknown message type ${JSON.stringify(o['type'])}`);
    }
  });
}

/** RouteModel.realIp (the ConfigMap's forwarded-header keys). */
function realIpOf(value: unknown, path: string): RealIpPolicy {
  const o = object(value, path);
  const flag = (key: string): boolean => (typeof o[key] === 'boolean' ? (o[key] as boolean) : fail(`${path}.${key}`, 'not a boolean'));
  return {
    trusted: array(o['trusted'], `${path}.trusted`).map((t, i) => string(t, `${path}.trusted[${i}]`)),
    header: string(o['header'], `${path}.header`),
    passForwarded: flag('passForwarded'),
    fullForwardedFor: flag('fullForwardedFor'),
  };
}

function accessLogFieldOf(value: unknown, path: string): AccessLogField {
  return (ACCESS_LOG_FIELDS as readonly unknown[]).includes(value) ? (value as AccessLogField) : fail(path, 'not an access-log field');
}
