// The primary's side of `--workers N`: forks N worker processes, feeds them the configuration the
// controller builds (it implements the controller's RouteSink, BackendSink and, through tlsApplied,
// TlsSink), restarts the ones that die, answers readiness for all of them, merges their metrics, and
// shuts them down.
//
// Why child_process.fork and not node:cluster: in a cluster worker, listen() is routed through the
// primary, which then either accepts every connection itself and passes the handles round-robin (the
// default on Linux: every connection crosses the primary, the very bottleneck workers are meant to
// remove) or shares one listening handle. A forked process is an ordinary process that binds the
// ports itself with SO_REUSEPORT, so the kernel spreads connections over the workers, and a worker
// that dies takes only its own listening socket with it. The IPC channel is the same in both.
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, type Registry } from 'prom-client';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { BackendEndpoints, BuildChanges, RouteLookup, RouteModel } from '../model/route-model.js';
import type { IssuedCertificate } from '../tls/certificate-factory.js';
import type { SniPlan } from '../tls/sni-store.js';
import { certificateIdsOf, parseWorkerMessage, renderConfigSnapshot, renderPrimaryMessage, type PrimaryMessage, type WorkerMessage, type WorkerReport } from './snapshot.js';

/** What the pool needs of a worker process (a ChildProcess from fork; tests pass a fake). */
export interface WorkerChild {
  readonly pid?: number | undefined;
  readonly connected: boolean;
  send(message: unknown): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/** Starts worker `id` (0-based). */
export type ForkWorker = (id: number) => WorkerChild;

export interface PoolTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** ms, for how long a worker ran (a worker that ran long enough starts its backoff over). */
  now(): number;
}

export interface RestartBackoff {
  /** Delay before the first restart of a worker; doubled for each consecutive failure. Default 100 ms. */
  readonly initialMs?: number;
  /** Cap on the delay. Default 10 s. */
  readonly maxMs?: number;
  /** A worker that ran this long before dying is restarted after initialMs again. Default 30 s. */
  readonly stableMs?: number;
}

export interface WorkerPoolOptions {
  readonly count: number;
  readonly fork: ForkWorker;
  readonly logger: Logger;
  /** Sent to every worker, so all serve the same default certificate (it is generated once, here). */
  readonly fallbackCertificate: IssuedCertificate;
  /** Session-ticket keys every worker uses (the primary's own SniStore's): a session resumes on any worker. */
  readonly ticketKeys: Buffer;
  /** The configured ports; 0 is resolved by the first worker and the others get its port. */
  readonly ports: { readonly http: number; readonly https?: number };
  readonly host?: string;
  readonly backoff?: RestartBackoff;
  readonly timers?: PoolTimers;
  /** How long /metrics and /debug/stats wait for a worker's report. Default 2 s. */
  readonly collectTimeoutMs?: number;
  /** On shutdown, a worker still running after this long is killed (SIGKILL). */
  readonly killAfterMs?: number;
  /** The primary's registry: portico_workers and portico_worker_restarts_total go there, and it is merged into /metrics. */
  readonly metrics?: Registry;
}

type SlotState = 'starting' | 'serving' | 'restarting' | 'stopped';

interface Slot {
  readonly id: number;
  child: WorkerChild | undefined;
  pid: number | undefined;
  listening: boolean;
  /** The generation of the full snapshot this process got; undefined until it got one. */
  fullGeneration: number | undefined;
  /** The last generation it acknowledged. */
  applied: number;
  /** Certificate ids this process holds (it got their PEMs): the next plan names them by id. */
  certificates: ReadonlySet<string>;
  restarts: number;
  /** Consecutive deaths (the backoff exponent). */
  failures: number;
  startedAt: number;
  restartTimer: unknown;
  killTimer: unknown;
  onListening: ((ports: { http: number; https?: number }) => void) | undefined;
  onFailed: ((error: Error) => void) | undefined;
  exitWaiters: Array<() => void>;
  stopping: boolean;
}

