import { connect, type Socket } from 'node:net';
import type { Endpoint } from '../model/route-model.js';

// Keep-alive upstream connections per endpoint (`ip:port`), raw node:net sockets. A connection is
// taken only when there is a request to send (never ahead of a body), reused LIFO (the warmest
// first), and closed after idleMs unused or when the upstream said it would not keep it.

export interface UpstreamPoolOptions {
  /** Connect timeout, ms. Default 5 s (the README's connect timeout). */
  readonly connectTimeoutMs?: number;
  /** An idle connection is closed after this long, ms. Default 4 s (below common backend keep-alive timeouts). */
  readonly idleMs?: number;
  /** Idle connections kept per endpoint. Default 128. */
  readonly maxIdle?: number;
}

export interface UpstreamLease {
  readonly socket: Socket;
  /** True when the connection served a request before (a reset may be a stale keep-alive). */
  readonly reused: boolean;
}

const IDLE_AT = Symbol('idleAt');
type PooledSocket = Socket & { [IDLE_AT]?: number };

export class UpstreamPool {
  readonly #idle = new Map<string, PooledSocket[]>();
  readonly #options: Required<UpstreamPoolOptions>;
  #sweeper: NodeJS.Timeout | undefined;
  #open = 0;

  constructor(options: UpstreamPoolOptions = {}) {
    this.#options = { connectTimeoutMs: 5_000, idleMs: 4_000, maxIdle: 128, ...options };
  }

  /** Open upstream connections (idle and busy). */
  get openConnections(): number {
    return this.#open;
  }

  /** An idle connection to the endpoint, or a new one (resolves once connected). */
  acquire(endpoint: Endpoint): UpstreamLease | Promise<UpstreamLease> {
    const idle = this.#idle.get(endpoint.key);
    while (idle !== undefined && idle.length > 0) {
      const socket = idle.pop()!;
      socket.removeListener('error', onIdleError);
      socket.removeListener('close', onIdleClose);
      socket.removeListener('data', onIdleData);
      if (!socket.destroyed && socket.readyState === 'open') return { socket, reused: true };
    }
    return new Promise((resolve, reject) => {
      const socket = connect({ host: endpoint.address, port: endpoint.port, noDelay: true });
      this.#open++;
      socket.once('close', () => this.#open--);
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect to ${endpoint.key} timed out`), { code: 'ETIMEDOUT' })), this.#options.connectTimeoutMs);
      const failed = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', failed);
        socket.setKeepAlive(true, 30_000);
        resolve({ socket, reused: false });
      });
    });
  }

  /** Gives a connection back after a complete exchange the upstream will keep open. */
  release(endpoint: Endpoint, socket: Socket): void {
    if (socket.destroyed || socket.readyState !== 'open') return;
    let idle = this.#idle.get(endpoint.key);
    if (idle === undefined) this.#idle.set(endpoint.key, (idle = []));
    if (idle.length >= this.#options.maxIdle) {
      socket.destroy();
      return;
    }
    const pooled = socket as PooledSocket;
    pooled[IDLE_AT] = performance.now();
    // An idle connection the upstream closes, or that errors, leaves the pool on its own.
    socket.on('error', onIdleError);
    socket.on('close', onIdleClose);
    // Bytes on an idle connection belong to no request: they would reach the next client. Drop it.
    socket.on('data', onIdleData);
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

function onIdleError(): void {}
function onIdleData(this: Socket): void {
  this.destroy();
}
function onIdleClose(this: Socket): void {
  this.destroy();
}
