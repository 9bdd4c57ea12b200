import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Endpoint } from '../model/route-model.js';
import { isUpstreamTlsFailure, upstreamTlsError, upstreamTlsKey, upstreamTlsOptions, upstreamTlsRefusal, type UpstreamTls } from './upstream-tls.js';

export type { UpstreamTls } from './upstream-tls.js';

// Keep-alive upstream connections per endpoint (`ip:port`), raw node:net sockets. A connection is
// taken only when there is a request to send (never ahead of a body), reused LIFO (the warmest
// first), and closed after idleMs unused or when the upstream said it would not keep it.
//
// A connection's 'data', 'error', 'close' and 'timeout' listeners are added once, the first time an
// exchange holds it, and dispatch to whoever holds it now (holdUpstream): adding and removing four
// listeners per request (and three more for each stay in the pool) was a measurable share of the
// engine's per-request CPU. Unheld (idle in the pool, or between exchanges) it behaves as an idle
// pooled connection did: bytes that belong to no request get it destroyed, errors are ignored.

export interface UpstreamPoolOptions {
  /** Connect timeout, ms. Default 5 s (the README's connect timeout). */
  readonly connectTimeoutMs?: number;
  /** An idle connection is closed after this long, ms. Default 4 s (below common backend keep-alive timeouts). */
  readonly idleMs?: number;
  /** Idle connections kept per endpoint. Default 320 (ingress-nginx's upstream-keepalive-connections): HTTP/2 clients multiplex hundreds of requests onto few connections. */
  readonly maxIdle?: number;
}

export interface UpstreamLease {
  readonly socket: Socket;
  /** True when the connection served a request before (a reset may be a stale keep-alive). */
  readonly reused: boolean;
}

/** The events of an upstream connection, for the exchange that holds it. */
export interface UpstreamHolder {
  upstreamData(chunk: Buffer): void;
  /** 'close' (an 'error' is always followed by it). */
  upstreamClose(): void;
  upstreamTimeout(): void;
}

const IDLE_AT = Symbol('idleAt');
const HOLDER = Symbol('holder');
type PooledSocket = Socket & { [IDLE_AT]?: number; [HOLDER]?: UpstreamHolder | null };

/**
 * Routes `socket`'s events to `holder` from now on (undefined: nobody, as when idle in the pool).
 * The listeners themselves are added on the first call only.
 */
export function holdUpstream(socket: Socket, holder: UpstreamHolder | undefined): void {
  const pooled = socket as PooledSocket;
  if (pooled[HOLDER] === undefined) {
    socket.on('data', onUpstreamData);
    socket.on('error', onUpstreamError);
    socket.on('close', onUpstreamClose);
    socket.on('timeout', onUpstreamTimeout);
  }
  pooled[HOLDER] = holder ?? null;
}

/**
 * Idle connections are kept per endpoint and per TLS setting (all of them: SNI, CAs, verified name
 * and depth, client certificate, versions, ciphers): a TLS one never serves a plain request, nor one
 * that asked for other TLS settings.
 */
function poolKey(endpoint: Endpoint, tls: UpstreamTls | undefined): string {
  return tls === undefined ? endpoint.key : `${endpoint.key} ${upstreamTlsKey(tls)}`;
}

export class UpstreamPool {
  readonly #idle = new Map<string, PooledSocket[]>();
  readonly #options: Required<UpstreamPoolOptions>;
  #sweeper: NodeJS.Timeout | undefined;
  #open = 0;

  constructor(options: UpstreamPoolOptions = {}) {
    this.#options = { connectTimeoutMs: 5_000, idleMs: 4_000, maxIdle: 320, ...options };
  }

  /** Open upstream connections (idle and busy). */
  get openConnections(): number {
    return this.#open;
  }

