// ingress-nginx's controller ConfigMap (`--configmap NS/NAME`): its `data` is untrusted text, parsed
// here into a typed, frozen ControllerConfig (what is absent stays undefined: Portico's default, or
// the flag's, applies). A bad value is a problem naming the key and value, never an exception; the
// key's default is kept and every other key still applies. Keys Portico does not implement are
// listed, never silently dropped. The compiler (index.ts) resolves the header ConfigMaps that
// add-headers / proxy-set-headers name and applies the result as defaults under the annotations.
import { fieldsOfNginxLogFormat, type AccessLogField } from '../model/access-log-fields.js';
import type { ConfigMap, ObjectSnapshot } from '../model/k8s-objects.js';
import type { BackendRef, Diagnostic, DiagnosticObject, HstsSettings, ProxyTimeouts } from '../model/route-model.js';
import { parseStatusList } from './annotations/default-backend.js';
import { parseNginxSize } from './annotations/body-size.js';
import { HTTP_TOKEN, readCidrList, type AnnotationProblem } from './annotations/values.js';
import type { RealIpPolicy } from '../lib/real-ip.js';

export interface ControllerConfig {
  /** proxy-body-size: bytes (0: no limit). */
  readonly maxBodySize?: number;
  /** proxy-connect-, proxy-read-, proxy-send-timeout. */
  readonly timeouts?: ProxyTimeouts;
  /** ssl-redirect: TLS hosts redirect plain HTTP (default true). */
  readonly sslRedirect?: boolean;
  /** force-ssl-redirect: every host redirects plain HTTP (default false). */
  readonly forceSslRedirect?: boolean;
  /** hsts, hsts-max-age, hsts-include-subdomains, hsts-preload: only the keys the ConfigMap sets. */
  readonly hsts?: Partial<HstsSettings> & { readonly enabled?: boolean };
  /** allow-snippet-annotations: "true" → ignore (snippets are never executed), "false" → refuse. */
  readonly snippetAnnotations?: 'refuse' | 'ignore';
  /** limit-req-status-code: the status a rate-limited request gets (default 503). */
  readonly rateLimitStatus?: number;
  /** limit-conn-status-code: the status a request over limit-connections gets (default 503). */
  readonly connectionLimitStatus?: number;
  /** load-balance: the default for routes without the annotation (ewma; round_robin leaves it unset). */
  readonly loadBalance?: 'ewma';
  /** disable-access-log: "true": no access-log line for any route (an Ingress's enable-access-log: "true" wins). */
  readonly accessLog?: boolean;
  /** use-http2: HTTP/2 to clients (ALPN h2, h2c prior knowledge); default true. */
  readonly http2?: boolean;
  /** custom-http-errors: statuses the --default-backend-service answers in place of the upstream. */
  readonly customHttpErrors?: readonly number[];
  /** log-format-upstream: the access-log fields its variables name (lines stay JSON). */
  readonly accessLogFields?: readonly AccessLogField[];
  /** use-forwarded-headers / enable-real-ip (with proxy-real-ip-cidr, forwarded-for-header), compute-full-forwarded-for. */
  readonly realIp?: RealIpPolicy;
  /** add-headers: `namespace/name` of a ConfigMap of response header fields. */
  readonly addHeaders?: string;
  /** proxy-set-headers: `namespace/name` of a ConfigMap of upstream request header fields. */
  readonly proxySetHeaders?: string;
}

export interface ConfigMapProblem extends AnnotationProblem {
  /** The ConfigMap key (AnnotationProblem.key is the same). */
  readonly key: string;
}

export interface ParsedControllerConfigMap {
  readonly config: ControllerConfig;
  /** Values Portico cannot use: the key's default applies. */
  readonly problems: readonly ConfigMapProblem[];
  /** Values Portico reads but does not do as ingress-nginx would (the forwarded-header keys set to trust clients, allow-snippet-annotations: "true"), by key. */
  readonly different: readonly ConfigMapProblem[];
  /** Keys Portico does not implement at all, sorted. */
  readonly unsupported: readonly string[];
}

