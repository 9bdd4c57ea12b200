import { connect, type ClientHttp2Session } from 'node:http2';
import type { Endpoint } from '../model/route-model.js';
import { upstreamTlsKey, upstreamTlsOptions, upstreamTlsRefusal, type UpstreamTls } from './upstream-tls.js';

// HTTP/2 sessions to gRPC backends (backend-protocol GRPC / GRPCS), one per endpoint and TLS
// setting: HTTP/2 multiplexes, so one connection carries every concurrent call to a pod (as nginx's
// grpc_pass keeps one). A session that fails, is refused (GOAWAY) or idles is dropped and the next
// call opens a new one.

/** TLS to the pod (GRPCS): verified only with proxy-ssl-verify on (upstream-tls.ts); SNI only when named. */
export type H2UpstreamTls = UpstreamTls;

export interface H2UpstreamPoolOptions {
  /** Connect (and TLS handshake) timeout, ms. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** A session with no frames for this long is closed, ms. Default 60 s. */
  readonly idleMs?: number;
}

export class H2UpstreamPool {
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #connectTimeoutMs: number;
  readonly #idleMs: number;

  constructor(options: H2UpstreamPoolOptions = {}) {
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#idleMs = options.idleMs ?? 60_000;
  }

  /** Open sessions (tests). */
  get size(): number {
    return this.#sessions.size;
  }

  /** A connected session to the endpoint: the open one, or a new one once it has connected. */
  session(endpoint: Endpoint, tls: H2UpstreamTls | undefined, connectTimeoutMs = this.#connectTimeoutMs): Promise<ClientHttp2Session> | ClientHttp2Session {
    // One session per endpoint and TLS settings (all of them, as the HTTP/1.1 pool's key).
    const key = tls === undefined ? endpoint.key : `${endpoint.key} ${upstreamTlsKey(tls)}`;
    const refusal = tls === undefined ? undefined : upstreamTlsRefusal(tls);
    if (refusal !== undefined) return Promise.reject(refusal);
    const open = this.#sessions.get(key);
    if (open !== undefined && !open.closed && !open.destroyed && !open.connecting) return open;
    if (open !== undefined && open.connecting) return connected(open);
    const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
    const session = connect(`${tls === undefined ? 'http' : 'https'}://${host}:${endpoint.port}`, {
      ...(tls !== undefined && upstreamTlsOptions(tls, ['h2'])),
      // No ping/settings surprises: a backend's own limits decide.
      settings: { enablePush: false },
    });
    this.#sessions.set(key, session);
    const forget = () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    // Errors reach the streams on it; a dead session is only forgotten here.
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', forget);
    session.setTimeout(this.#idleMs, () => {
      forget();
      session.close();
    });
    const timer = setTimeout(() => session.destroy(Object.assign(new Error(`connect to ${endpoint.key} timed out`), { code: 'ETIMEDOUT' })), connectTimeoutMs);
    session.once('connect', () => clearTimeout(timer));
    session.once('close', () => clearTimeout(timer));
    // Idle sessions never keep the process alive.
    session.unref();
    return connected(session);
  }

  /** Closes every session (calls in flight finish first). */
  close(): void {
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }
}

function connected(session: ClientHttp2Session): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      session.removeListener('connect', onConnect);
      session.removeListener('error', onError);
      session.removeListener('close', onClose);
      reject(error);
    };
    const onClose = () => onError(Object.assign(new Error('the upstream closed the connection'), { code: 'ECONNRESET' }));
    const onConnect = () => {
      session.removeListener('error', onError);
      session.removeListener('close', onClose);
      resolve(session);
    };
    session.once('connect', onConnect);
    session.once('error', onError);
    session.once('close', onClose);
  });
}
