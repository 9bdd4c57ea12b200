import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../lib/logger.js';
import { CLUSTER_SCOPED_KINDS, OBJECT_KINDS, type Ingress, type Node, type ObjectKind, type Service } from '../model/k8s-objects.js';
import type { RouteModel } from '../model/route-model.js';
import type { ObjectStore, StoreChange } from '../store/object-store.js';
import type { BackoffOptions } from './backoff.js';
import { EventRecorder } from './event-recorder.js';
import { KubeClient } from './kube-client.js';
import { KubernetesSource, splitKey } from './kubernetes-source.js';
import { LeaderElector } from './leader-elector.js';
import { computePublishAddresses } from './publish-address.js';
import type { RestartReason } from './reflector.js';
import { StatusWriter } from './status-writer.js';

export const DEFAULT_ELECTION_ID = 'portico-leader';

export interface KubernetesIntegrationOptions {
  kubeConfig?: KubeConfig;
  client?: KubeClient;
  store: ObjectStore;
  logger: Logger;
  /** --watch-namespace */
  watchNamespace?: string | undefined;
  /** --publish-service `namespace/name` */
  publishService?: string | undefined;
  /** --configmap `namespace/name`: the ConfigMaps of that namespace are watched. */
  configMap?: string | undefined;
  /** --publish-status-address, split on commas; wins over --publish-service. */
  publishStatusAddresses?: readonly string[] | undefined;
  /** --election-id; default portico-leader. */
  electionId?: string | undefined;
  /** Namespace of the Lease; default $POD_NAMESPACE, else the kubeconfig context's, else `default`. */
  electionNamespace?: string | undefined;
  /** Default `$POD_NAME_<random>` (or the hostname). */
  identity?: string | undefined;
  leaderElection?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  backoff?: BackoffOptions;
  watchTimeoutSeconds?: number;
  /** portico_informer_restarts_total */
  onInformerRestart?: (kind: ObjectKind, reason: RestartReason) => void;
  /** portico_leader */
  onLeaderChange?: (leader: boolean) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * The Kubernetes side of the controller in one object: the API source feeding the store, leader
 * election, Ingress status publishing and Events. The controller calls routesBuilt() after each
 * route build; readiness waits on `synced`. Every replica runs the source; only the leader writes
 * status and Events.
 */
export class KubernetesIntegration {
  readonly client: KubeClient;
  readonly source: KubernetesSource;
  readonly elector: LeaderElector;
  readonly statusWriter: StatusWriter | undefined;
  readonly events: EventRecorder;
  readonly #options: KubernetesIntegrationOptions;
  readonly #log: Logger;
  #model: RouteModel | undefined;
  #warnedMissingPublishService = false;
  #unsubscribe: (() => void) | undefined;

