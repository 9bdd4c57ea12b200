// An in-process fake Kubernetes API server speaking the REST protocol client-node and kubectl use:
// discovery, list with resourceVersion, watch streams (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR),
// 410 Gone for compacted resourceVersions, server-side watch timeouts, the status subresource,
// optimistic concurrency (409 Conflict), merge patches, label/field selectors, and fault hooks
// (drop watches, fail the next N requests, expire history, stop/restart on the same port).
//
//   const api = await FakeApiServer.start();
//   api.create(ingress('default/web', …));             // in-process, same effect as a POST
//   const source = new KubernetesSource({ kubeConfig: api.kubeConfig(), … });
//   api.dropWatches(); api.failNext(3); await api.stop(); await api.restart();
//
// Fidelity notes: one global resourceVersion counter like etcd; list items carry no kind/apiVersion
// (like the real server); an expired watch gets HTTP 200 and one ERROR event with a 410 Status (the
// watch cache's behaviour); POST and main-resource PUT ignore `status` where a status subresource
// exists, PUT …/status changes only status.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

type Json = Record<string, unknown>;
export type FakeObject = Json & { apiVersion?: string; kind?: string; metadata: Json & { name: string; namespace?: string } };

export interface FakeResource {
  group: string;
  version: string;
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  status: boolean;
}

