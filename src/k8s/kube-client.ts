import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch, type Dispatcher } from 'undici';
import { PorticoError } from '../lib/errors.js';
import { isDeclaredApiCall, resourcePath, type ApiAccess, type ApiCall, type ApiResource, type ApiVerb } from './api-access.js';

/** An API answer other than 2xx, or no answer at all (`status` 0: connection refused, reset, timeout). */
export class KubeApiError extends Error {
  readonly status: number;
  /** metav1.Status reason: NotFound, Conflict, Expired, Gone, Forbidden, … */
  readonly reason: string | undefined;
  constructor(message: string, status: number, reason?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

/** True for "the resourceVersion is too old": 410 Gone / reason Expired, from a list or a watch. */
export function isResourceExpired(error: unknown): boolean {
  return error instanceof KubeApiError && (error.status === 410 || error.reason === 'Expired' || error.reason === 'Gone');
}

export interface KubeListResult {
  readonly items: unknown[];
  readonly resourceVersion: string;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: Record<string, unknown>;
}

export interface ObjectRef {
  namespace?: string | undefined;
  name: string;
}

export interface SelectorOptions {
  namespace?: string | undefined;
  fieldSelector?: string | undefined;
  labelSelector?: string | undefined;
}

export interface WatchOptions extends SelectorOptions {
  resourceVersion: string;
  /** Asks the server to end the watch after this long (client-go: 5–10 min, randomised). */
  timeoutSeconds: number;
  /** Called for every event line, in order. Throwing ends the watch with that error. */
  onEvent: (event: WatchEvent) => void;
  signal: AbortSignal;
  /** Abort when no byte arrives for this long (a half-open connection). Default timeoutSeconds + 30 s. */
  idleTimeoutMs?: number;
}

export interface KubeClientOptions {
  /** Timeout of non-watch requests. Default 30 s. */
  requestTimeoutMs?: number;
  /** Extra check on every call, after REQUIRED_API_ACCESS; tests use it to record calls. */
  onCall?: (call: ApiCall) => void;
  /** The calls this component may make (its RBAC); default REQUIRED_API_ACCESS (the controller's). */
  access?: readonly ApiAccess[];
}

/**
 * A thin JSON client over client-node's KubeConfig (auth, TLS, in-cluster token rotation) and
 * undici fetch. Objects stay raw JSON: the sources validate them with parseKubeObject, where
 * client-node's generated API would deserialize into classes (timestamps become Date objects,
 * unknown fields vanish) for lists but not for watch events.
 */
export class KubeClient {
  readonly #config: KubeConfig;
  readonly #server: string;
  readonly #options: KubeClientOptions;
  #dispatcher: Dispatcher | undefined;
  #dispatcherResolved = false;

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new PorticoError('PORTICO_ERR_K8S_CONFIG', 'the kubeconfig has no current cluster');
    this.#config = kubeConfig;
    this.#server = cluster.server.replace(/\/+$/, '');
    this.#options = options;
  }

  /** The API server URL from the kubeconfig. */
  get server(): string {
    return this.#server;
  }

  /** The namespace of the kubeconfig's current context (in-cluster: the pod's namespace). */
  get contextNamespace(): string | undefined {
    const context = this.#config.getContextObject(this.#config.getCurrentContext());
    return context?.namespace?.trim() || undefined;
  }

  async list(resource: ApiResource, options: SelectorOptions & { signal?: AbortSignal } = {}): Promise<KubeListResult> {
    this.#check({ verb: 'list', resource, namespace: options.namespace });
    const query = selectorQuery(options);
    const body = (await this.#json('GET', resourcePath(resource, options), { query, signal: options.signal })) as {
      items?: unknown;
      metadata?: { resourceVersion?: unknown };
    };
    const items = Array.isArray(body?.items) ? (body.items as unknown[]) : [];
    const resourceVersion = typeof body?.metadata?.resourceVersion === 'string' ? body.metadata.resourceVersion : '';
    return { items, resourceVersion };
  }

  async get(resource: ApiResource, ref: ObjectRef): Promise<Record<string, unknown>> {
    this.#check({ verb: 'get', resource, namespace: ref.namespace, name: ref.name });
    return (await this.#json('GET', resourcePath(resource, ref))) as Record<string, unknown>;
  }

  async create(resource: ApiResource, namespace: string | undefined, body: object): Promise<Record<string, unknown>> {
    this.#check({ verb: 'create', resource, namespace });
    return (await this.#json('POST', resourcePath(resource, { namespace }), { body })) as Record<string, unknown>;
  }

  /** PUT: optimistic concurrency through body.metadata.resourceVersion (409 Conflict when stale). */
  async update(
    resource: ApiResource,
    ref: ObjectRef,
    body: object,
    options: { subresource?: 'status' } = {},
  ): Promise<Record<string, unknown>> {
    this.#check({ verb: 'update', resource, namespace: ref.namespace, name: ref.name, subresource: options.subresource });
    return (await this.#json('PUT', resourcePath(resource, { ...ref, subresource: options.subresource }), { body })) as Record<
      string,
      unknown
    >;
  }

  /** JSON merge patch (RFC 7386). */
  async patch(resource: ApiResource, ref: ObjectRef, body: object, options: { subresource?: 'status' } = {}): Promise<Record<string, unknown>> {
    this.#check({ verb: 'patch', resource, namespace: ref.namespace, name: ref.name, subresource: options.subresource });
    return (await this.#json('PATCH', resourcePath(resource, { ...ref, subresource: options.subresource }), {
      body,
      contentType: 'application/merge-patch+json',
    })) as Record<string, unknown>;
  }

  /**
   * Streams a watch. Resolves when the server ends it (its timeout); rejects with KubeApiError
   * for HTTP errors, ERROR events (410 → isResourceExpired), broken or idle connections.
   */
  async watch(resource: ApiResource, options: WatchOptions): Promise<void> {
    this.#check({ verb: 'watch', resource, namespace: options.namespace });
    const query = selectorQuery(options);
    query.set('watch', '1');
    query.set('allowWatchBookmarks', 'true');
    if (options.resourceVersion) query.set('resourceVersion', options.resourceVersion);
    query.set('timeoutSeconds', String(options.timeoutSeconds));
    const idleMs = options.idleTimeoutMs ?? options.timeoutSeconds * 1000 + 30_000;
    const controller = new AbortController();
    const onAbort = () => controller.abort(options.signal.reason);
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (options.signal.aborted) onAbort();
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new KubeApiError(`watch idle for ${idleMs} ms`, 0, 'Timeout')), idleMs);
      idle.unref();
    };
    try {
      touch();
      const response = await this.#fetch('GET', resourcePath(resource, options), { query, signal: controller.signal });
      if (response.status !== 200) throw await errorFromResponse(response);
      if (!response.body) return;
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of response.body) {
        touch();
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) this.#deliver(line, options.onEvent);
          newline = buffered.indexOf('\n');
        }
      }
      const rest = buffered.trim();
      if (rest) this.#deliver(rest, options.onEvent);
    } catch (error) {
      if (controller.signal.aborted && controller.signal.reason instanceof KubeApiError) throw controller.signal.reason;
      throw toKubeError(error);
    } finally {
      clearTimeout(idle);
      options.signal.removeEventListener('abort', onAbort);
      controller.abort();
    }
  }

  #deliver(line: string, onEvent: (event: WatchEvent) => void): void {
    let event: WatchEvent;
    try {
      event = JSON.parse(line) as WatchEvent;
    } catch {
      throw new KubeApiError(`watch stream carried a line that is not JSON: ${line.slice(0, 80)}`, 0, 'BadStream');
    }
    if (event === null || typeof event !== 'object' || typeof event.type !== 'string') {
      throw new KubeApiError('watch stream carried an event without a type', 0, 'BadStream');
    }
    if (event.type === 'ERROR') {
      const status = (event.object ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
      throw new KubeApiError(
        `watch error: ${typeof status.message === 'string' ? status.message : 'unknown'}`,
        typeof status.code === 'number' ? status.code : 500,
        typeof status.reason === 'string' ? status.reason : undefined,
      );
    }
    onEvent(event);
  }

  #check(call: { verb: ApiVerb; resource: ApiResource; namespace?: string | undefined; name?: string | undefined; subresource?: string | undefined }): void {
    const apiCall: ApiCall = {
      verb: call.verb,
      group: call.resource.group,
      resource: call.resource.resource,
      ...(call.subresource !== undefined && { subresource: call.subresource }),
      ...(call.namespace !== undefined && { namespace: call.namespace }),
      ...(call.name !== undefined && { name: call.name }),
    };
    if (!isDeclaredApiCall(apiCall, {}, this.#options.access)) {
      const what = `${call.verb} ${call.resource.group || 'core'}/${call.resource.resource}${call.subresource ? `/${call.subresource}` : ''}`;
      throw new PorticoError('PORTICO_ERR_K8S_ACCESS_UNDECLARED', `${what} is not declared in REQUIRED_API_ACCESS`);
    }
    this.#options.onCall?.(apiCall);
  }

  async #json(
    method: string,
    path: string,
    options: { query?: URLSearchParams; body?: object; contentType?: string; signal?: AbortSignal | undefined } = {},
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs ?? 30_000);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      const response = await this.#fetch(method, path, { ...options, signal });
      if (response.status < 200 || response.status > 299) throw await errorFromResponse(response);
      const text = await response.text();
      return text ? (JSON.parse(text) as unknown) : {};
    } catch (error) {
      throw toKubeError(error);
    }
  }

  async #fetch(
    method: string,
    path: string,
    options: { query?: URLSearchParams | undefined; body?: object | undefined; contentType?: string | undefined; signal: AbortSignal },
  ) {
    const query = options.query?.toString();
    const url = `${this.#server}${path}${query ? `?${query}` : ''}`;
    // applySecurityAuthentication yields fresh auth headers (tokens rotate) but also builds a new
    // undici Agent on every call; keep the first one so connections are reused.
    const context = new RequestContext(url, method as 'GET');
    try {
      await this.#config.applySecurityAuthentication(context);
    } catch (error) {
      // client-node 2.x refuses plain-http servers unless insecure-skip-tls-verify is set, after
      // the auth headers were applied; plain http (kubectl proxy) needs no TLS dispatcher anyway.
      if (!(this.#server.startsWith('http:') && /HTTP protocol is not allowed/.test((error as Error).message))) throw error;
    }
    if (!this.#dispatcherResolved) {
      this.#dispatcher = context.getDispatcher();
      this.#dispatcherResolved = true;
    }
    const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    return fetch(url, {
      method,
      headers,
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
      ...(this.#dispatcher && { dispatcher: this.#dispatcher }),
      signal: options.signal,
    });
  }
}

function selectorQuery(options: SelectorOptions): URLSearchParams {
  const query = new URLSearchParams();
  if (options.labelSelector) query.set('labelSelector', options.labelSelector);
  if (options.fieldSelector) query.set('fieldSelector', options.fieldSelector);
  return query;
}

async function errorFromResponse(response: { status: number; statusText: string; text(): Promise<string> }): Promise<KubeApiError> {
  let message = `${response.status} ${response.statusText}`;
  let reason: string | undefined;
  try {
    const status = JSON.parse(await response.text()) as { message?: unknown; reason?: unknown };
    if (typeof status.message === 'string') message = `${response.status} ${status.message}`;
    if (typeof status.reason === 'string') reason = status.reason;
  } catch {
    // not a Status object
  }
  return new KubeApiError(message, response.status, reason);
}

function toKubeError(error: unknown): Error {
  if (error instanceof KubeApiError || error instanceof PorticoError) return error;
  const err = error as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return new KubeApiError('request timed out', 0, 'Timeout', { cause: error });
  if (err?.name === 'AbortError') return new KubeApiError('request aborted', 0, 'Aborted', { cause: error });
  const detail = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(error);
  return new KubeApiError(`cannot reach the API server: ${detail}`, 0, 'Unreachable', { cause: error });
}

export interface LoadKubeConfigOptions {
  /** --kubeconfig; wins over everything. */
  kubeconfigPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Where ~/.kube/config is looked for; default os.homedir(). */
  homeDir?: string;
}

/**
 * `--kubeconfig` when given (as in client-go), else in-cluster config when running in a pod
 * (service-account token and CA), else KUBECONFIG, else ~/.kube/config. With none of them this
 * throws PORTICO_ERR_K8S_CONFIG naming every place it looked: client-node would fall back to
 * http://localhost:8080, which is Portico's own HTTP port, and the controller would watch itself.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConfig {
  const env = options.env ?? process.env;
  const kubeConfig = new KubeConfig();
  const files = options.kubeconfigPath ? [options.kubeconfigPath] : (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  const inCluster = !options.kubeconfigPath && Boolean(env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT);
  const homeConfig = join(options.homeDir ?? homedir(), '.kube', 'config');
  if (!inCluster && files.length === 0) {
    if (!existsSync(homeConfig)) {
      throw new PorticoError(
        'PORTICO_ERR_K8S_CONFIG',
        `no Kubernetes client configuration: no --kubeconfig flag, KUBECONFIG is not set, ${homeConfig} does not exist, ` +
          'and this is not a pod (KUBERNETES_SERVICE_HOST is not set); pass --kubeconfig FILE, or --manifests DIR to serve files',
      );
    }
    files.push(homeConfig);
  }
  const from = inCluster ? 'the in-cluster service account' : files.join(delimiter);
  try {
    if (inCluster) kubeConfig.loadFromCluster();
    else {
      kubeConfig.loadFromFile(files[0]!);
      for (const file of files.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kubeConfig.mergeConfig(more);
      }
    }
  } catch (error) {
    throw new PorticoError('PORTICO_ERR_K8S_CONFIG', `cannot load the Kubernetes client configuration from ${from}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!kubeConfig.getCurrentCluster()) {
    throw new PorticoError('PORTICO_ERR_K8S_CONFIG', `the Kubernetes client configuration from ${from} names no current cluster`);
  }
  return kubeConfig;
}