  constructor(options: KubernetesIntegrationOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'kubernetes' });
    const env = options.env ?? process.env;
    this.client = options.client ?? new KubeClient(options.kubeConfig!);
    this.source = new KubernetesSource({
      client: this.client,
      store: options.store,
      logger: options.logger,
      namespace: options.watchNamespace,
      publishService: options.publishStatusAddresses?.length ? undefined : options.publishService,
      ...(options.configMap !== undefined && { configMap: options.configMap }),
      ...(options.backoff && { backoff: options.backoff }),
      ...(options.watchTimeoutSeconds !== undefined && { watchTimeoutSeconds: options.watchTimeoutSeconds }),
      onRestart: (kind, reason) => options.onInformerRestart?.(kind, reason),
      onObjectChange: (kind, key) => {
        if (kind === 'Ingress') this.statusWriter?.ingressChanged(key);
      },
    });
    const publishing = Boolean(options.publishService || options.publishStatusAddresses?.length);
    this.statusWriter = publishing
      ? new StatusWriter({
          client: this.client,
          logger: options.logger,
          lookupIngress: (key) => this.source.lookup('Ingress', key) as Ingress | undefined,
          ingressKeys: () => this.source.keys('Ingress'),
        })
      : undefined;
    const instance = env.POD_NAME || hostname();
    this.events = new EventRecorder({
      client: this.client,
      logger: options.logger,
      instance,
      lookupObject: (object) => {
        if (!isObjectKind(object.kind)) return undefined;
        const key = CLUSTER_SCOPED_KINDS.has(object.kind) ? object.name : `${object.namespace ?? 'default'}/${object.name}`;
        const found = this.source.lookup(object.kind, key);
        return found && { apiVersion: found.apiVersion, ...definedOnly({ uid: found.metadata.uid, resourceVersion: found.metadata.resourceVersion }) };
      },
    });
    this.events.setEnabled(false);
    this.elector = new LeaderElector({
      client: this.client,
      logger: options.logger,
      namespace: options.electionNamespace || env.POD_NAMESPACE || this.client.contextNamespace || 'default',
      name: options.electionId || DEFAULT_ELECTION_ID,
      identity: options.identity ?? `${instance}_${randomBytes(4).toString('hex')}`,
      ...options.leaderElection,
      onStartedLeading: () => this.#setLeader(true),
      onStoppedLeading: () => this.#setLeader(false),
    });
  }

  /** Resolves once every informer has listed once: gate controller.markSynced() and readiness on it. */
  get synced(): Promise<void> {
    return this.source.synced;
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  start(): void {
    this.#unsubscribe = this.#options.store.subscribe(this.#onStoreChange);
    this.source.start();
    this.elector.start();
  }

  /**
   * After every build: Events for the diagnostics, and status for owned Ingresses when the routes
   * (hence ownership) changed. Endpoint-only builds skip the status pass: it depends on ownership and
   * the published addresses only, and the latter are watched separately.
   */
  routesBuilt(model: RouteModel, options: { routesChanged?: boolean } = {}): void {
    const first = this.#model === undefined;
    this.#model = model;
    if (first || options.routesChanged !== false) this.#publish();
    this.events.recordDiagnostics(model.diagnostics);
  }

  /** Releases the lease first (fast handover), then stops writing and watching. */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.elector.stop();
    await this.statusWriter?.stop();
    await this.events.flush();
    await this.source.stop();
  }

  #setLeader(leader: boolean): void {
    this.statusWriter?.setLeader(leader);
    this.events.setEnabled(leader);
    if (leader && this.#model) this.events.recordDiagnostics(this.#model.diagnostics);
    this.#options.onLeaderChange?.(leader);
  }

  #onStoreChange = (change: StoreChange): void => {
    if (!this.#model || !this.#options.publishService) return;
    if (change.kind === 'Node' || (change.kind === 'Service' && change.key === publishKey(this.#options.publishService))) this.#publish();
  };

  #publish(): void {
    if (!this.statusWriter || !this.#model) return;
    const { store, publishService, publishStatusAddresses } = this.#options;
    const snapshot = store.snapshot();
    const addresses = computePublishAddresses({
      statusAddresses: publishStatusAddresses,
      service: publishService ? (store.get('Service', publishKey(publishService)) as Service | undefined) : undefined,
      nodes: snapshot.nodes.values() as Iterable<Node>,
    });
    const missing = Boolean(publishService && !publishStatusAddresses?.length && !store.get('Service', publishKey(publishService)));
    if (missing && !this.#warnedMissingPublishService) {
      this.#log.warn({ publishService }, `--publish-service ${publishService} not found; publishing no address`);
    }
    this.#warnedMissingPublishService = missing;
    this.statusWriter.update({ owned: this.#model.ownedIngresses, addresses });
  }
}

function publishKey(publishService: string): string {
  const [namespace, name] = splitKey(publishService);
  return `${namespace}/${name}`;
}

const KINDS: ReadonlySet<string> = new Set<string>(OBJECT_KINDS);
function isObjectKind(kind: string): kind is ObjectKind {
  return KINDS.has(kind);
}

function definedOnly<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