/** ingress-nginx's defaults for the keys Portico reads (what an absent key means there). */
export const CONFIGMAP_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  'proxy-body-size': '1m',
  'proxy-connect-timeout': '5',
  'proxy-read-timeout': '60',
  'proxy-send-timeout': '60',
  'ssl-redirect': 'true',
  'force-ssl-redirect': 'false',
  hsts: 'true',
  'hsts-max-age': '31536000',
  'hsts-include-subdomains': 'true',
  'hsts-preload': 'false',
  'allow-snippet-annotations': 'false',
  'limit-req-status-code': '503',
  'limit-conn-status-code': '503',
  'load-balance': 'round_robin',
  'disable-access-log': 'false',
  'use-http2': 'true',
  'log-format-upstream': '',
  'custom-http-errors': '',
  'use-forwarded-headers': 'false',
  'forwarded-for-header': 'X-Forwarded-For',
  'compute-full-forwarded-for': 'false',
  'enable-real-ip': 'false',
  'proxy-real-ip-cidr': '0.0.0.0/0',
  'add-headers': '',
  'proxy-set-headers': '',
});

/** Every key Portico reads. */
export const SUPPORTED_CONFIGMAP_KEYS: ReadonlySet<string> = new Set(Object.keys(CONFIGMAP_DEFAULTS));


/** Where a supported key behaves differently from ingress-nginx (migrate-check and the README say so). */
export const CONFIGMAP_DIFFERENCES: Readonly<Record<string, string>> = Object.freeze({
  'proxy-body-size': 'a chunked body is counted with its chunk framing; the node data plane checks only Content-Length',
  'proxy-read-timeout': 'read and send share one inactivity timer: the larger of the two applies to both',
  'proxy-send-timeout': 'read and send share one inactivity timer: the larger of the two applies to both',
  'proxy-connect-timeout': 'without the ConfigMap key Portico keeps its own connect timeout; the node data plane keeps its pool-wide one',
  'allow-snippet-annotations': 'snippets are never executed: "true" serves an Ingress without its snippets (a warning), "false" does not serve it',
  'add-headers': 'set on proxied responses of matched routes (replacing the backend\'s same-named fields), not on Portico\'s own error replies; the named ConfigMap must be in --configmap\'s namespace in Kubernetes mode',
  'custom-http-errors': 'applied with --default-backend-service (the controller-wide default backend) or an Ingress\'s default-backend annotation; the engine, HTTP/1.1 clients only; the default backend gets the original method to / without the body',
  'proxy-set-headers': 'nginx variables ($host …) are sent literally; replaces the client\'s same-named fields; the named ConfigMap must be in --configmap\'s namespace in Kubernetes mode',
});

/**
 * use-forwarded-headers, enable-real-ip, proxy-real-ip-cidr, forwarded-for-header,
 * compute-full-forwarded-for → the real-IP policy (src/lib/real-ip.ts), or undefined when they
 * leave Portico trusting no header (their defaults).
 */
