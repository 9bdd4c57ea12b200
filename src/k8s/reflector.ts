import type { Logger } from '../lib/logger.js';
import type { ApiResource } from './api-access.js';
import { Backoff, sleep, type BackoffOptions } from './backoff.js';
import { isResourceExpired, KubeApiError, type KubeClient } from './kube-client.js';

export interface ReflectorHandler {
  /** A full list arrived: `items` is the complete current set; anything else known is gone. */
  replace(items: readonly unknown[]): void;
  /** One watch event, in order. */
  apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Record<string, unknown>): void;
}

export type RestartReason = 'error' | 'expired';

export interface ReflectorOptions {
  client: KubeClient;
  resource: ApiResource;
  /** Only this namespace; every namespace when undefined. */
  namespace?: string | undefined;
  fieldSelector?: string | undefined;
  labelSelector?: string | undefined;
  handler: ReflectorHandler;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Server-side watch timeout; default a random 300–600 s like client-go, so replicas spread out. */
  watchTimeoutSeconds?: number;
  /** Called once, after the first successful list has been handed to the handler. */
  onSynced?: () => void;
  /** Called each time list+watch starts over: after an error (with backoff) or a 410 (relist at once). */
  onRestart?: (reason: RestartReason, error: Error) => void;
}

/** A watch that ended by itself this soon without events counts as a failure for backoff. */
const MIN_HEALTHY_WATCH_MS = 1000;

/**
 * List, then watch from the list's resourceVersion, forever (client-go's Reflector). Unlike
 * client-node's ListWatch, it never stops on an error: any failure restarts the loop after a
 * capped, jittered backoff, resuming the watch from the last resourceVersion seen (events or
 * bookmarks); 410 Gone / Expired drops the resourceVersion and relists at once.
 */
export class Reflector {
  readonly #options: ReflectorOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #resourceVersion = '';
  #synced = false;
  #restarts = 0;
  #failing = false;
  #lastError: string | undefined;

  constructor(options: ReflectorOptions) {
    this.#options = options;
    this.#log = options.logger.child({ resource: options.resource.resource, ...(options.namespace && { namespace: options.namespace }) });
    this.#backoff = new Backoff(options.backoff);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  /** True once the first list has been delivered (stays true through later restarts). */
  get synced(): boolean {
    return this.#synced;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** The last failure's message while failing; undefined when healthy. */
  get lastError(): string | undefined {
    return this.#failing ? this.#lastError : undefined;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        if (!this.#resourceVersion) await this.#list(signal);
        const started = Date.now();
        let events = 0;
        await this.#options.client.watch(this.#options.resource, {
          namespace: this.#options.namespace,
          fieldSelector: this.#options.fieldSelector,
          labelSelector: this.#options.labelSelector,
          resourceVersion: this.#resourceVersion,
          timeoutSeconds: this.#options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
          signal,
          onEvent: (event) => {
            events++;
            this.#recovered();
            const rv = (event.object?.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion;
            if (event.type !== 'BOOKMARK' && event.type !== 'ERROR') this.#options.handler.apply(event.type, event.object);
            if (typeof rv === 'string' && rv !== '') this.#resourceVersion = rv;
          },
        });
        // The server ended the watch (its timeout): resume from the last resourceVersion.
        if (events === 0 && Date.now() - started < MIN_HEALTHY_WATCH_MS && !signal.aborted) {
          await sleep(this.#backoff.next(), signal);
        }
      } catch (error) {
        if (signal.aborted) break;
        const err = error as Error;
        if (isResourceExpired(err)) {
          this.#resourceVersion = '';
          this.#restarts++;
          this.#log.info({ code: 'PORTICO_ERR_K8S_EXPIRED', reason: err.message }, 'resourceVersion expired; relisting');
          this.#options.onRestart?.('expired', err);
          continue;
        }
        this.#restarts++;
        const delay = this.#backoff.next();
        this.#failing = true;
        this.#lastError = err.message;
        const status = err instanceof KubeApiError ? err.status : undefined;
        this.#log[this.#backoff.attempts <= 1 ? 'warn' : 'debug'](
          { code: 'PORTICO_ERR_K8S_WATCH', err: err.message, status, server: this.#options.client.server, retryInMs: delay, restarts: this.#restarts },
          `list/watch ${this.#options.resource.resource} on ${this.#options.client.server} failed: ${err.message}; retrying in ${delay} ms`,
        );
        this.#options.onRestart?.('error', err);
        await sleep(delay, signal);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<void> {
    const { items, resourceVersion } = await this.#options.client.list(this.#options.resource, {
      namespace: this.#options.namespace,
      fieldSelector: this.#options.fieldSelector,
      labelSelector: this.#options.labelSelector,
      signal,
    });
    this.#options.handler.replace(items);
    this.#resourceVersion = resourceVersion;
    this.#recovered();
    if (!this.#synced) {
      this.#synced = true;
      this.#log.debug({ objects: items.length, resourceVersion }, 'initial list done');
      this.#options.onSynced?.();
    }
  }

  #recovered(): void {
    this.#backoff.reset();
    if (this.#failing) {
      this.#failing = false;
      this.#log.info({ resourceVersion: this.#resourceVersion }, `list/watch ${this.#options.resource.resource} recovered`);
    }
  }
}
