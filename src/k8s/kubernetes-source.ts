import type { KubeConfig } from '@kubernetes/client-node';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { CLUSTER_SCOPED_KINDS, objectKey, type KubeObject, type ObjectKind } from '../model/k8s-objects.js';
import { parseKubeObject } from '../source/parse-object.js';
import type { ObjectStore } from '../store/object-store.js';
import { apiVersionOf, RESOURCES, type ApiResource } from './api-access.js';
import type { BackoffOptions } from './backoff.js';
import { KubeClient } from './kube-client.js';
import { Reflector, type ReflectorHandler, type RestartReason } from './reflector.js';

export interface KubernetesSourceOptions {
  /** Either a KubeConfig (a client is built from it) or a shared client. */
  kubeConfig?: KubeConfig;
  client?: KubeClient;
  store: ObjectStore;
  logger: Logger;
  /** --watch-namespace: namespaced kinds only from here. IngressClasses (and Nodes) stay cluster-wide. */
  namespace?: string | undefined;
  /**
   * --publish-service `namespace/name`: also watch Nodes (for a NodePort Service's addresses) and,
   * when it lies outside --watch-namespace, that one Service, so status addresses can be computed.
   */
  publishService?: string | undefined;
  /**
   * --configmap `namespace/name`: also watch the ConfigMaps of that namespace (the ConfigMap itself
   * and the add-headers / proxy-set-headers ones it names).
   */
  configMap?: string | undefined;
  backoff?: BackoffOptions;
  watchTimeoutSeconds?: number;
  /**
   * Only these kinds (the service proxy reads Service, EndpointSlice and Node); default: what the
   * controller reads — IngressClass, Ingress, Service, EndpointSlice, Secret, and Node with
   * --publish-service.
   */
  kinds?: readonly ObjectKind[];
  /** Every list/watch restart, for portico_informer_restarts_total{kind}. */
  onRestart?: (kind: ObjectKind, reason: RestartReason) => void;
  /**
   * Every applied add/update/delete, including ones the store ignores (an Ingress status change);
   * the status writer listens here to notice status edits by others.
   */
  onObjectChange?: (kind: ObjectKind, key: string) => void;
}

export interface InformerStatus {
  readonly kind: ObjectKind;
  readonly resource: string;
  readonly namespace?: string;
  readonly synced: boolean;
  readonly restarts: number;
  readonly resourceVersion: string;
  readonly lastError?: string;
}

const TLS_SECRET_TYPE = 'kubernetes.io/tls';

interface Informer {
  readonly kind: ObjectKind;
  readonly reflector: Reflector;
  readonly cache: Map<string, KubeObject>;
}

/**
 * Feeds the object store from the Kubernetes API: one list+watch loop (Reflector) per kind —
 * IngressClass, Ingress, Service, EndpointSlice (discovery.k8s.io/v1), Secret (kubernetes.io/tls
 * only) and, with --publish-service, Node. Objects are validated with parseKubeObject; bad shapes
 * are logged once and skipped. `synced` resolves when every informer has listed once; until
 * then the controller must report not-ready. Errors never end an informer (see Reflector).
 */
export class KubernetesSource {
  readonly #options: KubernetesSourceOptions;
  readonly #log: Logger;
  readonly #informers: Informer[] = [];
  /** The namespace each informer is limited to, by index (undefined: cluster-wide). */
  readonly #namespaces: Array<string | undefined> = [];
  /** Last reported problem per object, so a relist doesn't repeat the same log line. */
  readonly #reported = new Map<string, string>();
  readonly #client: KubeClient;
  #resolveSynced!: () => void;
  #started = false;
  #isSynced = false;
  /** Resolves once every informer has delivered its first list. */
  readonly synced: Promise<void>;