function parseRealIp(data: Readonly<Record<string, string>>, problems: ConfigMapProblem[], different: ConfigMapProblem[]): RealIpPolicy | undefined {
  const passForwarded = bool(data, 'use-forwarded-headers', problems) === true;
  const realIp = passForwarded || bool(data, 'enable-real-ip', problems) === true;
  const fullForwardedFor = bool(data, 'compute-full-forwarded-for', problems) === true;
  let header = 'x-forwarded-for';
  if (data['forwarded-for-header'] !== undefined) {
    const name = data['forwarded-for-header'].trim();
    if (HTTP_TOKEN.test(name)) header = name.toLowerCase();
    else problems.push({ key: 'forwarded-for-header', severity: 'warning', message: `forwarded-for-header: ${JSON.stringify(data['forwarded-for-header'])} is not a header name; X-Forwarded-For applies` });
  }
  let trusted: readonly string[] = ['0.0.0.0/0'];
  if (data['proxy-real-ip-cidr'] !== undefined) {
    const cidrProblems: AnnotationProblem[] = [];
    const list = readCidrList(data, 'proxy-real-ip-cidr', cidrProblems);
    if (cidrProblems.length > 0 || list === undefined || list.length === 0) {
      problems.push({ key: 'proxy-real-ip-cidr', severity: 'warning', message: `proxy-real-ip-cidr: ${JSON.stringify(data['proxy-real-ip-cidr'])} is not a list of IP addresses or CIDRs; no forwarded header is trusted` });
      trusted = [];
    } else trusted = list;
  }
  if (!realIp && !fullForwardedFor) return undefined;
  if (realIp && trusted.some((cidr) => cidr === '0.0.0.0/0' || cidr === '::/0')) {
    const key = passForwarded ? 'use-forwarded-headers' : 'enable-real-ip';
    different.push({ key, severity: 'warning', message: `${key}: with proxy-real-ip-cidr ${trusted.join(', ')} (ingress-nginx's default) every client can choose its own address with ${header}: access lists and rate limits then trust it; set proxy-real-ip-cidr to the proxies in front` });
  }
  // Only trusted peers' headers are read: with realIp off the trusted list is empty, so clientOf keeps the peer.
  return Object.freeze({ trusted: realIp ? trusted : [], header, passForwarded, fullForwardedFor: fullForwardedFor });
}

function bool(data: Readonly<Record<string, string>>, key: string, problems: ConfigMapProblem[]): boolean | undefined {
  const value = data[key];
  if (value === undefined) return undefined;
  const normalised = value.trim().toLowerCase();
  if (normalised === 'true') return true;
  if (normalised === 'false') return false;
  problems.push({ key, severity: 'warning', message: `${key}: ${JSON.stringify(value)} is not "true" or "false"; the default (${CONFIGMAP_DEFAULTS[key]}) applies` });
  return undefined;
}

function seconds(data: Readonly<Record<string, string>>, key: string, problems: ConfigMapProblem[]): number | undefined {
  const value = data[key];
  if (value === undefined) return undefined;
  const match = /^\s*(\d{1,7})s?\s*$/.exec(value);
  if (match !== null && Number(match[1]) > 0 && Number(match[1]) * 1000 <= 2_147_483_647) return Number(match[1]) * 1000;
  problems.push({ key, severity: 'warning', message: `${key}: ${JSON.stringify(value)} is not a whole number of seconds from 1 to 2147483; the default applies` });
  return undefined;
}

/** `namespace/name` (a bare name is in `namespace`, the controller ConfigMap's). */
function reference(data: Readonly<Record<string, string>>, key: string, namespace: string, problems: ConfigMapProblem[]): string | undefined {
  const value = data[key];
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  const match = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(trimmed);
  if (match !== null) return `${match[1] ?? namespace}/${match[3]}`;
  problems.push({ key, severity: 'warning', message: `${key}: ${JSON.stringify(value)} is not a ConfigMap namespace/name; no headers are added` });
  return undefined;
}