  /**
   * An idle connection to the endpoint, or a new one (resolves once connected, and for `tls` once the
   * handshake is done). TLS failures (and a refused policy) reject with code UPSTREAM_TLS_FAILED or
   * the TLS error's own (isUpstreamTlsFailure).
   */
  acquire(endpoint: Endpoint, connectTimeoutMs: number = this.#options.connectTimeoutMs!, tls?: UpstreamTls): UpstreamLease | Promise<UpstreamLease> {
    const idle = this.#idle.get(poolKey(endpoint, tls));
    while (idle !== undefined && idle.length > 0) {
      const socket = idle.pop()!;
      if (!socket.destroyed && socket.readyState === 'open') return { socket, reused: true };
    }
    const refusal = tls === undefined ? undefined : upstreamTlsRefusal(tls);
    if (refusal !== undefined) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      // backend-protocol HTTPS: TLS to the pod, verified only with proxy-ssl-verify on.
      const socket: Socket = tls === undefined
        ? connect({ host: endpoint.address, port: endpoint.port, noDelay: true })
        : tlsConnect({ host: endpoint.address, port: endpoint.port, ...upstreamTlsOptions(tls, ['http/1.1']) }).setNoDelay(true);
      let connected = false;
      if (tls !== undefined) socket.once('connect', () => (connected = true));
      this.#open++;
      socket.once('close', () => this.#open--);
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect to ${endpoint.key} timed out`), { code: 'ETIMEDOUT' })), connectTimeoutMs);
      const failed = (error: Error) => {
        clearTimeout(timer);
        // Connected but no handshake: a TLS failure (a reset mid-handshake too: a TLS-only port refusing our versions).
        reject(connected && (error as NodeJS.ErrnoException).code !== 'ETIMEDOUT' && !isUpstreamTlsFailure(error) ? upstreamTlsError(`TLS handshake with ${endpoint.key} failed: ${error.message}`, error) : error);
      };
      socket.once('error', failed);
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        socket.removeListener('error', failed);
        socket.setKeepAlive(true, 30_000);
        resolve({ socket, reused: false });
      });
    });
  }

  /** Gives a connection back after a complete exchange the upstream will keep open. */
  release(endpoint: Endpoint, socket: Socket, tls?: UpstreamTls): void {
    if (socket.destroyed || socket.readyState !== 'open') return;
    const key = poolKey(endpoint, tls);
    let idle = this.#idle.get(key);
    if (idle === undefined) this.#idle.set(key, (idle = []));
    if (idle.length >= this.#options.maxIdle) {
      socket.destroy();
      return;
    }
    const pooled = socket as PooledSocket;
    pooled[IDLE_AT] = performance.now();
    // Unheld: bytes on it get it destroyed, errors are ignored, a destroyed one is skipped by acquire and the sweep.
    holdUpstream(socket, undefined);
    idle.push(pooled);
    this.#sweeper ??= setInterval(() => this.#sweep(), Math.max(250, this.#options.idleMs / 4)).unref();
  }

  #sweep(): void {
    const deadline = performance.now() - this.#options.idleMs;
    for (const [key, idle] of this.#idle) {
      // Oldest first: LIFO reuse keeps the old ones at the bottom.
      let expired = 0;
      while (expired < idle.length && (idle[expired]![IDLE_AT] ?? 0) < deadline) expired++;
      for (const socket of idle.splice(0, expired)) socket.destroy();
      for (let i = idle.length - 1; i >= 0; i--) if (idle[i]!.destroyed) idle.splice(i, 1);
      if (idle.length === 0) this.#idle.delete(key);
    }
    if (this.#idle.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  /** Closes every idle connection (busy ones close when their exchange ends). */
  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const idle of this.#idle.values()) for (const socket of idle) socket.destroy();
    this.#idle.clear();
  }
}

function onUpstreamData(this: PooledSocket, chunk: Buffer): void {
  const holder = this[HOLDER];
  // Bytes on an unheld connection belong to no request: they would reach the next client. Drop it.
  if (holder) holder.upstreamData(chunk);
  else this.destroy();
}
function onUpstreamError(): void {
  // 'close' follows and decides.
}
function onUpstreamClose(this: PooledSocket): void {
  this[HOLDER]?.upstreamClose();
}
function onUpstreamTimeout(this: PooledSocket): void {
  this[HOLDER]?.upstreamTimeout();
}