  constructor(options: KubernetesSourceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ source: 'kubernetes' });
    if (options.client) this.#client = options.client;
    else if (options.kubeConfig) this.#client = new KubeClient(options.kubeConfig);
    else throw new PorticoError('PORTICO_ERR_K8S_CONFIG', 'KubernetesSource needs a kubeConfig or a client');
    this.synced = new Promise((resolve) => (this.#resolveSynced = resolve));
    const ns = options.namespace || undefined;
    if (options.kinds) {
      for (const kind of options.kinds) {
        this.#add(kind, RESOURCE_BY_KIND[kind], {
          ...(!CLUSTER_SCOPED_KINDS.has(kind) && { namespace: ns }),
          ...(kind === 'Secret' && { fieldSelector: `type=${TLS_SECRET_TYPE}` }),
        });
      }
      return;
    }
    this.#add('IngressClass', RESOURCES.ingressClasses, {});
    this.#add('Ingress', RESOURCES.ingresses, { namespace: ns });
    this.#add('Service', RESOURCES.services, { namespace: ns });
    this.#add('EndpointSlice', RESOURCES.endpointSlices, { namespace: ns });
    this.#add('Secret', RESOURCES.secrets, { namespace: ns, fieldSelector: `type=${TLS_SECRET_TYPE}` });
    if (options.configMap) this.#add('ConfigMap', RESOURCES.configMaps, { namespace: splitKey(options.configMap)[0] });
    if (options.publishService) {
      const [publishNs, publishName] = splitKey(options.publishService);
      this.#add('Node', RESOURCES.nodes, {});
      if (ns !== undefined && publishNs !== ns) {
        this.#add('Service', RESOURCES.services, { namespace: publishNs, fieldSelector: `metadata.name=${publishName}` });
      }
    }
  }

  get client(): KubeClient {
    return this.#client;
  }

  /** Starts every informer; returns at once. Await `synced` for the first complete state. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const informer of this.#informers) informer.reflector.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.reflector.stop()));
  }

  get isSynced(): boolean {
    return this.#isSynced;
  }

  /**
   * The newest version seen of an object, status and resourceVersion included (the store keeps
   * the first version of a status-only change, since status changes are not relevant to routing).
   */
  lookup(kind: ObjectKind, key: string): KubeObject | undefined {
    for (const informer of this.#informers) {
      if (informer.kind !== kind) continue;
      const found = informer.cache.get(key);
      if (found) return found;
    }
    return undefined;
  }

  /** Keys of every object of a kind currently known. */
  keys(kind: ObjectKind): string[] {
    return this.#informers.filter((informer) => informer.kind === kind).flatMap((informer) => [...informer.cache.keys()]);
  }

  /** Per-informer health, for /debug views and readiness messages. */
  informers(): InformerStatus[] {
    return this.#informers.map(({ kind, reflector }, index) => {
      const lastError = reflector.lastError;
      const namespace = this.#namespaces[index];
      return {
        kind,
        resource: RESOURCE_BY_KIND[kind].resource,
        ...(namespace !== undefined && { namespace }),
        synced: reflector.synced,
        restarts: reflector.restarts,
        resourceVersion: reflector.resourceVersion,
        ...(lastError !== undefined && { lastError }),
      };
    });
  }

  #add(kind: ObjectKind, resource: ApiResource, options: { namespace?: string | undefined; fieldSelector?: string }): void {
    const cache = new Map<string, KubeObject>();
    const handler = this.#handlerFor(kind, resource, cache);
    const reflector = new Reflector({
      client: this.#client,
      resource,
      namespace: options.namespace,
      fieldSelector: options.fieldSelector,
      handler,
      logger: this.#log,
      ...(this.#options.backoff && { backoff: this.#options.backoff }),
      ...(this.#options.watchTimeoutSeconds !== undefined && { watchTimeoutSeconds: this.#options.watchTimeoutSeconds }),
      onSynced: () => this.#checkSynced(),
      onRestart: (reason) => this.#options.onRestart?.(kind, reason),
    });
    this.#informers.push({ kind, reflector, cache });
    this.#namespaces.push(options.namespace);
  }

  #checkSynced(): void {
    if (this.#isSynced || !this.#informers.every((informer) => informer.reflector.synced)) return;
    this.#isSynced = true;
    this.#log.info(
      { objects: Object.fromEntries(OBJECT_KIND_LIST.map((kind) => [kind, this.keys(kind).length])) },
      'initial list of every watched kind done',
    );
    this.#resolveSynced();
  }

  #handlerFor(kind: ObjectKind, resource: ApiResource, cache: Map<string, KubeObject>): ReflectorHandler {
    const { store } = this.#options;
    const upsert = (raw: unknown): string | undefined => {
      const parsed = this.#parse(kind, resource, raw);
      if (parsed.key === undefined) return undefined;
      if (parsed.object) {
        cache.set(parsed.key, parsed.object);
        store.upsert(parsed.object);
      } else if (cache.delete(parsed.key)) {
        store.remove(kind, parsed.key);
      }
      this.#options.onObjectChange?.(kind, parsed.key);
      return parsed.key;
    };
    return {
      replace: (items) => {
        const seen = new Set<string>();
        for (const raw of items) {
          const key = upsert(raw);
          if (key !== undefined) seen.add(key);
        }
        for (const key of [...cache.keys()]) {
          if (seen.has(key)) continue;
          cache.delete(key);
          store.remove(kind, key);
          this.#reported.delete(`${kind} ${key}`);
          this.#options.onObjectChange?.(kind, key);
        }
      },
      apply: (type, raw) => {
        if (type !== 'DELETED') {
          upsert(raw);
          return;
        }
        const key = keyOfRaw(kind, raw);
        if (key === undefined) return;
        this.#reported.delete(`${kind} ${key}`);
        if (cache.delete(key)) {
          store.remove(kind, key);
          this.#options.onObjectChange?.(kind, key);
        }
      },
    };
  }

  /** Validates one raw API object. `object` undefined: skipped (reported); `key` undefined: unusable. */
  #parse(kind: ObjectKind, resource: ApiResource, raw: unknown): { key?: string; object?: KubeObject } {
    const key = keyOfRaw(kind, raw);
    const id = `${kind} ${key ?? '(unnamed)'}`;
    try {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        throw new PorticoError('PORTICO_ERR_MANIFEST_INVALID', 'the object is not a JSON object');
      }
      // List items carry no kind/apiVersion (the API server omits TypeMeta inside lists).
      // Same key order for list items and watch objects, so the store's fingerprints compare equal.
      const { apiVersion, kind: rawKind, ...rest } = raw as Record<string, unknown>;
      const object = parseKubeObject({ apiVersion: apiVersion ?? apiVersionOf(resource), kind: rawKind ?? resource.kind, ...rest });
      if (object.kind !== kind) {
        throw new PorticoError('PORTICO_ERR_MANIFEST_KIND', `expected kind ${kind}, got ${object.kind}`);
      }
      if (object.kind === 'Secret' && object.type !== TLS_SECRET_TYPE) return {};
      if (this.#reported.delete(`${kind} ${objectKey(object)}`)) {
        this.#log.info({ object: `${kind} ${objectKey(object)}` }, `${kind} ${objectKey(object)} is valid again`);
      }
      return { key: objectKey(object), object };
    } catch (error) {
      if (!(error instanceof PorticoError)) throw error;
      if (this.#reported.get(id) !== error.message) {
        this.#reported.set(id, error.message);
        this.#log.error(
          { code: 'PORTICO_ERR_K8S_OBJECT_INVALID', object: id, reason: error.message, cause: error.code },
          `skipped ${id}: ${error.message}`,
        );
      }
      return key === undefined ? {} : { key };
    }
  }
}