/** Parses the controller ConfigMap's data. `namespace` completes a bare add-headers / proxy-set-headers name. */
export function parseControllerConfigMap(data: Readonly<Record<string, string>>, namespace = 'default'): ParsedControllerConfigMap {
  const problems: ConfigMapProblem[] = [];
  const different: ConfigMapProblem[] = [];

  let maxBodySize: number | undefined;
  if (data['proxy-body-size'] !== undefined) {
    maxBodySize = parseNginxSize(data['proxy-body-size']);
    if (maxBodySize === undefined) problems.push({ key: 'proxy-body-size', severity: 'warning', message: `proxy-body-size: ${JSON.stringify(data['proxy-body-size'])} is not a size (such as 8m, 512k, 0); the default applies` });
  }
  const connectMs = seconds(data, 'proxy-connect-timeout', problems);
  const readMs = seconds(data, 'proxy-read-timeout', problems);
  const sendMs = seconds(data, 'proxy-send-timeout', problems);
  const timeouts: ProxyTimeouts | undefined =
    connectMs === undefined && readMs === undefined && sendMs === undefined
      ? undefined
      : Object.freeze({ ...(connectMs !== undefined && { connectMs }), ...(readMs !== undefined && { readMs }), ...(sendMs !== undefined && { sendMs }) });

  const sslRedirect = bool(data, 'ssl-redirect', problems);
  const forceSslRedirect = bool(data, 'force-ssl-redirect', problems);

  const hstsEnabled = bool(data, 'hsts', problems);
  let maxAge: number | undefined;
  if (data['hsts-max-age'] !== undefined) {
    const text = data['hsts-max-age'].trim();
    if (/^\d{1,10}$/.test(text)) maxAge = Number(text);
    else problems.push({ key: 'hsts-max-age', severity: 'warning', message: `hsts-max-age: ${JSON.stringify(data['hsts-max-age'])} is not a whole number of seconds; the default applies` });
  }
  const includeSubDomains = bool(data, 'hsts-include-subdomains', problems);
  const preload = bool(data, 'hsts-preload', problems);
  const hsts =
    hstsEnabled === undefined && maxAge === undefined && includeSubDomains === undefined && preload === undefined
      ? undefined
      : Object.freeze({
          ...(hstsEnabled !== undefined && { enabled: hstsEnabled }),
          ...(maxAge !== undefined && { maxAge }),
          ...(includeSubDomains !== undefined && { includeSubDomains }),
          ...(preload !== undefined && { preload }),
        });

  const snippets = bool(data, 'allow-snippet-annotations', problems);
  if (snippets === true) different.push({ key: 'allow-snippet-annotations', severity: 'warning', message: 'allow-snippet-annotations: "true": Portico never executes snippets; Ingresses with *-snippet annotations are served without them' });

  const refusalStatus = (key: string): number | undefined => {
    if (data[key] === undefined) return undefined;
    const text = data[key].trim();
    const status = Number(text);
    if (/^\d{3}$/.test(text) && status >= 400 && status <= 599) return status;
    problems.push({ key, severity: 'warning', message: `${key}: ${JSON.stringify(data[key])} is not an HTTP status from 400 to 599; the default (503) applies` });
    return undefined;
  };
  const rateLimitStatus = refusalStatus('limit-req-status-code');
  const connectionLimitStatus = refusalStatus('limit-conn-status-code');

  let loadBalance: 'ewma' | undefined;
  if (data['load-balance'] !== undefined) {
    const value = data['load-balance'].trim().toLowerCase();
    if (value === 'ewma') loadBalance = 'ewma';
    else if (value !== 'round_robin') problems.push({ key: 'load-balance', severity: 'warning', message: `load-balance: only "round_robin" and "ewma" are supported, got ${JSON.stringify(data['load-balance'])}; round_robin applies` });
  }

  const disableAccessLog = bool(data, 'disable-access-log', problems);
  const http2 = bool(data, 'use-http2', problems);
  let customHttpErrors: readonly number[] | undefined;
  if (data['custom-http-errors'] !== undefined && data['custom-http-errors'].trim() !== '') {
    customHttpErrors = parseStatusList(data['custom-http-errors']);
    if (customHttpErrors === undefined) problems.push({ key: 'custom-http-errors', severity: 'warning', message: `custom-http-errors: ${JSON.stringify(data['custom-http-errors'])} is not a comma-separated list of statuses from 300 to 599; ignored` });
  }
  let accessLogFields: readonly AccessLogField[] | undefined;
  if (data['log-format-upstream'] !== undefined && data['log-format-upstream'].trim() !== '') {
    const { fields, unknown } = fieldsOfNginxLogFormat(data['log-format-upstream']);
    if (fields.length === 0) problems.push({ key: 'log-format-upstream', severity: 'warning', message: `log-format-upstream: names no variable Portico logs (${unknown.join(', ') || 'none'}); every field is logged` });
    else {
      accessLogFields = Object.freeze(fields);
      // Lines are JSON with these fields; the format's literal text and unknown variables are not reproduced.
      different.push({ key: 'log-format-upstream', severity: 'warning', message: `log-format-upstream: logged as JSON lines with ${fields.join(', ')}${unknown.length > 0 ? `; no field for ${unknown.join(', ')}` : ''}` });
    }
  }

  const realIp = parseRealIp(data, problems, different);

  const addHeaders = reference(data, 'add-headers', namespace, problems);
  const proxySetHeaders = reference(data, 'proxy-set-headers', namespace, problems);

  const config: ControllerConfig = Object.freeze({
    ...(maxBodySize !== undefined && { maxBodySize }),
    ...(timeouts && { timeouts }),
    ...(sslRedirect !== undefined && { sslRedirect }),
    ...(forceSslRedirect !== undefined && { forceSslRedirect }),
    ...(hsts && { hsts }),
    ...(snippets !== undefined && { snippetAnnotations: snippets ? ('ignore' as const) : ('refuse' as const) }),
    ...(rateLimitStatus !== undefined && { rateLimitStatus }),
    ...(connectionLimitStatus !== undefined && { connectionLimitStatus }),
    ...(loadBalance !== undefined && { loadBalance }),
    ...(disableAccessLog !== undefined && { accessLog: !disableAccessLog }),
    ...(http2 !== undefined && { http2 }),
    ...(accessLogFields !== undefined && { accessLogFields }),
    ...(customHttpErrors !== undefined && { customHttpErrors }),
    ...(realIp !== undefined && { realIp }),
    ...(addHeaders !== undefined && { addHeaders }),
    ...(proxySetHeaders !== undefined && { proxySetHeaders }),
  });
  const unsupported = Object.keys(data).filter((key) => !SUPPORTED_CONFIGMAP_KEYS.has(key)).sort();
  return { config, problems, different, unsupported };
}

