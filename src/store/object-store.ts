import {
  objectKey,
  type ConfigMap,
  type EndpointSlice,
  type Ingress,
  type IngressClass,
  type KubeObject,
  type Node,
  type Pod,
  type ObjectKind,
  type ObjectSnapshot,
  type Secret,
  type Service,
} from '../model/k8s-objects.js';

export interface StoreChange {
  readonly kind: ObjectKind;
  readonly key: string;
  readonly type: 'upsert' | 'delete';
}

export type StoreListener = (change: StoreChange) => void;

/**
 * The typed object store every source feeds (manifest directory, Kubernetes watch).
 * It stores and says whether a write changed anything relevant; it computes nothing else
 * (Contour's cache/builder split). Listeners run synchronously after a relevant change.
 */
export class ObjectStore {
  readonly #ingressClasses = new Map<string, IngressClass>();
  readonly #ingresses = new Map<string, Ingress>();
  readonly #services = new Map<string, Service>();
  readonly #endpointSlices = new Map<string, EndpointSlice>();
  readonly #secrets = new Map<string, Secret>();
  readonly #nodes = new Map<string, Node>();
  readonly #pods = new Map<string, Pod>();
  readonly #configMaps = new Map<string, ConfigMap>();
  /** Comparable form of each stored object, so no-op updates are dropped cheaply. */
  readonly #fingerprints = new Map<string, string>();
  readonly #listeners = new Set<StoreListener>();

  readonly #snapshot: ObjectSnapshot = {
    ingressClasses: this.#ingressClasses,
    ingresses: this.#ingresses,
    services: this.#services,
    endpointSlices: this.#endpointSlices,
    secrets: this.#secrets,
    nodes: this.#nodes,
    pods: this.#pods,
    configMaps: this.#configMaps,
  };

  /** Live read-only view. Compilation is synchronous, so no copy is needed. */
  snapshot(): ObjectSnapshot {
    return this.#snapshot;
  }

  get(kind: ObjectKind, key: string): KubeObject | undefined {
    return this.#mapFor(kind).get(key);
  }

  keys(kind: ObjectKind): string[] {
    return [...this.#mapFor(kind).keys()];
  }

  /** Inserts or replaces; returns false (and notifies nobody) when nothing relevant changed. */
  upsert(obj: KubeObject): boolean {
    const key = objectKey(obj);
    const id = `${obj.kind}\u0000${key}`;
    const fingerprint = fingerprintOf(obj);
    if (this.#fingerprints.get(id) === fingerprint) return false;
    this.#fingerprints.set(id, fingerprint);
    (this.#mapFor(obj.kind) as Map<string, KubeObject>).set(key, obj);
    this.#emit({ kind: obj.kind, key, type: 'upsert' });
    return true;
  }

  remove(kind: ObjectKind, key: string): boolean {
    const map = this.#mapFor(kind);
    if (!map.delete(key)) return false;
    this.#fingerprints.delete(`${kind}\u0000${key}`);
    this.#emit({ kind, key, type: 'delete' });
    return true;
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: StoreChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  #mapFor(kind: ObjectKind): Map<string, KubeObject> {
    switch (kind) {
      case 'IngressClass':
        return this.#ingressClasses;
      case 'Ingress':
        return this.#ingresses;
      case 'Service':
        return this.#services;
      case 'EndpointSlice':
        return this.#endpointSlices;
      case 'Secret':
        return this.#secrets;
      case 'Node':
        return this.#nodes;
      case 'Pod':
        return this.#pods;
      case 'ConfigMap':
        return this.#configMaps;
    }
  }
}

/**
 * What counts as a change: everything but bookkeeping the API server rewrites on its own
 * (resourceVersion, managedFields) and the Ingress status we write ourselves.
 */
function fingerprintOf(obj: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = obj.metadata as KubeObject['metadata'] & {
    managedFields?: unknown;
  };
  const { status: _status, ...rest } = obj as KubeObject & { status?: unknown };
  return JSON.stringify(obj.kind === 'Ingress' ? { ...rest, metadata } : { ...obj, metadata });
}