export interface WorkerStats {
  readonly id: number;
  readonly pid: number | undefined;
  readonly state: SlotState;
  /** Whether it listens and has applied a full configuration. */
  readonly ready: boolean;
  /** The last configuration generation it applied. */
  readonly generation: number;
  readonly restarts: number;
  /** Requests it answered since it (this process) started; undefined when it did not report. */
  readonly requests: number | undefined;
}

const REAL_TIMERS: PoolTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => performance.now(),
};

/** The delay before restarting a worker that died for the `failures`-th time in a row. */
export function restartDelayMs(failures: number, backoff: RestartBackoff = {}): number {
  const initial = backoff.initialMs ?? 100;
  const max = backoff.maxMs ?? 10_000;
  return Math.min(max, initial * 2 ** Math.max(0, Math.min(failures - 1, 30)));
}

export class WorkerPool {
  readonly count: number;
  readonly #options: WorkerPoolOptions;
  readonly #log: Logger;
  readonly #timers: PoolTimers;
  readonly #slots: Slot[];
  #ports: { http: number; https?: number };
  #started = false;
  #stopping: Promise<void> | undefined;
  #generation = 0;
  /** What the next snapshot carries: the parts the sinks were given during this build. */
  #pending: { tls?: SniPlan; endpoints?: ReadonlyMap<string, BackendEndpoints>; routes?: true } = {};
  /** The configuration as of the last build: a new worker gets all of it. */
  #current: { tls?: SniPlan; endpoints?: ReadonlyMap<string, BackendEndpoints>; routes?: RouteModel } = {};
  #collectSeq = 0;
  readonly #reports = new Map<number, (report: WorkerReport) => void>();
  readonly #live: Gauge | undefined;
  readonly #restartsTotal: Counter | undefined;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new RangeError(`worker count must be a whole number ≥ 1, got ${options.count}`);
    this.count = options.count;
    this.#options = options;
    this.#log = options.logger.child({ component: 'workers' });
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#ports = { ...options.ports };
    this.#slots = Array.from({ length: options.count }, (_, id) => ({
      id,
      child: undefined,
      pid: undefined,
      listening: false,
      fullGeneration: undefined,
      applied: 0,
      certificates: new Set(),
      restarts: 0,
      failures: 0,
      startedAt: 0,
      restartTimer: undefined,
      killTimer: undefined,
      onListening: undefined,
      onFailed: undefined,
      exitWaiters: [],
      stopping: false,
    }));
    if (options.metrics) {
      const registers = [options.metrics];
      this.#live = new Gauge({ name: 'portico_workers', help: 'Worker processes running (--workers).', registers });
      this.#restartsTotal = new Counter({ name: 'portico_worker_restarts_total', help: 'Worker processes restarted after they exited or were killed.', registers });
      this.#live.set(0);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Start

  /**
   * Forks the first worker and waits until it listens (a port 0 is resolved there), then the others
   * on the same ports. Rejects with PORTICO_ERR_WORKER_START when any fails to listen.
   */
  async start(): Promise<{ http: AddressInfo; https: AddressInfo | undefined }> {
    const [first, ...rest] = this.#slots;
    try {
      this.#ports = await this.#spawn(first!);
      await Promise.all(rest.map((slot) => this.#spawn(slot)));
    } catch (error) {
      await this.close();
      throw error;
    }
    this.#started = true;
    const address = (port: number): AddressInfo => {
      const host = this.#options.host ?? '::';
      return { address: host, family: host.includes(':') ? 'IPv6' : 'IPv4', port };
    };
    return { http: address(this.#ports.http), https: this.#ports.https === undefined ? undefined : address(this.#ports.https) };
  }

  /** Forks the process of a slot; resolves with its ports once it listens. */
  #spawn(slot: Slot): Promise<{ http: number; https?: number }> {
    const child = this.#options.fork(slot.id);
    slot.child = child;
    slot.pid = child.pid;
    slot.listening = false;
    slot.fullGeneration = undefined;
    slot.applied = 0;
    slot.certificates = new Set();
    slot.startedAt = this.#timers.now();
    const listening = new Promise<{ http: number; https?: number }>((resolve, reject) => {
      slot.onListening = resolve;
      slot.onFailed = reject;
    });
    // Before start's first await resolves, a rejection nobody awaits yet must not crash the process.
    listening.catch(() => undefined);
    child.on('message', (raw: unknown) => this.#onMessage(slot, child, raw));
    child.on('error', (error: Error) => this.#log.warn({ worker: slot.id, pid: child.pid, err: error.message }, `worker ${slot.id}: ${error.message}`));
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.#onExit(slot, child, code, signal));
    this.#updateLive();
    // Where to listen, then (when there is one) the configuration: the worker listens only once it
    // has applied it, so its listeners never answer from an empty table.
    this.#send(child, {
      type: 'start',
      http: this.#ports.http,
      ...(this.#ports.https !== undefined && { https: this.#ports.https }),
      fallbackCertificate: { certPem: this.#options.fallbackCertificate.certPem, keyPem: this.#options.fallbackCertificate.keyPem },
      ticketKeys: this.#options.ticketKeys,
      waitForConfig: this.#current.routes !== undefined,
    });
    if (this.#current.routes) this.#sendFull(slot, child);
    return listening;
  }

  #send(child: WorkerChild, message: PrimaryMessage | ReturnType<typeof renderConfigSnapshot>): boolean {
    if (!child.connected) return false;
    try {
      return child.send('version' in message ? message : renderPrimaryMessage(message));
    } catch (error) {
      // The channel closed under us (the worker is dying): its exit handler restarts it.
      this.#log.debug({ err: (error as Error).message }, 'send to a worker failed');
      return false;
    }
  }

  #sendFull(slot: Slot, child: WorkerChild): void {
    const { tls, endpoints, routes } = this.#current;
    slot.fullGeneration = this.#generation;
    this.#send(
      child,
      renderConfigSnapshot({
        generation: this.#generation,
        full: true,
        ...(tls && { tls }),
        endpoints: endpoints ?? new Map(),
        ...(routes && { routes }),
      }),
    );
    if (tls) slot.certificates = certificateIdsOf(tls);
  }

  // ------------------------------------------------------------------------------------------
  // The controller's sinks: certificates, then backends, then routes; one snapshot per build.

  /** TlsSink (the primary applies the plan to its own SniStore as well, see startController). */
  tlsApplied(plan: SniPlan): void {
    this.#pending.tls = plan;
  }

  /** BackendSink. */
  sync(next: ReadonlyMap<string, BackendEndpoints>): void {
    this.#pending.endpoints = next;
  }

  /** RouteSink: the table itself stays here; the model goes out with configurationBuilt. */
  setRoutes(_lookup: RouteLookup): void {
    this.#pending.routes = true;
  }

  /** The latest endpoints by backend key (for /debug/backends). */
  get endpoints(): ReadonlyMap<string, BackendEndpoints> {
    return this.#current.endpoints ?? new Map();
  }

  /** After every build (a ControllerObserver): sends what it recompiled to every worker. */
  configurationBuilt(model: RouteModel, changed: BuildChanges): void {
    const pending = this.#pending;
    this.#pending = {};
    this.#generation++;
    if (pending.tls) this.#current.tls = pending.tls;
    if (pending.endpoints) this.#current.endpoints = pending.endpoints;
    if (pending.routes || changed.routes) this.#current.routes = model;
    const parts = {
      generation: this.#generation,
      full: false,
      ...(pending.tls && { tls: pending.tls }),
      ...(pending.endpoints && { endpoints: pending.endpoints }),
      ...((pending.routes || changed.routes) && { routes: model }),
    };
    const sent = pending.tls && certificateIdsOf(pending.tls);
    for (const slot of this.#slots) {
      const child = slot.child;
      if (!child) continue;
      // A worker that never had the whole configuration gets all of it, not just this change.
      if (slot.fullGeneration === undefined) this.#sendFull(slot, child);
      else {
        this.#send(child, renderConfigSnapshot({ ...parts, knownCertificates: slot.certificates }));
        if (sent) slot.certificates = sent;
      }
    }
  }

  get generation(): number {
    return this.#generation;
  }

  // ------------------------------------------------------------------------------------------
  // Messages and exits

  #onMessage(slot: Slot, child: WorkerChild, raw: unknown): void {
    if (slot.child !== child) return;
    let message: WorkerMessage;
    try {
      message = parseWorkerMessage(raw);
    } catch (error) {
      this.#log.error({ code: (error as PorticoError).code, worker: slot.id, pid: child.pid, err: (error as Error).message }, `worker ${slot.id}: ${(error as Error).message}`);
      return;
    }
    switch (message.type) {
      case 'listening': {
        slot.listening = true;
        const ports = { http: message.http, ...(message.https !== undefined && { https: message.https }) };
        if (this.#started) this.#log.info({ worker: slot.id, pid: child.pid, restarts: slot.restarts }, `worker ${slot.id} (pid ${child.pid}) is serving again`);
        slot.onListening?.(ports);
        slot.onListening = undefined;
        slot.onFailed = undefined;
        break;
      }
      case 'applied':
        slot.applied = message.generation;
        break;
      case 'report':
        this.#reports.get(message.id)?.(message);
        break;
      case 'failed': {
        const error = new PorticoError('PORTICO_ERR_WORKER_START', `worker ${slot.id} (pid ${child.pid}) could not start: ${message.message}${message.code ? ` [${message.code}]` : ''}`);
        this.#log.error({ code: error.code, worker: slot.id, pid: child.pid }, error.message);
        slot.onFailed?.(error);
        slot.onFailed = undefined;
        slot.onListening = undefined;
        break;
      }
    }
  }

  #onExit(slot: Slot, child: WorkerChild, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    slot.listening = false;
    slot.fullGeneration = undefined;
    this.#timers.clearTimeout(slot.killTimer);
    slot.killTimer = undefined;
    this.#updateLive();
    for (const wake of slot.exitWaiters.splice(0)) wake();
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    if (slot.onFailed) {
      slot.onFailed(new PorticoError('PORTICO_ERR_WORKER_START', `worker ${slot.id} (pid ${child.pid}) ${how} before it listened`));
      slot.onFailed = undefined;
      slot.onListening = undefined;
      // At start the controller fails; a replacement that dies before listening is retried below.
      if (!this.#started) return;
    }
    if (this.#stopping || slot.stopping) {
      this.#log.info({ worker: slot.id, pid: child.pid, code, signal }, `worker ${slot.id} (pid ${child.pid}) ${how}`);
      return;
    }
    // A worker that ran for a while starts its backoff over; one that keeps dying waits longer each time.
    const ran = this.#timers.now() - slot.startedAt;
    slot.failures = ran >= (this.#options.backoff?.stableMs ?? 30_000) ? 1 : slot.failures + 1;
    const delay = restartDelayMs(slot.failures, this.#options.backoff);
    this.#log.warn(
      { code: 'PORTICO_ERR_WORKER_EXITED', worker: slot.id, pid: child.pid, exitCode: code, signal, restartInMs: delay, failures: slot.failures },
      `worker ${slot.id} (pid ${child.pid}) ${how}; restarting it in ${delay} ms (the other workers keep serving)`,
    );
    slot.restartTimer = this.#timers.setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#stopping) return;
      slot.restarts++;
      this.#restartsTotal?.inc();
      // A restarted worker that fails to listen dies, and its exit schedules the next attempt.
      this.#spawn(slot).catch((error: Error) => this.#log.error({ code: (error as PorticoError).code, worker: slot.id }, error.message));
    }, delay);
  }

  #updateLive(): void {
    this.#live?.set(this.#slots.filter((slot) => slot.child !== undefined).length);
  }

  // ------------------------------------------------------------------------------------------
  // Readiness, metrics, stats

  /** Ready when every worker listens and has applied a full configuration. */
  readiness(): { ready: true } | { ready: false; reason: string } {
    for (const slot of this.#slots) {
      if (!slot.child) return { ready: false, reason: `worker ${slot.id} is restarting` };
      if (!slot.listening) return { ready: false, reason: `worker ${slot.id} is not listening yet` };
      if (slot.fullGeneration === undefined || slot.applied < slot.fullGeneration || !this.#current.routes) {
        return { ready: false, reason: `worker ${slot.id} has not applied the configuration yet` };
      }
    }
    return { ready: true };
  }

  /** Asks every listening worker for its report; a worker that does not answer in time is left out. */
  async collect(): Promise<Array<WorkerReport | undefined>> {
    const timeoutMs = this.#options.collectTimeoutMs ?? 2_000;
    return Promise.all(
      this.#slots.map((slot) => {
        const child = slot.child;
        if (!child || !slot.listening) return Promise.resolve(undefined);
        const id = ++this.#collectSeq;
        return new Promise<WorkerReport | undefined>((resolve) => {
          const done = (report: WorkerReport | undefined) => {
            this.#reports.delete(id);
            this.#timers.clearTimeout(timer);
            const index = slot.exitWaiters.indexOf(gone);
            if (index >= 0) slot.exitWaiters.splice(index, 1);
            resolve(report);
          };
          const gone = () => done(undefined);
          const timer = this.#timers.setTimeout(() => done(undefined), timeoutMs);
          slot.exitWaiters.push(gone);
          this.#reports.set(id, done);
          if (!this.#send(child, { type: 'collect', id })) done(undefined);
        });
      }),
    );
  }

  /** /metrics: the primary's registry merged with every worker's (counters and histograms summed). */
  async renderMetrics(): Promise<string> {
    const reports = await this.collect();
    const own = this.#options.metrics ? await this.#options.metrics.getMetricsAsJSON() : [];
    const all = [own, ...reports.filter((r): r is WorkerReport => r !== undefined).map((r) => r.metrics)];
    return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  /** /debug/stats: every worker's identity and counters, and the handshake failures of all. */
  async stats(): Promise<{ workers: WorkerStats[]; handshakeFailures: Record<string, number> }> {
    const reports = await this.collect();
    const handshakeFailures: Record<string, number> = {};
    for (const report of reports) {
      for (const [reason, n] of Object.entries(report?.handshakeFailures ?? {})) handshakeFailures[reason] = (handshakeFailures[reason] ?? 0) + n;
    }
    const ready = (slot: Slot) => slot.child !== undefined && slot.listening && slot.fullGeneration !== undefined && slot.applied >= slot.fullGeneration;
    return {
      workers: this.#slots.map((slot, i) => ({
        id: slot.id,
        pid: slot.child?.pid,
        state: this.#state(slot),
        ready: ready(slot),
        generation: slot.applied,
        restarts: slot.restarts,
        requests: reports[i]?.requests,
      })),
      handshakeFailures,
    };
  }

  #state(slot: Slot): SlotState {
    if (slot.child) return slot.listening ? 'serving' : 'starting';
    return slot.restartTimer !== undefined ? 'restarting' : 'stopped';
  }

  /** Live worker pids, by slot (undefined: not running). */
  get pids(): ReadonlyArray<number | undefined> {
    return this.#slots.map((slot) => slot.child?.pid);
  }

  // ------------------------------------------------------------------------------------------
  // Shutdown

  /** SIGTERM: every worker runs its grace period and drain; resolves when all have exited. */
  shutdown(): Promise<void> {
    return this.#stop(true);
  }

  /** Stops now: every worker drains (no grace period) and exits. */
  close(): Promise<void> {
    return this.#stop(false);
  }

  #stop(grace: boolean): Promise<void> {
    if (this.#stopping && grace) return this.#stopping;
    const stopping = (async () => {
      await Promise.all(
        this.#slots.map(async (slot) => {
          this.#timers.clearTimeout(slot.restartTimer);
          slot.restartTimer = undefined;
          slot.stopping = true;
          const child = slot.child;
          if (!child) return;
          const exited = new Promise<void>((resolve) => slot.exitWaiters.push(resolve));
          if (!this.#send(child, { type: 'shutdown', grace })) child.kill('SIGTERM');
          if (slot.killTimer === undefined && this.#options.killAfterMs !== undefined) {
            slot.killTimer = this.#timers.setTimeout(() => {
              this.#log.warn({ worker: slot.id, pid: child.pid }, `worker ${slot.id} (pid ${child.pid}) did not exit in time; killing it`);
              child.kill('SIGKILL');
            }, this.#options.killAfterMs);
          }
          await exited;
        }),
      );
    })();
    this.#stopping ??= stopping;
    return stopping;
  }
}