/** Fields the proxy itself manages (framing, hop-by-hop, forwarding): a header list cannot set them. */
const MANAGED_FIELDS: ReadonlySet<string> = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip', 'x-request-id', 'strict-transport-security',
]);

/** A header list ConfigMap (add-headers / proxy-set-headers): name → value, sorted by name; bad entries are problems. */
export function parseHeaderConfigMap(data: Readonly<Record<string, string>>, what: string): { headers: ReadonlyArray<readonly [string, string]>; problems: string[] } {
  const headers: Array<readonly [string, string]> = [];
  const problems: string[] = [];
  for (const name of Object.keys(data).sort()) {
    const value = data[name]!.trim();
    if (!HTTP_TOKEN.test(name)) problems.push(`${what}: ${JSON.stringify(name)} is not a header name; skipped`);
    else if (MANAGED_FIELDS.has(name.toLowerCase())) problems.push(`${what}: ${name} is set by Portico itself (framing, forwarding or HSTS); skipped`);
    else if (!/^[\x20-\x7e\t]*$/.test(value)) problems.push(`${what}: the value of ${name} has control or non-ASCII characters; skipped`);
    else headers.push(Object.freeze([name, value] as const));
  }
  return { headers: Object.freeze(headers), problems };
}

/** What the compiler applies: the ConfigMap's settings with the header ConfigMaps they name read. */
export interface ResolvedControllerConfig extends ControllerConfig {
  /** --default-backend-service: unmatched requests, and the ConfigMap's custom-http-errors. */
  readonly defaultBackend?: BackendRef;
  /** add-headers: response fields. */
  readonly responseHeaders?: ReadonlyArray<readonly [string, string]>;
  /** proxy-set-headers: upstream request fields. */
  readonly upstreamHeaders?: ReadonlyArray<readonly [string, string]>;
}

export interface CompiledControllerConfig {
  readonly config: ResolvedControllerConfig;
  readonly diagnostics: readonly Diagnostic[];
  /** `namespace/name` of every ConfigMap read or looked for, sorted: a change to one rebuilds the routes. */
  readonly configMaps: readonly string[];
}

