import { hostname } from 'node:os';
import type { ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Diagnostic, DiagnosticObject } from '../model/route-model.js';
import { RESOURCES } from './api-access.js';
import { KubeApiError, type KubeClient } from './kube-client.js';

export interface EventRecorderOptions {
  client: KubeClient;
  logger: Logger;
  /** source.component / reportingComponent. Default `portico-controller`. */
  component?: string;
  /** source.host / reportingInstance. Default the hostname (the pod name). */
  instance?: string;
  /** uid, apiVersion and resourceVersion of the object, so `kubectl describe` finds the Event. */
  lookupObject?: (object: DiagnosticObject) => { uid?: string; apiVersion?: string; resourceVersion?: string } | undefined;
  /** Per-object token bucket (client-go's spam filter): burst… Default 25. */
  burst?: number;
  /** …refilled one token per this many ms. Default 300 000 (5 min). */
  refillMs?: number;
  /** Events waiting to be sent beyond this are dropped. Default 1000. */
  maxQueue?: number;
  now?: () => number;
}

export interface EventInput {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

interface Sent {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
}

const API_VERSIONS: Record<string, string> = {
  Ingress: 'networking.k8s.io/v1',
  IngressClass: 'networking.k8s.io/v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Service: 'v1',
  Secret: 'v1',
  Node: 'v1',
  ConfigMap: 'v1',
};

const MAX_CACHE = 4096;
const MAX_MESSAGE = 1024;

/**
 * Records core/v1 Events for objects with problems, like client-go's recorder: an identical event
 * (same object, type, reason, message) within the cache bumps count and lastTimestamp with a merge
 * patch instead of creating a new Event; a per-object token bucket limits bursts; sending is
 * asynchronous and sequential, and never throws. recordDiagnostics() records only diagnostics that
 * were not present in the previous call, so a rebuild that changes nothing records nothing.
 */
export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #log: Logger;
  readonly #component: string;
  readonly #instance: string;
  readonly #now: () => number;
  readonly #sent = new Map<string, Sent>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #queue: Array<{ object: DiagnosticObject; event: EventInput }> = [];
  #draining: Promise<void> | undefined;
  #previous = new Set<string>();
  #enabled = true;
  readonly stats = { created: 0, patched: 0, dropped: 0, failed: 0 };

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'events' });
    this.#component = options.component ?? 'portico-controller';
    this.#instance = options.instance ?? hostname();
    this.#now = options.now ?? Date.now;
  }

  /** Only the leader records (so replicas don't write the same Event twice). Enabling re-records current diagnostics. */
  setEnabled(enabled: boolean): void {
    if (enabled && !this.#enabled) this.#previous = new Set();
    this.#enabled = enabled;
  }

  /** Records the diagnostics that are new since the last call (Warning events, reason from the code). */
  recordDiagnostics(diagnostics: readonly Diagnostic[]): void {
    const current = new Set<string>();
    for (const diagnostic of diagnostics) {
      const event = eventForDiagnostic(diagnostic);
      const id = `${objectId(diagnostic.object)} ${event.reason} ${event.message}`;
      current.add(id);
      if (!this.#previous.has(id)) this.record(diagnostic.object, event);
    }
    if (this.#enabled) this.#previous = current;
  }

  record(object: DiagnosticObject, event: EventInput): void {
    if (!this.#enabled) return;
    if (!this.#take(objectId(object))) {
      this.stats.dropped++;
      this.#log.debug({ code: 'PORTICO_ERR_K8S_EVENT_WRITE', object: objectId(object), reason: event.reason }, 'event rate-limited; dropped');
      return;
    }
    if (this.#queue.length >= (this.#options.maxQueue ?? 1000)) {
      this.stats.dropped++;
      return;
    }
    this.#queue.push({ object, event });
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
  }

  /** Resolves when every queued event has been sent (or dropped). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #drain(): Promise<void> {
    for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
      await this.#send(item.object, item.event);
    }
  }

  #take(id: string): boolean {
    const burst = this.#options.burst ?? 25;
    const refillMs = this.#options.refillMs ?? 300_000;
    const now = this.#now();
    const bucket = this.#buckets.get(id) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) / refillMs);
    bucket.at = now;
    this.#buckets.delete(id);
    this.#buckets.set(id, bucket);
    if (this.#buckets.size > MAX_CACHE) this.#buckets.delete(this.#buckets.keys().next().value!);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  async #send(object: DiagnosticObject, event: EventInput): Promise<void> {
    const { client } = this.#options;
    const message = event.message.length > MAX_MESSAGE ? `${event.message.slice(0, MAX_MESSAGE - 3)}...` : event.message;
    const key = `${objectId(object)}\u0000${event.type}\u0000${event.reason}\u0000${message}`;
    const timestamp = new Date(this.#now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const previous = this.#sent.get(key);
    try {
      if (previous) {
        try {
          await client.patch(RESOURCES.events, { namespace: previous.namespace, name: previous.name }, { count: previous.count + 1, lastTimestamp: timestamp });
          previous.count++;
          this.#touch(key, previous);
          this.stats.patched++;
          return;
        } catch (error) {
          if (!(error instanceof KubeApiError && error.status === 404)) throw error;
          // The Event expired (TTL); create a new one.
        }
      }
      const extra = this.#options.lookupObject?.(object);
      const namespace = object.namespace ?? 'default';
      const name = `${object.name}.${(BigInt(this.#now()) * 1_000_000n + BigInt(this.stats.created % 1_000_000)).toString(16)}`;
      await client.create(RESOURCES.events, namespace, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          kind: object.kind,
          ...(object.namespace !== undefined && { namespace: object.namespace }),
          name: object.name,
          apiVersion: extra?.apiVersion ?? API_VERSIONS[object.kind],
          ...(extra?.uid && { uid: extra.uid }),
          ...(extra?.resourceVersion && { resourceVersion: extra.resourceVersion }),
        },
        reason: event.reason,
        message,
        type: event.type,
        count: 1,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        source: { component: this.#component, host: this.#instance },
        reportingComponent: this.#component,
        reportingInstance: this.#instance,
      });
      this.stats.created++;
      this.#touch(key, { name, namespace, count: 1, firstTimestamp: timestamp });
    } catch (error) {
      this.stats.failed++;
      this.#log.warn(
        { code: 'PORTICO_ERR_K8S_EVENT_WRITE', object: objectId(object), reason: event.reason, err: (error as Error).message },
        `recording an event on ${objectId(object)} failed: ${(error as Error).message}`,
      );
    }
  }

  #touch(key: string, sent: Sent): void {
    this.#sent.delete(key);
    this.#sent.set(key, sent);
    if (this.#sent.size > MAX_CACHE) this.#sent.delete(this.#sent.keys().next().value!);
  }
}

/** `PORTICO_ERR_INGRESS_PATH_INVALID` → `IngressPathInvalid`. */
export function reasonForCode(code: ErrorCode): string {
  return code
    .replace(/^PORTICO_ERR_/, '')
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

export function eventForDiagnostic(diagnostic: Diagnostic): EventInput {
  return {
    type: 'Warning',
    reason: reasonForCode(diagnostic.code),
    message: `${diagnostic.field ? `${diagnostic.field}: ` : ''}${diagnostic.message} (${diagnostic.code})`,
  };
}

function objectId(object: DiagnosticObject): string {
  return `${object.kind} ${object.namespace ? `${object.namespace}/` : ''}${object.name}`;
}