const OBJECT_KIND_LIST: readonly ObjectKind[] = ['IngressClass', 'Ingress', 'Service', 'EndpointSlice', 'Secret', 'Node', 'Pod', 'ConfigMap'];

const RESOURCE_BY_KIND: Record<ObjectKind, ApiResource> = {
  IngressClass: RESOURCES.ingressClasses,
  Ingress: RESOURCES.ingresses,
  Service: RESOURCES.services,
  EndpointSlice: RESOURCES.endpointSlices,
  Secret: RESOURCES.secrets,
  Node: RESOURCES.nodes,
  Pod: RESOURCES.pods,
  ConfigMap: RESOURCES.configMaps,
};

/** The store key of a raw object, from its metadata alone (usable even when its shape is bad). */
function keyOfRaw(kind: ObjectKind, raw: unknown): string | undefined {
  const metadata = (raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (typeof metadata?.name !== 'string' || metadata.name === '') return undefined;
  if (CLUSTER_SCOPED_KINDS.has(kind)) return metadata.name;
  return `${typeof metadata.namespace === 'string' && metadata.namespace ? metadata.namespace : 'default'}/${metadata.name}`;
}

/** `ns/name` → [ns, name]; a bare name is in `default`. */
export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return slash < 0 ? ['default', key] : [key.slice(0, slash), key.slice(slash + 1)];
}