/** Reads `key` (`namespace/name`) and the header ConfigMaps it names from the snapshot. Pure. */
export function compileControllerConfigMap(snapshot: ObjectSnapshot, key: string): CompiledControllerConfig {
  const slash = key.indexOf('/');
  const namespace = slash < 0 ? 'default' : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  const object: DiagnosticObject = { kind: 'ConfigMap', namespace, name };
  const configMaps = new Set([`${namespace}/${name}`]);
  const diagnostics: Diagnostic[] = [];
  const found: ConfigMap | undefined = snapshot.configMaps?.get(`${namespace}/${name}`);
  if (found === undefined) {
    diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_CONFIGMAP_MISSING', object, message: `--configmap ${namespace}/${name} does not exist; the defaults apply` });
    return { config: Object.freeze({}), diagnostics, configMaps: [...configMaps] };
  }
  const parsed = parseControllerConfigMap(found.data ?? {}, namespace);
  for (const problem of parsed.problems) diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_CONFIGMAP_INVALID', object, field: `data.${problem.key}`, message: problem.message });
  for (const note of parsed.different) diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_CONFIGMAP_UNSUPPORTED', object, field: `data.${note.key}`, message: note.message });
  if (parsed.unsupported.length > 0) {
    diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_CONFIGMAP_UNSUPPORTED', object, field: 'data', message: `not implemented by Portico, ignored: ${parsed.unsupported.join(', ')}` });
  }
  const headersOf = (ref: string | undefined, key: 'add-headers' | 'proxy-set-headers'): ReadonlyArray<readonly [string, string]> | undefined => {
    if (ref === undefined) return undefined;
    configMaps.add(ref);
    const list = snapshot.configMaps?.get(ref);
    if (list === undefined) {
      diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_CONFIGMAP_MISSING', object, field: `data.${key}`, message: `${key}: ConfigMap ${ref} does not exist (in Kubernetes mode only --configmap's namespace is watched); no headers are added` });
      return undefined;
    }
    const [refNamespace, refName] = ref.split('/') as [string, string];
    const headers = parseHeaderConfigMap(list.data ?? {}, `${key} ConfigMap ${ref}`);
    for (const message of headers.problems) diagnostics.push({ severity: 'warning', code: 'PORTICO_ERR_CONFIGMAP_INVALID', object: { kind: 'ConfigMap', namespace: refNamespace, name: refName }, field: 'data', message });
    return headers.headers.length > 0 ? headers.headers : undefined;
  };
  const responseHeaders = headersOf(parsed.config.addHeaders, 'add-headers');
  const upstreamHeaders = headersOf(parsed.config.proxySetHeaders, 'proxy-set-headers');
  const config: ResolvedControllerConfig = Object.freeze({
    ...parsed.config,
    ...(responseHeaders && { responseHeaders }),
    ...(upstreamHeaders && { upstreamHeaders }),
  });
  return { config, diagnostics, configMaps: [...configMaps].sort() };
}

/** The Strict-Transport-Security value the ConfigMap gives over `base` (the flags'), false when off; undefined: the ConfigMap sets no hsts key. */
export function hstsFromConfig(config: ControllerConfig, base: HstsSettings | false): string | false | undefined {
  const hsts = config.hsts;
  if (hsts === undefined) return undefined;
  const enabled = hsts.enabled ?? base !== false;
  if (!enabled) return false;
  const from: HstsSettings = base === false ? { maxAge: 31_536_000, includeSubDomains: true, preload: false } : base;
  const maxAge = hsts.maxAge ?? from.maxAge;
  const includeSubDomains = hsts.includeSubDomains ?? from.includeSubDomains;
  const preload = hsts.preload ?? from.preload ?? false;
  return `max-age=${maxAge}${includeSubDomains ? '; includeSubDomains' : ''}${preload ? '; preload' : ''}`;
}