export const FAKE_RESOURCES: readonly FakeResource[] = [
  { group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, shortNames: ['ns'], status: true },
  { group: '', version: 'v1', resource: 'nodes', singular: 'node', kind: 'Node', namespaced: false, shortNames: ['no'], status: true },
  { group: '', version: 'v1', resource: 'services', singular: 'service', kind: 'Service', namespaced: true, shortNames: ['svc'], status: true },
  { group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, shortNames: ['po'], status: true },
  { group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'], status: false },
  { group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, status: false },
  { group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', namespaced: true, shortNames: ['ev'], status: false },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', singular: 'ingress', kind: 'Ingress', namespaced: true, shortNames: ['ing'], status: true },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingressclasses', singular: 'ingressclass', kind: 'IngressClass', namespaced: false, status: false },
  { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', singular: 'endpointslice', kind: 'EndpointSlice', namespaced: true, status: false },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', singular: 'lease', kind: 'Lease', namespaced: true, status: false },
];

const BY_KIND = new Map(FAKE_RESOURCES.map((r) => [r.kind, r]));
const BY_PATH = new Map(FAKE_RESOURCES.map((r) => [`${r.group}/${r.version}/${r.resource}`, r]));

function apiVersionOf(r: FakeResource): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** What the server understood a request to be; recorded for every API (non-discovery) request. */
export interface FakeRequest {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  query: Record<string, string>;
  /** HTTP status answered (for watches, the status the stream started with). */
  status?: number;
}

export interface FakeApiServerOptions {
  /** Port to listen on; default 0 (a free one). restart() reuses the same port. */
  port?: number;
  /** Send BOOKMARK events this often on watches that allow them. Default: never (use sendBookmarks()). */
  bookmarkIntervalMs?: number;
  /** Cap on every watch's lifetime (server-side timeout), whatever timeoutSeconds asks. */
  maxWatchMs?: number;
  /** RBAC stand-in: return false to answer 403 Forbidden. */
  authorize?: (request: FakeRequest) => boolean;
}

interface HistoryEntry {
  rv: number;
  resource: FakeResource;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: FakeObject;
  /** The previous version, to compute selector transitions. */
  previous?: FakeObject;
}

interface Watcher {
  resource: FakeResource;
  namespace: string | undefined;
  matches: (obj: FakeObject) => boolean;
  res: ServerResponse;
  bookmarks: boolean;
  timers: NodeJS.Timeout[];
  closed: boolean;
}

interface Fault {
  remaining: number;
  status: number;
  match?: ((request: FakeRequest) => boolean) | undefined;
}

class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export class FakeApiServer {
  readonly #options: FakeApiServerOptions;
  #server: Server | undefined;
  #port = 0;
  readonly #sockets = new Set<Socket>();
  /** resource → `ns/name` (or name) → object */
  readonly #objects = new Map<FakeResource, Map<string, FakeObject>>();
  #rv = 100;
  #history: HistoryEntry[] = [];
  /** Watches/lists from resourceVersions below this get 410 Gone. */
  #compactedRv = 0;
  readonly #watchers = new Set<Watcher>();
  readonly #faults: Fault[] = [];
  /** Every API request, in arrival order. */
  readonly requests: FakeRequest[] = [];

  private constructor(options: FakeApiServerOptions) {
    this.#options = options;
    for (const r of FAKE_RESOURCES) this.#objects.set(r, new Map());
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const server = new FakeApiServer(options);
    await server.#listen(options.port ?? 0);
    return server;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** The current (newest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** A client-node KubeConfig pointing here (http needs skipTLSVerify in client-node 2.x). */
  kubeConfig(options: { namespace?: string } = {}): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigYaml(options));
    return kc;
  }

  /** Kubeconfig file text for kubectl or `--kubeconfig`. */
  kubeconfigYaml(options: { namespace?: string } = {}): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: fake',
      '  user:',
      '    token: fake-token',
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: fake',
      ...(options.namespace ? [`    namespace: ${options.namespace}`] : []),
      'current-context: fake',
      '',
    ].join('\n');
  }

  // ---------------------------------------------------------------------------------------------
  // In-process object access (same semantics as the REST calls, without HTTP)

  /** Creates an object as given (status kept, unlike a POST). Returns the stored copy. */
  create(object: object): FakeObject {
    const obj = structuredClone(object) as FakeObject;
    const r = this.#resourceOf(obj);
    return this.#create(r, obj, { keepStatus: true });
  }

  /**
   * Creates or replaces, ignoring resourceVersion (like `kubectl apply`). The status is replaced
   * only when the object carries one; otherwise the stored status stays.
   */
  apply(object: object): FakeObject {
    const obj = structuredClone(object) as FakeObject;
    const r = this.#resourceOf(obj);
    const existing = this.#objects.get(r)!.get(this.#key(r, obj.metadata.namespace, obj.metadata.name));
    if (!existing) return this.#create(r, obj, { keepStatus: true });
    delete obj.metadata.resourceVersion;
    return this.#update(r, obj, { mode: obj.status === undefined ? 'main' : 'all' });
  }

  /** Deletes by kind and key (`ns/name`, or `name` for cluster-scoped kinds). False when absent. */
  delete(kind: string, key: string): boolean {
    const r = this.#resourceByKind(kind);
    const { namespace, name } = this.#splitKey(r, key);
    const existing = this.#objects.get(r)!.get(this.#key(r, namespace, name));
    if (!existing) return false;
    this.#remove(r, existing);
    return true;
  }

  get(kind: string, key: string): FakeObject | undefined {
    const r = this.#resourceByKind(kind);
    const { namespace, name } = this.#splitKey(r, key);
    const found = this.#objects.get(r)!.get(this.#key(r, namespace, name));
    return found && structuredClone(found);
  }

  list(kind: string, namespace?: string): FakeObject[] {
    const r = this.#resourceByKind(kind);
    return [...this.#objects.get(r)!.values()]
      .filter((obj) => namespace === undefined || obj.metadata.namespace === namespace)
      .map((obj) => structuredClone(obj));
  }

  /** Replaces an object's status (like PUT …/status without the resourceVersion check). */
  setStatus(kind: string, key: string, status: unknown): FakeObject {
    const existing = this.get(kind, key);
    if (!existing) throw new Error(`${kind} ${key} not found`);
    const r = this.#resourceByKind(kind);
    return this.#update(r, { ...existing, status } as FakeObject, { mode: 'status' });
  }

  // ---------------------------------------------------------------------------------------------
  // Fault hooks

  /** Ends every open watch stream abruptly (connection reset). */
  dropWatches(): number {
    const count = this.#watchers.size;
    for (const watcher of [...this.#watchers]) {
      watcher.res.socket?.destroy();
      this.#closeWatcher(watcher);
    }
    return count;
  }

  /** Ends every open watch cleanly, as a server-side timeout does. */
  endWatches(): number {
    const count = this.#watchers.size;
    for (const watcher of [...this.#watchers]) this.#endWatcher(watcher);
    return count;
  }

  /**
   * Compacts history: every resourceVersion older than now becomes expired (410 Gone for watches
   * and lists asking for it). With `notifyWatchers`, open watches also get an ERROR 410 event and
   * end, as when the watch cache drops a slow watcher ("410 Gone mid-stream").
   */
  compact(options: { notifyWatchers?: boolean } = {}): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
    if (options.notifyWatchers) {
      for (const watcher of [...this.#watchers]) {
        this.#write(watcher, { type: 'ERROR', object: expiredStatus(this.#rv - 1, this.#rv) });
        this.#endWatcher(watcher);
      }
    }
  }

  /** Answers the next `count` API requests (matching `match`, if given) with `status` (default 500). */
  failNext(count: number, options: { status?: number; match?: (request: FakeRequest) => boolean } = {}): void {
    this.#faults.push({ remaining: count, status: options.status ?? 500, match: options.match });
  }

  /** Sends a BOOKMARK with the current resourceVersion to every watch that allows bookmarks. */
  sendBookmarks(): void {
    for (const watcher of this.#watchers) if (watcher.bookmarks) this.#bookmark(watcher);
  }

  /** Number of open watch streams (optionally of one resource). */
  watchCount(resource?: string): number {
    return [...this.#watchers].filter((w) => resource === undefined || w.resource.resource === resource).length;
  }

  /** Stops listening and cuts every connection. Objects and history are kept for restart(). */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const watcher of [...this.#watchers]) this.#closeWatcher(watcher);
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port, with the same objects. */
  async restart(): Promise<void> {
    if (this.#server) return;
    await this.#listen(this.#port);
  }

  async close(): Promise<void> {
    await this.stop();
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP

  async #listen(port: number): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendStatus(res, 500, 'InternalError', (error as Error).message);
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 60_000;
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (method === 'GET' && this.#discovery(path, res)) return;

    const route = parseApiPath(path);
    if (!route) return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource (${path})`);
    const query = Object.fromEntries(url.searchParams);
    const { r, namespace, name, subresource } = route;
    const watch = query.watch === '1' || query.watch === 'true';
    const verb = verbOf(method, name !== undefined, watch);
    if (!verb) return sendStatus(res, 405, 'MethodNotAllowed', `method ${method} not allowed`);
    const request: FakeRequest = {
      verb,
      group: r.group,
      resource: r.resource,
      ...(subresource !== undefined && { subresource }),
      ...(namespace !== undefined && { namespace }),
      ...(name !== undefined && { name }),
      query,
    };
    this.requests.push(request);
    const reply = (status: number, body: unknown) => {
      request.status = status;
      sendJson(res, status, body);
    };
    const fault = this.#faults.find((f) => f.remaining > 0 && (!f.match || f.match(request)));
    if (fault) {
      fault.remaining--;
      request.status = fault.status;
      return sendStatus(res, fault.status, fault.status === 500 ? 'InternalError' : 'ServiceUnavailable', 'injected fault');
    }
    if (this.#options.authorize && !this.#options.authorize(request)) {
      request.status = 403;
      const what = `${r.resource}${subresource ? `/${subresource}` : ''}`;
      return sendStatus(res, 403, 'Forbidden', `User "system:serviceaccount:fake" cannot ${verb} resource "${what}" in API group "${r.group}"${namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope'}`);
    }
    if (subresource !== undefined && (subresource !== 'status' || !r.status)) {
      request.status = 404;
      return sendStatus(res, 404, 'NotFound', `${r.resource}/${subresource} not found`);
    }
    try {
      switch (verb) {
        case 'list':
          return reply(200, this.#listBody(r, namespace, query));
        case 'watch':
          request.status = 200;
          return this.#startWatch(r, namespace, query, req, res);
        case 'get':
          return reply(200, this.#mustGet(r, namespace, name!));
        case 'create': {
          const body = (await readJson(req)) as FakeObject;
          if (!isObject(body) || !isObject(body.metadata)) throw new HttpError(400, 'BadRequest', 'body must be an object with metadata');
          if (body.kind !== undefined && body.kind !== r.kind) throw new HttpError(400, 'BadRequest', `kind ${String(body.kind)} does not match ${r.resource}`);
          if (r.namespaced) {
            if (body.metadata.namespace !== undefined && body.metadata.namespace !== namespace) {
              throw new HttpError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
            }
            body.metadata.namespace = namespace ?? 'default';
          }
          return reply(201, this.#create(r, body, { keepStatus: false }));
        }
        case 'update': {
          const body = (await readJson(req)) as FakeObject;
          if (!isObject(body) || !isObject(body.metadata)) throw new HttpError(400, 'BadRequest', 'body must be an object with metadata');
          if (body.metadata.name !== name) throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
          if (r.namespaced) body.metadata.namespace = namespace;
          this.#mustGet(r, namespace, name);
          return reply(200, this.#update(r, body, { mode: subresource === 'status' ? 'status' : 'main', checkVersion: true }));
        }
        case 'patch': {
          const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
          if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
            throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json`);
          }
          const patch = await readJson(req);
          const existing = this.#mustGet(r, namespace, name!);
          const merged = mergePatch(existing, patch) as FakeObject;
          merged.metadata.name = name!;
          if (r.namespaced) merged.metadata.namespace = namespace;
          const patchRv = (isObject(patch) && isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined) as string | undefined;
          if (patchRv === undefined) delete merged.metadata.resourceVersion;
          return reply(200, this.#update(r, merged, { mode: subresource === 'status' ? 'status' : 'main', checkVersion: patchRv !== undefined }));
        }
        case 'delete': {
          const existing = this.#mustGet(r, namespace, name!);
          this.#remove(r, existing);
          return reply(200, existing);
        }
      }
    } catch (error) {
      if (error instanceof HttpError) {
        request.status = error.status;
        return sendStatus(res, error.status, error.reason, error.message, { name, group: r.group, kind: r.resource });
      }
      throw error;
    }
  }

  #discovery(path: string, res: ServerResponse): boolean {
    if (path === '/version') {
      sendJson(res, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.0-portico-fake',
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2025-01-01T00:00:00Z',
        goVersion: 'go1.23.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
      return true;
    }
    if (path === '/healthz' || path === '/readyz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return true;
    }
    if (path === '/api') {
      sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.#port}` }] });
      return true;
    }
    const groups = [...new Set(FAKE_RESOURCES.filter((r) => r.group).map((r) => `${r.group}/${r.version}`))];
    if (path === '/apis') {
      sendJson(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          const versionInfo = { groupVersion: gv, version };
          return { name, versions: [versionInfo], preferredVersion: versionInfo };
        }),
      });
      return true;
    }
    if (path === '/openapi/v3') {
      // Just enough OpenAPI v3 for kubectl to see that the server validates fields itself
      // (fieldValidation on PATCH), so `kubectl create` skips client-side schema validation.
      const gvs = ['api/v1', ...groups.map((gv) => `apis/${gv}`)];
      sendJson(res, 200, { paths: Object.fromEntries(gvs.map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=fake` }])) });
      return true;
    }
    const openapi = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (openapi) {
      const group = openapi[2] ?? '';
      const version = openapi[1] ?? openapi[3]!;
      const paths: Json = {};
      for (const r of FAKE_RESOURCES.filter((x) => x.group === group && x.version === version)) {
        const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
        paths[`${prefix}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}/{name}`] = {
          patch: {
            'x-kubernetes-action': 'patch',
            'x-kubernetes-group-version-kind': { group, version, kind: r.kind },
            parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
            responses: { '200': { description: 'OK' } },
          },
        };
      }
      sendJson(res, 200, { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas: {} } });
      return true;
    }
    const match = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (match) {
      const group = match[2] ?? '';
      const version = match[1] ?? match[3]!;
      const resources = FAKE_RESOURCES.filter((r) => r.group === group && r.version === version);
      if (resources.length === 0) return false;
      const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
      sendJson(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group ? `${group}/${version}` : version,
        resources: resources.flatMap((r) => [
          { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs, ...(r.shortNames && { shortNames: r.shortNames }) },
          ...(r.status ? [{ name: `${r.resource}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }] : []),
        ]),
      });
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------------
  // Storage

  #key(r: FakeResource, namespace: string | undefined, name: string): string {
    return r.namespaced ? `${namespace ?? 'default'}/${name}` : name;
  }

  #splitKey(r: FakeResource, key: string): { namespace?: string; name: string } {
    if (!r.namespaced) return { name: key };
    const slash = key.indexOf('/');
    return slash < 0 ? { namespace: 'default', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
  }

  #resourceOf(obj: FakeObject): FakeResource {
    if (!isObject(obj) || typeof obj.kind !== 'string') throw new Error('object needs a kind');
    const r = this.#resourceByKind(obj.kind);
    if (!isObject(obj.metadata) || typeof obj.metadata.name !== 'string') throw new Error('object needs metadata.name');
    if (r.namespaced) obj.metadata.namespace ??= 'default';
    return r;
  }

  #resourceByKind(kind: string): FakeResource {
    const r = BY_KIND.get(kind);
    if (!r) throw new Error(`the fake API server does not serve kind ${kind}`);
    return r;
  }

  #mustGet(r: FakeResource, namespace: string | undefined, name: string): FakeObject {
    const found = this.#objects.get(r)!.get(this.#key(r, namespace, name));
    if (!found) throw new HttpError(404, 'NotFound', `${r.resource}${r.group ? `.${r.group}` : ''} "${name}" not found`);
    return structuredClone(found);
  }

  #create(r: FakeResource, obj: FakeObject, options: { keepStatus: boolean }): FakeObject {
    const store = this.#objects.get(r)!;
    const meta = obj.metadata;
    if (!meta.name && typeof meta.generateName === 'string') meta.name = `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    if (!meta.name) throw new HttpError(422, 'Invalid', 'metadata.name: Required value: name or generateName is required');
    const key = this.#key(r, meta.namespace, meta.name);
    if (store.has(key)) throw new HttpError(409, 'AlreadyExists', `${r.resource}${r.group ? `.${r.group}` : ''} "${meta.name}" already exists`);
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    if (r.status && !options.keepStatus) delete obj.status;
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    meta.generation = 1;
    delete meta.generateName;
    meta.resourceVersion = String(++this.#rv);
    store.set(key, obj);
    this.#record({ rv: this.#rv, resource: r, type: 'ADDED', object: obj });
    return structuredClone(obj);
  }

  /**
   * mode 'main': spec and metadata change, status is kept (when a status subresource exists);
   * 'status': only status changes; 'all': everything (in-process apply).
   */
  #update(r: FakeResource, obj: FakeObject, options: { mode: 'main' | 'status' | 'all'; checkVersion?: boolean }): FakeObject {
    const store = this.#objects.get(r)!;
    const key = this.#key(r, obj.metadata.namespace, obj.metadata.name);
    const existing = store.get(key);
    if (!existing) throw new HttpError(404, 'NotFound', `${r.resource} "${obj.metadata.name}" not found`);
    const sentRv = obj.metadata.resourceVersion;
    if (options.checkVersion && sentRv !== undefined && sentRv !== '' && sentRv !== existing.metadata.resourceVersion) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.resource}${r.group ? `.${r.group}` : ''} "${obj.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    let next: FakeObject;
    if (options.mode === 'status') {
      next = { ...structuredClone(existing), status: structuredClone(obj.status) };
      if (obj.status === undefined) delete next.status;
    } else {
      next = structuredClone(obj);
      if (options.mode === 'main' && r.status) {
        if (existing.status === undefined) delete next.status;
        else next.status = structuredClone(existing.status);
      }
      // Immutable and server-owned metadata.
      next.metadata = {
        ...next.metadata,
        uid: existing.metadata.uid,
        creationTimestamp: existing.metadata.creationTimestamp,
        generation: existing.metadata.generation,
      };
      const specOf = (o: FakeObject) => JSON.stringify({ ...o, metadata: undefined, status: undefined });
      if (specOf(next) !== specOf(existing)) next.metadata.generation = ((existing.metadata.generation as number) ?? 0) + 1;
    }
    next.apiVersion = apiVersionOf(r);
    next.kind = r.kind;
    const unchanged = JSON.stringify({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } }) ===
      JSON.stringify({ ...existing, metadata: { ...existing.metadata, resourceVersion: undefined } });
    // Like the real server, a no-op update writes nothing and keeps the resourceVersion.
    if (unchanged) return structuredClone(existing);
    next.metadata.resourceVersion = String(++this.#rv);
    store.set(key, next);
    this.#record({ rv: this.#rv, resource: r, type: 'MODIFIED', object: next, previous: existing });
    return structuredClone(next);
  }

  #remove(r: FakeResource, obj: FakeObject): void {
    const store = this.#objects.get(r)!;
    const key = this.#key(r, obj.metadata.namespace, obj.metadata.name);
    const existing = store.get(key);
    if (!existing) return;
    store.delete(key);
    const gone = structuredClone(existing);
    gone.metadata.resourceVersion = String(++this.#rv);
    this.#record({ rv: this.#rv, resource: r, type: 'DELETED', object: gone });
  }

  #record(entry: HistoryEntry): void {
    this.#history.push(entry);
    if (this.#history.length > 100_000) {
      this.#history.splice(0, 10_000);
      this.#compactedRv = this.#history[0]!.rv - 1;
    }
    for (const watcher of this.#watchers) {
      if (watcher.resource === entry.resource) this.#deliver(watcher, entry);
    }
  }

  #listBody(r: FakeResource, namespace: string | undefined, query: Record<string, string>): Json {
    const rv = query.resourceVersion;
    if (rv && rv !== '0' && query.resourceVersionMatch === 'Exact' && Number(rv) < this.#compactedRv) {
      throw new HttpError(410, 'Expired', `too old resource version: ${rv} (${this.#compactedRv})`);
    }
    if (query.continue) throw new HttpError(410, 'Expired', 'the provided continue parameter is too old');
    const matches = selectorMatcher(query);
    const items = [...this.#objects.get(r)!.values()]
      .filter((obj) => (namespace === undefined || obj.metadata.namespace === namespace) && matches(obj))
      .sort((a, b) => this.#key(r, a.metadata.namespace, a.metadata.name).localeCompare(this.#key(r, b.metadata.namespace, b.metadata.name)))
      .map((obj) => {
        // The real server leaves TypeMeta out of list items.
        const { apiVersion: _a, kind: _k, ...rest } = structuredClone(obj);
        return rest;
      });
    return { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.#rv) }, items };
  }

  // ---------------------------------------------------------------------------------------------
  // Watch

  #startWatch(r: FakeResource, namespace: string | undefined, query: Record<string, string>, req: IncomingMessage, res: ServerResponse): void {
    const selector = selectorMatcher(query);
    const watcher: Watcher = {
      resource: r,
      namespace,
      matches: (obj) => (namespace === undefined || obj.metadata.namespace === namespace) && selector(obj),
      res,
      bookmarks: query.allowWatchBookmarks === 'true' || query.allowWatchBookmarks === '1',
      timers: [],
      closed: false,
    };
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    req.on('close', () => this.#closeWatcher(watcher));
    const rvParam = query.resourceVersion ?? '';
    if (rvParam !== '' && rvParam !== '0') {
      const rv = Number(rvParam);
      if (!Number.isFinite(rv) || rv < this.#compactedRv) {
        this.#write(watcher, { type: 'ERROR', object: expiredStatus(rv, this.#compactedRv) });
        res.end();
        return;
      }
      this.#watchers.add(watcher);
      for (const entry of this.#history) {
        if (entry.rv > rv && entry.resource === r) this.#deliver(watcher, entry);
      }
    } else {
      // No resourceVersion: synthetic ADDED events for the current state, then changes.
      this.#watchers.add(watcher);
      for (const obj of this.#objects.get(r)!.values()) {
        if (watcher.matches(obj)) this.#write(watcher, { type: 'ADDED', object: obj });
      }
    }
    const timeoutMs = Math.min(
      query.timeoutSeconds ? Number(query.timeoutSeconds) * 1000 : 1_800_000,
      this.#options.maxWatchMs ?? Number.POSITIVE_INFINITY,
    );
    watcher.timers.push(setTimeout(() => this.#endWatcher(watcher), timeoutMs));
    if (watcher.bookmarks && this.#options.bookmarkIntervalMs) {
      watcher.timers.push(setInterval(() => this.#bookmark(watcher), this.#options.bookmarkIntervalMs));
    }
  }

  #deliver(watcher: Watcher, entry: HistoryEntry): void {
    const now = entry.type !== 'DELETED' && watcher.matches(entry.object);
    const before = entry.type === 'ADDED' ? false : entry.type === 'DELETED' ? watcher.matches(entry.object) : entry.previous !== undefined && watcher.matches(entry.previous);
    let type: 'ADDED' | 'MODIFIED' | 'DELETED';
    if (entry.type === 'DELETED') {
      if (!before) return;
      type = 'DELETED';
    } else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    else return;
    this.#write(watcher, { type, object: entry.object });
  }

  #bookmark(watcher: Watcher): void {
    const r = watcher.resource;
    this.#write(watcher, { type: 'BOOKMARK', object: { kind: r.kind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.#rv) } } });
  }

  #write(watcher: Watcher, event: { type: string; object: unknown }): void {
    if (watcher.closed) return;
    watcher.res.write(`${JSON.stringify(event)}\n`);
  }

  #endWatcher(watcher: Watcher): void {
    if (!watcher.closed) watcher.res.end();
    this.#closeWatcher(watcher);
  }

  #closeWatcher(watcher: Watcher): void {
    watcher.closed = true;
    for (const timer of watcher.timers) clearTimeout(timer);
    this.#watchers.delete(watcher);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function parseApiPath(path: string): { r: FakeResource; namespace?: string; name?: string; subresource?: string } | undefined {
  const match = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+)(?=\/))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(path);
  if (!match) return undefined;
  const group = match[2] ?? '';
  const version = match[1] ?? match[3]!;
  const r = BY_PATH.get(`${group}/${version}/${match[5]}`);
  if (!r) return undefined;
  const namespace = match[4] !== undefined ? decodeURIComponent(match[4]) : undefined;
  if (namespace !== undefined && !r.namespaced) return undefined;
  return {
    r,
    ...(namespace !== undefined && { namespace }),
    ...(match[6] !== undefined && { name: decodeURIComponent(match[6]) }),
    ...(match[7] !== undefined && { subresource: match[7] }),
  };
}

function verbOf(method: string, hasName: boolean, watch: boolean): FakeRequest['verb'] | undefined {
  switch (method) {
    case 'GET':
      return watch ? 'watch' : hasName ? 'get' : 'list';
    case 'POST':
      return hasName ? undefined : 'create';
    case 'PUT':
      return hasName ? 'update' : undefined;
    case 'PATCH':
      return hasName ? 'patch' : undefined;
    case 'DELETE':
      return hasName ? 'delete' : undefined;
    default:
      return undefined;
  }
}

/** `labelSelector` (k=v, k==v, k!=v, k, !k) and `fieldSelector` (dotted.path=v, !=) as one predicate. */
function selectorMatcher(query: Record<string, string>): (obj: FakeObject) => boolean {
  const tests: Array<(obj: FakeObject) => boolean> = [];
  for (const term of splitTerms(query.labelSelector)) {
    const m = /^(!?)([^=!]+?)\s*(?:(==|=|!=)\s*(.*))?$/.exec(term);
    if (!m) continue;
    const [, not, key, op, value] = m;
    const labels = (obj: FakeObject) => (obj.metadata.labels ?? {}) as Record<string, string>;
    if (!op) tests.push((obj) => (key! in labels(obj)) !== (not === '!'));
    else if (op === '!=') tests.push((obj) => labels(obj)[key!] !== value);
    else tests.push((obj) => labels(obj)[key!] === value);
  }
  for (const term of splitTerms(query.fieldSelector)) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) continue;
    const [, field, op, value] = m;
    const read = (obj: FakeObject) => {
      let current: unknown = obj;
      for (const part of field!.split('.')) current = isObject(current) ? current[part] : undefined;
      return current === undefined ? '' : String(current);
    };
    tests.push(op === '!=' ? (obj) => read(obj) !== value : (obj) => read(obj) === value);
  }
  return (obj) => tests.every((test) => test(obj));
}

function splitTerms(selector: string | undefined): string[] {
  return (selector ?? '').split(',').map((t) => t.trim()).filter(Boolean);
}

function expiredStatus(rv: number, compacted: number): Json {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `too old resource version: ${rv} (${compacted})`,
    reason: 'Expired',
    code: 410,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string, details?: Json): void {
  sendJson(res, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details && { details: Object.fromEntries(Object.entries(details).filter(([, v]) => v !== undefined)) }),
    code,
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // kubectl may send YAML-converted JSON only; anything else is a client bug.
    throw new HttpError(400, 'BadRequest', 'the request body is not valid JSON');
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Json = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
