// The HTTP/1.1 engine (issue 13), first cut: node:net sockets on both sides, the strict src/http1
// parsers, routing on the parsed Host and path before anything is copied, raw-byte body relay
// with the framing tracked, keep-alive upstream pools of our own. One request at a time per
// client connection: pipelined requests wait in order, so responses go out in request order.
//
// Covered: keep-alive and pipelining, Content-Length and chunked bodies both ways, close-delimited
// responses, HEAD/204/304, 1xx relayed, Expect: 100-continue answered here, X-Forwarded-*, X-Real-IP
// and X-Request-ID, `Server: portico`, ssl-redirect and HSTS, Portico's own JSON errors, connect
// failures retried on the other endpoints and then after a newer endpoint set, an idempotent
// body-less request resent once after a reset, client aborts, upgrades (WebSocket) as tunnels after
// the same routing, TLS connections from a tls.Server, timeouts (connect, stalled head or body 408,
// idle keep-alive, upstream silence 504), the access log and request metrics, the shutdown drain.
// Not yet: per-route steps, workers. `portico controller --data-plane engine` selects it; the
// node:http proxy in src/proxy stays the default until the engine passes every proxy test.
import { newRequestId } from '../lib/request-id.js';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { BackendRegistry } from '../balancer/backend-registry.js';
import type { ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { STATUS_CODES } from 'node:http';
import type { Endpoint, RouteLookup, RouteMatch, RoutePolicies } from '../model/route-model.js';
import { answerFieldLines, newUpstreamEdits, pickEndpoint, settleSteps, upstreamTimeoutOf, type EndpointChooser, type PipelineMatch, type StepAnswer, type StepRequest, type UpstreamEdits } from '../proxy/policies/pipeline.js';
import { clientAddressOf } from '../proxy/hop-by-hop.js';
import { createAccessLogWriter, roundMs, type AccessLogEntry, type AccessLogField, type AccessLogWriter } from '../proxy/access-log.js';
import { errorReply } from '../proxy/error-reply.js';
import type { RequestObserver } from '../model/request-observer.js';
import { ChunkedTracker, ERROR, LengthTracker, NEED_MORE, RequestHeadParser, ResponseHeadParser, originTarget, serializeRequestHead, serializeResponseHead, type HeadPart, type RequestHead, type ResponseContext, type ResponseHead } from '../http1/index.js';
import { Http2Front } from '../http2/h2-front.js';
import { interceptsStatus, startErrorPage } from '../proxy/error-page.js';
import { startMirror, type MirrorCopy, type MirrorSource } from '../proxy/mirror-copy.js';
import { holdUpstream, retainUpstreamBytes, returnUpstreamBytes, UpstreamPool, type UpstreamHolder, type UpstreamPoolOptions } from '../upstream/upstream-pool.js';
import { isUpstreamTlsFailure, upstreamTlsFor, upstreamTlsOptions, upstreamTlsRefusal, type UpstreamTls } from '../upstream/upstream-tls.js';

export interface EngineServerOptions {
  readonly backends: BackendRegistry;
  readonly routes?: RouteLookup<PipelineMatch>;
  readonly logger: Logger;
  readonly pool?: UpstreamPoolOptions;
  /** Largest request head, bytes (431 above). Default 16 KiB, as the README promises. */
  readonly maxHeaderSize?: number;
  /** Strict-Transport-Security value on HTTPS responses; undefined: none. */
  readonly hsts?: string;
  /** A started request head or body that stalls this long: 408 and close, ms. Default 60 s (nginx's client_header/body_timeout). */
  readonly clientTimeoutMs?: number;
  /** An idle keep-alive client connection is closed after this long, ms. Default 75 s (ingress-nginx). */
  readonly keepAliveTimeoutMs?: number;
  /** No response byte from the upstream for this long: 504 (or the client cut mid-body), ms. Default 60 s. */
  readonly upstreamTimeoutMs?: number;
  /** A request whose every known endpoint failed to connect waits this long for a newer endpoint set, ms. Default 1 s; 0: no wait. */
  readonly endpointWaitMs?: number;
  /** One JSON line per request (the README's fields); omitted: no access log, and no cost for it. */
  readonly accessLog?: Logger;
  readonly accessLogFields?: readonly AccessLogField[];
  readonly observer?: EngineObserver;
  /**
   * Open client connections one client address may hold; over it, a new connection gets 503
   * (PORTICO_ERR_PROXY_CLIENT_LIMIT) and is closed. Default DEFAULT_MAX_CONNECTIONS_PER_CLIENT (1024); 0: unlimited.
   */
  readonly maxConnectionsPerClient?: number;
  /** Largest request body, bytes, where the route sets none (proxy-body-size); 0 or absent: no limit. */
  readonly maxBodySize?: number;
  /** Request body buffered before an upstream connection is taken, bytes. Default REQUEST_BUFFER_BYTES (64 KiB). */
  readonly requestBufferSize?: number;
  /** HTTP/2 to clients: TLS connections whose ALPN chose h2, plain ones opening with the h2 preface (src/http2). Default true. */
  readonly http2?: boolean;
}

/** The request metrics, and connections refused before any request (e.g. over the per-client limit). */
export interface EngineObserver extends RequestObserver {
  connectionRejected?(reason: 'client-limit'): void;
}

export const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 1024;

export interface EngineListenOptions {
  readonly port: number;
  readonly host?: string;
  /** SO_REUSEPORT: several worker processes listen on one port and the kernel spreads connections (`--workers`). */
  readonly reusePort?: boolean;
  readonly proto?: 'http' | 'https';
}

/** Client headers replaced by the proxy's own (ingress-nginx default: never trust them). */
const REPLACED = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip', 'expect', 'x-request-id']);
const PASSABLE_REQUEST_ID = /^[\x21-\x7e]{1,200}$/;
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
// Field lines every request or response carries, encoded once (serialisation copies them as bytes).
const REQUEST_ID_NAME = Buffer.from('X-Request-ID: ', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const KEEP_ALIVE_LINE = Buffer.from('Connection: keep-alive\r\n', 'latin1');
const CLOSE_LINE = Buffer.from('Connection: close\r\n', 'latin1');
const SERVER_LINE = Buffer.from('Server: portico\r\n', 'latin1');
const SERVER_KEEP_ALIVE_LINES = Buffer.concat([SERVER_LINE, KEEP_ALIVE_LINE]);
/** The HTTP/2 connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const MAX_PENDING = 256 * 1024;
const TUNNEL_LINGER_MS = 1_000;
/**
 * Timeouts are checked by one sweep over the connections, every quarter of the shortest timeout in
 * use within these bounds, instead of a timer per socket that Node re-arms on every read and write
 * (four re-arms per proxied request). A timeout fires up to one period late: 60 s ones within a second.
 */
const SWEEP_MIN_MS = 5;
const SWEEP_MAX_MS = 1_000;
/**
 * Response body bytes (of one upstream chunk) copied after the response head into one buffer and
 * one write: cheaper than the writev of two for a small response; a larger part goes out corked
 * beside the head instead of being copied.
 */
const COALESCE_BODY_BYTES = 4096;
/** What a response may be, per request method (shared: the parser only reads them). */
const RESPONSE_TO_HEAD: ResponseContext = Object.freeze({ head: true, upgrade: false });
const RESPONSE_TO_OTHER: ResponseContext = Object.freeze({ head: false, upgrade: false });
/**
 * Request body bytes read before an upstream connection is taken (nginx's proxy_request_buffering,
 * in memory): a body up to this size is read whole first, so an upload that stalls holds no
 * upstream connection; a larger one connects once this much has arrived and then streams with
 * back-pressure (the client is not read while the connection is being made).
 */
export const REQUEST_BUFFER_BYTES = 64 * 1024;

interface Listener {
  readonly proto: 'http' | 'https';
  port: string;
}

export class EngineServer {
  #routes: RouteLookup<PipelineMatch> | undefined;
  readonly #options: EngineServerOptions;
  readonly pool: UpstreamPool;
  readonly #servers = new Set<Server | TlsServer>();
  readonly #clients = new Set<ClientConnection>();
  /** Open connections per client address (only while a limit is set). */
  readonly #perClient = new Map<string, number>();
  readonly #maxPerClient: number;
  /** Connections refused over the per-client limit. */
  rejectedConnections = 0;
  closing = false;

  accessLog: AccessLogWriter | undefined;
  readonly observer: EngineObserver | undefined;
  /** Created with the first HTTP/2 connection. */
  #h2: Http2Front | undefined;

  constructor(options: EngineServerOptions) {
    this.#options = options;
    this.#routes = options.routes;
    this.pool = new UpstreamPool(options.pool);
    this.accessLog = options.accessLog && createAccessLogWriter(options.accessLog, options.accessLogFields);
    this.#accessLogFields = options.accessLogFields;
    this.observer = options.observer;
    this.#maxPerClient = options.maxConnectionsPerClient ?? DEFAULT_MAX_CONNECTIONS_PER_CLIENT;
    this.timeouts = { client: options.clientTimeoutMs ?? 60_000, keepAlive: options.keepAliveTimeoutMs ?? 75_000, upstream: options.upstreamTimeoutMs ?? 60_000 };
  }

  get routes(): RouteLookup<PipelineMatch> | undefined {
    return this.#routes;
  }

  get backends(): BackendRegistry {
    return this.#options.backends;
  }

  get logger(): Logger {
    return this.#options.logger;
  }

  get maxHeaderSize(): number {
    return this.#options.maxHeaderSize ?? 16 * 1024;
  }

  /** The route table's (the ConfigMap's hsts* keys) when it has one, else --hsts*. */
  get hsts(): string | undefined {
    const fromTable = this.#routes?.hsts;
    if (fromTable === undefined) return this.#options.hsts;
    return fromTable === false ? undefined : fromTable;
  }

  get requestBufferSize(): number {
    return this.#options.requestBufferSize ?? REQUEST_BUFFER_BYTES;
  }

  get maxBodySize(): number {
    return this.#options.maxBodySize ?? 0;
  }

  /** HTTP/2 to clients is on (ALPN h2 offered, the h2c preface accepted). */
  get http2(): boolean {
    // The ConfigMap's use-http2 (in the route table) beats --http2.
    return this.#routes?.http2 ?? this.#options.http2 ?? true;
  }

  get endpointWaitMs(): number {
    return this.#options.endpointWaitMs ?? 1_000;
  }

  /** Computed once: the hot path reads them per request. */
  readonly timeouts: { readonly client: number; readonly keepAlive: number; readonly upstream: number };

  #sweep: NodeJS.Timeout | undefined;
  /** The shortest timeout the sweep's period is fit for (Infinity: no sweep yet). */
  #sweptTimeoutMs = Infinity;

  /** Makes the timeout sweep run often enough for a timeout of `timeoutMs` (a route's shorter upstream timeout). */
  watchTimeout(timeoutMs: number): void {
    if (timeoutMs >= this.#sweptTimeoutMs || this.closing) return;
    this.#sweptTimeoutMs = timeoutMs;
    clearInterval(this.#sweep);
    const periodMs = Math.max(SWEEP_MIN_MS, Math.min(SWEEP_MAX_MS, Math.floor(timeoutMs / 4)));
    // Unreferenced: the listeners keep the process alive, not the sweep.
    this.#sweep = setInterval(() => this.#sweepConnections(), periodMs).unref();
  }

  #sweepConnections(): void {
    const now = performance.now();
    for (const client of this.#clients) client.sweep(now);
  }

  /** Swaps the routing table: one reference; a request keeps the match it resolved. */
  setRoutes(routes: RouteLookup<PipelineMatch>): void {
    this.#routes = routes;
    // The ConfigMap's log-format-upstream: a new writer only when the field list changed.
    const fields = routes.accessLogFields ?? this.#options.accessLogFields;
    if (this.#options.accessLog !== undefined && fields !== this.#accessLogFields) {
      this.#accessLogFields = fields;
      this.accessLog = createAccessLogWriter(this.#options.accessLog, fields);
    }
  }

  #accessLogFields: readonly AccessLogField[] | undefined;

  async listen(options: EngineListenOptions): Promise<AddressInfo> {
    const listener: Listener = { proto: options.proto ?? 'http', port: String(options.port) };
    // allowHalfOpen: a client that sends its request and half-closes still gets the response.
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket, listener));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port, host: options.host, ...(options.reusePort && { reusePort: true }) }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    listener.port = String(address.port);
    this.#servers.add(server);
    return address;
  }

  /** Serves a connected client socket (plain, or a TLS socket after its handshake). */
  accept(socket: Socket, listener: Listener): void {
    if (this.#maxPerClient > 0) {
      const address = clientAddressOf(socket.remoteAddress);
      const open = this.#perClient.get(address) ?? 0;
      if (open >= this.#maxPerClient) return this.#refuse(socket);
      this.#perClient.set(address, open + 1);
      socket.once('close', () => {
        const left = (this.#perClient.get(address) ?? 1) - 1;
        if (left > 0) this.#perClient.set(address, left);
        else this.#perClient.delete(address);
      });
    }
    if ((socket as TLSSocket).alpnProtocol === 'h2') return this.#http2Front().serve(socket, listener);
    if (this.#sweep === undefined) {
      const { client: clientMs, keepAlive, upstream } = this.timeouts;
      this.watchTimeout(Math.min(clientMs, keepAlive, upstream));
    }
    const client = new ClientConnection(this, socket, listener);
    this.#clients.add(client);
    socket.once('close', () => this.#clients.delete(client));
  }

  #http2Front(): Http2Front {
    return (this.#h2 ??= new Http2Front(this));
  }

  /** A plain connection that opened with the HTTP/2 preface (prior knowledge): its bytes so far go back to the socket first. */
  handOffToHttp2(client: ClientConnection, socket: Socket, listener: Listener, received: Buffer): void {
    this.#clients.delete(client);
    // Paused first: unshifted bytes on a flowing socket would be emitted to no listener and lost.
    socket.pause();
    socket.unshift(received);
    this.#http2Front().serve(socket, listener);
  }

  /** Over the per-client limit: 503 and close, reading (and dropping) what the client still sends. */
  #refuse(socket: Socket): void {
    this.rejectedConnections++;
    this.observer?.connectionRejected?.('client-limit');
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('end', () => socket.destroy());
    socket.setTimeout(1_000, () => socket.destroy());
    socket.end(errorReply(503, 'PORTICO_ERR_PROXY_CLIENT_LIMIT').raw);
  }

  /** From now on every response carries `Connection: close` while the listeners keep accepting (the shutdown grace period). */
  endKeepAlive(): void {
    this.closing = true;
    this.#h2?.endKeepAlive();
  }

  /** Serves the TLS connections of `server` (its certificates chosen elsewhere, by SNI). */
  serveTls(server: TlsServer): void {
    const listener: Listener = { proto: 'https', port: '' };
    server.on('secureConnection', (socket: TLSSocket) => {
      if (listener.port === '') listener.port = String((server.address() as AddressInfo | null)?.port ?? '');
      this.accept(socket, listener);
    });
    this.#servers.add(server);
  }

  /**
   * Stops accepting, closes idle connections, lets in-flight requests finish (their responses carry
   * `Connection: close`), cuts what is left after drainTimeoutMs, then closes the upstream pool.
   */
  async close(drainTimeoutMs = 25_000): Promise<void> {
    this.closing = true;
    const closed = [...this.#servers].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const client of this.#clients) client.closeIfIdle();
    const timer = setTimeout(() => {
      for (const client of this.#clients) client.destroy();
    }, drainTimeoutMs);
    timer.unref();
    try {
      await Promise.all([...closed, this.#h2?.close(drainTimeoutMs)]);
    } finally {
      clearTimeout(timer);
    }
    clearInterval(this.#sweep);
    this.pool.close();
  }
}

type State = 'head' | 'body' | 'waiting' | 'closed';

/** One client connection: parse a request, forward it and its body, relay the response, repeat. */
class ClientConnection {
  readonly #engine: EngineServer;
  readonly #socket: Socket;
  readonly #listener: Listener;
  readonly #parser: RequestHeadParser;
  /** One response parser for the connection's exchanges (one at a time), not one per request. */
  readonly #responseParser = new ResponseHeadParser();
  readonly #clientAddress: string;
  /** See clientAddress; set per request in #start (one request at a time per connection). */
  #requestClient: string;
  #state: State = 'head';
  /** Bytes received while a request is in flight (the next pipelined requests). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #exchange: Exchange | undefined;
  /** Bytes of a request head are in (the head timeout applies, not the idle one). */
  #partialHead = false;
  /**
   * performance.now() by which the current head must be complete (0: none running). Counted from
   * the head's first byte (from the accept for a connection's first request), never pushed back by
   * more bytes: a client trickling a head cannot hold the connection (nginx's client_header_timeout).
   */
  #headDeadline = 0;
  /** performance.now() when the current request's head was complete. */
  #requestStart = 0;
  /** performance.now() of the last request body bytes (the body timeout runs from there). */
  #lastRead = 0;
  /** performance.now() since the connection waits for its next request (the keep-alive timeout runs from there). */
  #idleSince = 0;
  /** The client half-closed: no more requests will come. */
  #readEnded = false;
  /** `X-Real-IP`, `X-Forwarded-For` and the `X-Forwarded-Host` name; then `X-Forwarded-Port` and `-Proto` (see #forwardedFields). */
  #forwardedBefore: Buffer | undefined;
  #forwardedAfter: Buffer | undefined;
  /** limit-connections: the current request's count, released once when it is over. */
  #release: (() => void) | undefined;

  /** The current request is over (its log line written, or the connection gone). */
  releaseRequest(): void {
    const release = this.#release;
    if (release === undefined) return;
    this.#release = undefined;
    release();
  }

  /** The current request's client: the connection's address, or the real IP behind trusted proxies (the ConfigMap's use-forwarded-headers / enable-real-ip). */
  get clientAddress(): string {
    return this.#requestClient;
  }

  /** The access-log line (and metrics) for an answer of Portico's own. */
  #logOwn(head: RequestHead, status: number, bytes: number, match: RouteMatch | undefined): void {
    const engine = this.#engine;
    const seconds = (performance.now() - this.#requestStart) / 1000;
    if (this.#release !== undefined) this.releaseRequest();
    engine.observer?.observeRequest(match, status, seconds, undefined, head.method, head.length, bytes);
    if (engine.accessLog === undefined || match?.route?.policies?.accessLog === false) return;
    engine.accessLog(entryFor(head, this.#requestClient, { status, bytes, durationMs: roundMs(seconds * 1000), match, requestId: requestIdOf(head) }));
  }

  constructor(engine: EngineServer, socket: Socket, listener: Listener) {
    this.#engine = engine;
    this.#socket = socket;
    this.#listener = listener;
    const max = engine.maxHeaderSize;
    this.#parser = new RequestHeadParser({ maxHeadSize: max, maxLineSize: Math.min(8192, max) });
    this.#clientAddress = clientAddressOf(socket.remoteAddress);
    this.#requestClient = this.#clientAddress;
    const listeners = this.#listeners;
    socket.on('data', listeners.data);
    // A new connection gets the head timeout for its first request (nginx: from the accept); the
    // engine's sweep checks it (see sweep). 'timeout' only serves a tunnel, which sets its own.
    this.#headDeadline = performance.now() + engine.timeouts.client;
    socket.on('timeout', listeners.timeout);
    socket.on('error', listeners.error);
    socket.on('close', listeners.close);
    socket.on('end', listeners.end);
  }

  /** The socket's listeners (removed when the connection turns out to speak HTTP/2). */
  readonly #listeners = {
    data: (chunk: Buffer) => this.#onData(chunk),
    timeout: () => this.#onTimeout(),
    error: () => this.#abort(),
    close: () => {
      this.#abort();
      this.releaseRequest();
    },
    end: () => this.#onEnd(),
  };
  /** The connection's first bytes are not decided yet (the HTTP/2 preface is looked for in them). */
  #fresh = true;
  /** The first bytes while they are a proper prefix of the HTTP/2 preface (it came split over segments). */
  #prefacePart: Buffer | undefined;

  /**
   * The client's FIN. Mid-upload it is an abort (the body can never complete): 499, and the
   * upstream request is cut. After a complete request the response still goes out (a client may
   * half-close after sending, and nginx answers it too), then the connection ends.
   */
  #onEnd(): void {
    const socket = this.#socket;
    this.#readEnded = true;
    if (this.#state === 'body') {
      this.#abort();
      socket.destroy();
      return;
    }
    if (this.#state === 'head' && this.#pendingBytes === 0) socket.end();
  }

  /** Socket inactivity: an idle keep-alive connection closes; a stalled head or body gets 408. */
  #onTimeout(): void {
    if (this.#state === 'waiting') return; // the upstream's timeout decides
    if (this.#state === 'body' || (this.#state === 'head' && this.#partialHead)) {
      this.#exchange?.clientGone();
      this.#exchange = undefined;
      this.#replyAndClose(408, 'PORTICO_ERR_PROXY_BAD_REQUEST');
      return;
    }
    this.#state = 'closed';
    this.#socket.destroy();
  }

  /** The engine's timeout sweep: the deadline of what the connection waits for has passed. */
  sweep(now: number): void {
    const state = this.#state;
    if (state === 'closed') return;
    // The upstream's timeout (an exchange in flight), then the client's own.
    this.#exchange?.sweep(now);
    if (state === 'waiting' || (this.#state as State) === 'closed') return;
    const timeouts = this.#engine.timeouts;
    const deadline = state === 'body'
      ? this.#lastRead + timeouts.client
      : this.#partialHead || this.#headDeadline !== 0 ? this.#headDeadline : this.#idleSince + timeouts.keepAlive;
    if (now >= deadline) this.#onTimeout();
  }

  closeIfIdle(): void {
    if (this.#state === 'head' && this.#pendingBytes === 0 && !this.#partialHead) this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** The connection speaks HTTP/2: it leaves this class, its listeners and timers with it. */
  #toHttp2(chunk: Buffer): void {
    const socket = this.#socket;
    this.#state = 'closed';
    for (const event of ['data', 'timeout', 'error', 'close', 'end'] as const) socket.removeListener(event, this.#listeners[event]);
    socket.setTimeout(0);
    this.#engine.handOffToHttp2(this, socket, this.#listener, chunk);
  }

  #abort(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#exchange?.clientGone();
    this.#exchange = undefined;
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    if (this.#fresh) {
      // HTTP/2 with prior knowledge (h2c: gRPC and HTTP/2 clients without TLS) opens with the preface.
      if (this.#engine.http2) {
        const part = this.#prefacePart;
        if (part !== undefined) {
          this.#prefacePart = undefined;
          chunk = Buffer.concat([part, chunk]);
        }
        const n = Math.min(chunk.length, H2_PREFACE.length);
        if (chunk.compare(H2_PREFACE, 0, n, 0, n) === 0) {
          if (n === H2_PREFACE.length) {
            this.#fresh = false;
            return this.#toHttp2(chunk);
          }
          // Fewer than 24 bytes, all the preface's so far: wait for the rest (within the head timeout).
          this.#prefacePart = chunk;
          this.#awaitHead();
          return;
        }
      }
      this.#fresh = false;
    }
    if (this.#state === 'body') {
      const now = (this.#lastRead = performance.now());
      const rest = this.#exchange!.requestBody(chunk, 0, now);
      if (rest < chunk.length && rest >= 0) this.#queue(chunk.subarray(rest));
      return;
    }
    if (this.#state === 'waiting') {
      this.#queue(chunk);
      return;
    }
    this.#parse(chunk, 0);
  }

  /** The bytes queued while a request was in flight, as one buffer (undefined: none); reading resumes. */
  #takePending(): Buffer | undefined {
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#socket.isPaused()) this.#socket.resume();
    return pending.length === 0 ? undefined : pending.length === 1 ? pending[0] : Buffer.concat(pending);
  }

  #queue(bytes: Buffer): void {
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    // Back-pressure: a client pipelining faster than we answer waits.
    if (this.#pendingBytes > MAX_PENDING) this.#socket.pause();
  }

  /**
   * Parses request heads from chunk[at…]: answers Portico's own replies in a loop (never by
   * recursion: a burst of thousands of pipelined 404s must not grow the stack) and stops at the
   * first request that goes upstream.
   */
  #parse(chunk: Buffer, at: number): void {
    const parser = this.#parser;
    while (this.#state === 'head' && at < chunk.length) {
      const result = parser.feed(chunk, at);
      if (result === NEED_MORE) return this.#awaitHead();
      this.#headDeadline = 0;
      if (this.#partialHead) this.#partialHead = false;
      if (result === ERROR) {
        const status = parser.error!.status;
        this.#replyAndClose(status === 413 || status === 414 || status === 431 || status === 417 || status === 501 || status === 505 ? status : 400, status === 431 ? 'PORTICO_ERR_PROXY_HEADERS_TOO_LARGE' : 'PORTICO_ERR_PROXY_BAD_REQUEST');
        return;
      }
      const head = parser.head!;
      parser.reset();
      // Answered here, the connection is idle from now on; forwarded, from the response's end (exchangeDone).
      this.#requestStart = this.#idleSince = performance.now();
      // -1: the request went upstream (or the connection closed); else where the next one starts.
      at = this.#start(head, chunk, result);
      if (at < 0) return;
    }
  }

  /** Part of a head is in: the rest must come before the head deadline (else 408). */
  #awaitHead(): void {
    const now = performance.now();
    if (!this.#partialHead) {
      this.#partialHead = true;
      if (this.#headDeadline === 0) this.#headDeadline = now + this.#engine.timeouts.client;
    }
    // More bytes never push the deadline back (the sweep checks it; a late byte finds it passed).
    if (now >= this.#headDeadline) this.#onTimeout();
  }

  #replyAndClose(status: number, code: ErrorCode): void {
    this.#state = 'closed';
    this.#socket.end(errorReply(status, code).raw);
  }

  /** Portico's own answer; the connection stays open when the request had no body to skip. */
  #reply(head: RequestHead, status: number, code: ErrorCode, bodyAt: number, match?: RouteMatch, fields?: ReadonlyArray<readonly [string, string]>): number {
    const reply = errorReply(status, code);
    this.#logOwn(head, status, head.method === 'HEAD' ? 0 : reply.body.length, match);
    const keep = head.keepAlive && head.framing === 'none' && !this.#engine.closing;
    let hsts = this.#listener.proto === 'https' && this.#engine.hsts !== undefined ? `strict-transport-security: ${this.#engine.hsts}\r\n` : '';
    if (fields !== undefined) for (const [name, value] of fields) hsts += `${name}: ${value}\r\n`;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nserver: portico\r\ncontent-type: application/json\r\ncontent-length: ${reply.body.length}\r\ncache-control: no-store\r\n${hsts}`;
    text += keep ? 'connection: keep-alive\r\n\r\n' : 'connection: close\r\n\r\n';
    this.#socket.write(Buffer.from(text, 'latin1'));
    if (!keep) {
      this.#state = 'closed';
      if (head.method === 'HEAD') this.#socket.end();
      else this.#socket.end(reply.body);
      return -1;
    }
    if (head.method !== 'HEAD') this.#socket.write(reply.body);
    return bodyAt;
  }

  /** An empty-bodied answer of Portico's own: a redirect (ssl-redirect's 308 keeps method and body, as ingress-nginx) or a CORS preflight's 204. */
  #answerEmpty(head: RequestHead, answer: Exclude<StepAnswer, { kind: 'error' }>, bodyAt: number, match: RouteMatch): number {
    this.#logOwn(head, answer.status, 0, match);
    const keep = head.keepAlive && head.framing === 'none' && !this.#engine.closing;
    this.#socket.write(Buffer.from(`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Redirect'}\r\nserver: portico\r\n${answerFieldLines(answer)}content-length: 0\r\n${keep ? '' : 'connection: close\r\n'}\r\n`, 'latin1'));
    if (!keep) {
      this.#state = 'closed';
      this.#socket.end();
      return -1;
    }
    return bodyAt;
  }

  /** A step's answer: Portico replies, nothing goes upstream. */
  #answer(head: RequestHead, answer: StepAnswer, bodyAt: number, match: RouteMatch): number {
    return answer.kind === 'error' ? this.#reply(head, answer.status, answer.code, bodyAt, match, answer.headers) : this.#answerEmpty(head, answer, bodyAt, match);
  }

  /** Routes one request and runs its route's steps; returns where the next request starts in chunk, or -1. */
  #start(head: RequestHead, chunk: Buffer, bodyAt: number): number {
    const engine = this.#engine;
    const realIp = engine.routes?.realIp;
    this.#requestClient = realIp === undefined ? this.#clientAddress : realIp.clientOf(this.#clientAddress, joinedField(head, realIp.header));
    if (head.form === 'asterisk' || head.form === 'authority') {
      this.#replyAndClose(400, 'PORTICO_ERR_PROXY_BAD_REQUEST');
      return -1;
    }
    const match = engine.routes?.lookup(head.hostField === -1 && head.form !== 'absolute' ? undefined : head.host, head.path);
    if (match === undefined) return this.#reply(head, 404, 'PORTICO_ERR_PROXY_NO_ROUTE', bodyAt);
    // nginx checks client_max_body_size as soon as the location is known, before any step.
    if (head.framing === 'length' && head.contentLength > 0) {
      const limit = match.route?.policies?.maxBodySize ?? engine.maxBodySize;
      if (limit > 0 && head.contentLength > limit) return this.#reply(head, 413, 'PORTICO_ERR_PROXY_BODY_TOO_LARGE', bodyAt, match);
    }
    const pipeline = match.pipeline;
    if (pipeline === undefined) return this.#forward(head, chunk, bodyAt, match, undefined);
    const edits = newUpstreamEdits();
    const proto = realIp === undefined ? this.#listener.proto : realIp.schemeOf(this.#clientAddress, joinedField(head, 'x-forwarded-proto'), this.#listener.proto);
    const result = pipeline.request(new EngineStepRequest(head, this.#requestClient, proto), edits);
    if (edits.release !== undefined) this.#release = edits.release;
    if (result === undefined) return this.#forward(head, chunk, bodyAt, match, edits);
    if (!(result instanceof Promise)) return this.#answer(head, result, bodyAt, match);
    // An asynchronous step (external auth): what arrives meanwhile is queued; the request goes on
    // (or is answered) when it settles, with the rest of this chunk and the queue as its bytes.
    this.#state = 'waiting';
    if (bodyAt < chunk.length) this.#queue(chunk.subarray(bodyAt));
    void settleSteps(result, engine.logger, match).then((answer) => this.#afterSteps(head, match, edits, answer));
    return -1;
  }

  #afterSteps(head: RequestHead, match: PipelineMatch, edits: UpstreamEdits, answer: StepAnswer | undefined): void {
    // A limit-connections count taken after the asynchronous step (the step order allows it).
    if (edits.release !== undefined && this.#release === undefined) this.#release = edits.release;
    if (this.#state === 'closed') return this.releaseRequest();
    const bytes = this.#takePending() ?? Buffer.alloc(0);
    this.#state = 'head';
    const next = answer === undefined ? this.#forward(head, bytes, 0, match, edits) : this.#answer(head, answer, 0, match);
    if (next >= 0) this.#continueAfter(bytes, next);
  }

  /** Parses what follows an answered request in `bytes`, then ends a half-closed connection. */
  #continueAfter(bytes: Buffer, at: number): void {
    if (at < bytes.length) this.#parse(bytes, at);
    if (this.#readEnded && this.#state === 'head') {
      this.#state = 'closed';
      this.#socket.end();
    }
  }

  /** Picks an endpoint and sends the request (or opens the tunnel); returns where the next request starts, or -1. */
  #forward(head: RequestHead, chunk: Buffer, bodyAt: number, match: PipelineMatch, edits: UpstreamEdits | undefined): number {
    const engine = this.#engine;
    // A canary's backend: logs and metrics name it too.
    if (edits?.backend !== undefined) match = { ...match, backend: edits.backend };
    // gRPC needs HTTP/2 on both sides (trailers): an HTTP/1.1 client is told so.
    if (match.route?.policies?.grpc === true) return this.#reply(head, 502, 'PORTICO_ERR_PROXY_GRPC_CLIENT_PROTOCOL', bodyAt, match);
    let backend = engine.backends.get(match.backend.key);
    // default-backend: serves the route while its Service has no endpoints.
    const fallback = match.route?.policies?.defaultBackend;
    if (fallback !== undefined && !(backend !== undefined && backend.current.endpoints.length > 0)) {
      const other = engine.backends.get(fallback.key);
      if (other !== undefined && other.current.endpoints.length > 0) [match, backend] = [{ ...match, backend: fallback }, other];
    }
    if (backend === undefined) return this.#reply(head, 503, 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', bodyAt, match);
    const problem = backend.current.problem;
    if (problem !== undefined) return this.#reply(head, 503, problem.code, bodyAt, match);
    const endpoint = pickEndpoint(backend, edits);
    if (endpoint === undefined) return this.#reply(head, 503, 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', bodyAt, match);
    const requestId = requestIdOf(head);
    // An HTTP/1.0 request may come without Host; the upstream request is HTTP/1.1 and needs one.
    const host = head.hostField === -1 && head.form !== 'absolute' && edits?.host === undefined ? `Host: ${endpoint.key}\r\n` : '';
    const extra = this.#upstreamFields(head, host, requestId);
    let upstreamHead: Buffer;
    if (edits === undefined) upstreamHead = serializeRequestHead(head, { extra, drop: REPLACED });
    else {
      for (const [name, value] of edits.headers) extra.push(`${name}: ${value}\r\n`);
      upstreamHead = serializeRequestHead(head, {
        extra,
        drop: edits.dropHeaders.length === 0 ? REPLACED : new Set([...REPLACED, ...edits.dropHeaders]),
        ...(edits.target !== undefined && { target: edits.target }),
        ...(edits.host !== undefined && { host: edits.host }),
      });
    }
    // An HTTP/1.0 client cannot take a chunked response or a 1xx: ask the upstream in HTTP/1.0 too.
    if (head.versionMinor === 0) upstreamHead = asHttp10(upstreamHead);
    if (head.upgrade) {
      this.#tunnel(head, match, requestId, upstreamHead, endpoint, chunk.subarray(bodyAt));
      return -1;
    }
    if (head.expectContinue && head.framing !== 'none' && head.versionMinor === 1) this.#socket.write(CONTINUE);
    const exchange = new Exchange({
      engine,
      client: this,
      clientSocket: this.#socket,
      head,
      upstreamHead,
      responseParser: this.#responseParser,
      endpoint,
      backendKey: match.backend.key,
      hsts: this.#listener.proto === 'https' ? engine.hsts : undefined,
      match,
      requestId,
      start: this.#requestStart,
      // Every field present (undefined when off): one object of one shape per request, no spreads.
      responseFields: edits !== undefined && edits.responseHeaders.length > 0 ? edits.responseHeaders : undefined,
      chooser: edits?.chooser?.observe !== undefined ? edits.chooser : undefined,
      // mirror-target: the copy starts with the real request; its body follows as the real one passes.
      mirror: edits?.mirror !== undefined ? startMirror(edits.mirror, mirrorSourceOf(head), { clientAddress: this.#requestClient, requestId, timeoutMs: engine.timeouts.upstream, logger: engine.logger }) : undefined,
      policies: match.route?.policies,
    });
    this.#exchange = exchange;
    if (head.framing === 'none') {
      this.#state = 'waiting';
      if (bodyAt < chunk.length) this.#queue(chunk.subarray(bodyAt));
    } else {
      this.#state = 'body';
      this.#lastRead = this.#requestStart;
      const rest = exchange.requestBody(chunk, bodyAt, this.#requestStart);
      // A body whose framing is broken was already answered with 400: nothing goes upstream.
      if ((this.#state as State) === 'closed') return -1;
      if (rest >= 0 && rest < chunk.length) this.#queue(chunk.subarray(rest));
      // The exchange takes an upstream connection itself, once the body is in (or over the buffer).
      return -1;
    }
    exchange.send();
    return -1;
  }

  /**
   * The fields the upstream request gets added, in order: `host` (a Host line, or ''), X-Request-ID,
   * X-Real-IP, X-Forwarded-For, -Host, -Port and -Proto, then `Connection: keep-alive` unless upgrading.
   * The common request's parts come as one array literal of its final size (no growth per push).
   */
  #upstreamFields(head: RequestHead, host: string, requestId: string): HeadPart[] {
    const realIp = this.#engine.routes?.realIp;
    if (realIp === undefined) {
      // The same for every request of the connection but the Host: encoded once.
      const before = (this.#forwardedBefore ??= Buffer.from(`X-Real-IP: ${this.#clientAddress}\r\nX-Forwarded-For: ${this.#clientAddress}\r\nX-Forwarded-Host: `, 'latin1'));
      const after = (this.#forwardedAfter ??= Buffer.from(`\r\nX-Forwarded-Port: ${this.#listener.port}\r\nX-Forwarded-Proto: ${this.#listener.proto}\r\n`, 'latin1'));
      if (host === '' && !head.upgrade) return [REQUEST_ID_NAME, requestId, CRLF, before, head.host, after, KEEP_ALIVE_LINE];
      const parts: HeadPart[] = [host, REQUEST_ID_NAME, requestId, CRLF, before, head.host, after];
      if (!head.upgrade) parts.push(KEEP_ALIVE_LINE);
      return parts;
    }
    const f = realIp.forwarded(this.#clientAddress, this.#requestClient, (name) => joinedField(head, name), { host: head.host, port: this.#listener.port, proto: this.#listener.proto });
    const forwarded = `X-Real-IP: ${f.client}\r\nX-Forwarded-For: ${f.forwardedFor}\r\nX-Forwarded-Host: ${f.host}\r\nX-Forwarded-Port: ${f.port}\r\nX-Forwarded-Proto: ${f.proto}\r\n`;
    return head.upgrade ? [host, REQUEST_ID_NAME, requestId, CRLF, forwarded] : [host, REQUEST_ID_NAME, requestId, CRLF, forwarded, KEEP_ALIVE_LINE];
  }

  /**
   * Upgrade (WebSocket, h2c…), after the same routing, redirect and endpoint choice as any request:
   * a new upstream connection, the request head, then raw bytes both ways. The upstream's answer
   * (101, or a refusal) reaches the client untouched. When one side hangs up, the other gets
   * TUNNEL_LINGER_MS to finish before both are cut.
   */
  #tunnel(head: RequestHead, match: RouteMatch, requestId: string, upstreamHead: Buffer, first: Endpoint, early: Buffer): void {
    this.#state = 'closed';
    const backendKey = match.backend.key;
    const client = this.#socket;
    // One access-log line when the tunnel (or its refusal) is over: the upstream's status, the
    // bytes it sent the client, the whole tunnel's duration.
    let status = 502;
    let sent = 0;
    let upstreamAddress: string | undefined;
    let upstreamMs: number | undefined;
    let logged = false;
    const log = (): void => {
      if (logged) return;
      logged = true;
      this.releaseRequest();
      const seconds = (performance.now() - this.#requestStart) / 1000;
      const engine = this.#engine;
      engine.observer?.observeRequest(match, status, seconds, upstreamMs !== undefined ? upstreamMs / 1000 : undefined, head.method, head.length, sent);
      if (engine.accessLog === undefined || match.route?.policies?.accessLog === false) return;
      engine.accessLog(
        entryFor(head, this.#requestClient, {
          status,
          bytes: sent,
          durationMs: roundMs(seconds * 1000),
          match,
          requestId,
          upstream: upstreamAddress,
          upstreamMs: upstreamMs !== undefined ? roundMs(upstreamMs) : undefined,
          upstreamStatus: upstreamAddress !== undefined && status !== 502 ? status : undefined,
        }),
      );
    };
    client.once('close', log);
    // An idle tunnel closes after the upstream timeout (nginx: proxy_read_timeout); the sweep skips it.
    client.setTimeout(this.#engine.timeouts.upstream);
    client.removeAllListeners('data');
    client.removeAllListeners('end');
    client.pause();
    const tried = new Set<string>();
    const open = (endpoint: Endpoint): void => {
      tried.add(endpoint.key);
      const upstreamTls = upstreamTlsFor(match.route?.policies?.upstreamTls, backendKey);
      // proxy-ssl-* that cannot be honoured: never sent without them.
      const refusal = upstreamTls === undefined ? undefined : upstreamTlsRefusal(upstreamTls);
      if (refusal !== undefined) {
        this.#engine.logger.debug({ err: refusal, upstream: backendKey }, 'upstream TLS refused');
        if (!client.destroyed) client.end(errorReply(502, 'PORTICO_ERR_PROXY_UPSTREAM_TLS').raw);
        return;
      }
      const upstream: Socket = upstreamTls === undefined
        ? connect({ host: endpoint.address, port: endpoint.port, noDelay: true })
        : tlsConnect({ host: endpoint.address, port: endpoint.port, ...upstreamTlsOptions(upstreamTls, ['http/1.1']) }).setNoDelay(true);
      const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), 5_000);
      let secured = false;
      if (upstreamTls !== undefined) upstream.once('secureConnect', () => (secured = true));
      upstream.once('error', (error) => {
        clearTimeout(timer);
        const handshake = upstreamTls !== undefined && !secured && upstream.remoteAddress !== undefined;
        if (upstream.readyState === 'opening' || !upstream.remoteAddress || handshake) {
          const next = this.#engine.backends.get(backendKey)?.balancer.pick(tried);
          if (next !== undefined && !client.destroyed) return open(next);
          if (!client.destroyed) client.end(errorReply(502, handshake || isUpstreamTlsFailure(error) ? 'PORTICO_ERR_PROXY_UPSTREAM_TLS' : 'PORTICO_ERR_PROXY_UPSTREAM').raw);
          return;
        }
        client.destroy();
      });
      upstream.once(upstreamTls === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        upstreamAddress = endpoint.key;
        const connected = performance.now();
        upstream.write(upstreamHead);
        // The client's bytes after the head go upstream only once the upstream said 101: had it
        // refused, they would reach it as a second request past routing and the X-Forwarded-*
        // rewrite (request smuggling through a refused upgrade, h2c-style).
        const held: Buffer[] = early.length > 0 ? [early, ...this.#pending] : [...this.#pending];
        this.#pending = [];
        client.on('data', (c: Buffer) => held.push(c));
        client.resume();
        const parser = new ResponseHeadParser();
        parser.expect({ head: false, upgrade: true });
        const received: Buffer[] = [];
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
        const onHead = (c: Buffer): void => {
          received.push(c);
          const bytes = received.length === 1 ? c : Buffer.concat(received);
          const result = parser.feed(bytes, 0);
          if (result === NEED_MORE) {
            received.length = 0;
            received.push(bytes);
            return;
          }
          upstream.removeListener('data', onHead);
          client.removeAllListeners('data');
          upstreamMs = performance.now() - connected;
          if (result !== ERROR) status = parser.head!.status;
          sent += bytes.length;
          if (result === ERROR || !parser.head!.upgrade) {
            // A refusal (or garbage): relay what came, then close both; nothing of the client's follows.
            client.end(bytes);
            upstream.destroy();
            return;
          }
          client.write(bytes);
          for (const part of held) upstream.write(part);
          upstream.on('data', (part: Buffer) => (sent += part.length));
          upstream.pipe(client);
          client.pipe(upstream);
          const linger = () => setTimeout(() => (client.destroy(), upstream.destroy()), TUNNEL_LINGER_MS).unref();
          upstream.once('end', linger);
          client.once('end', linger);
        };
        upstream.on('data', onHead);
      });
    };
    open(first);
  }

  /** The request body is complete: what follows is the next request. */
  requestBodyDone(): void {
    if (this.#state === 'body') this.#state = 'waiting';
  }

  /** Bad request body framing: answer 400 unless the response has started, then close. */
  requestBodyFailed(responseStarted: boolean, status = 400, code: ErrorCode = 'PORTICO_ERR_PROXY_BAD_REQUEST'): void {
    if (responseStarted) {
      this.#state = 'closed';
      this.#socket.destroy();
    } else this.#replyAndClose(status, code);
  }

  /** The response is complete; keepAlive: go on with the next request. */
  exchangeDone(keepAlive: boolean, now = performance.now()): void {
    this.#exchange = undefined;
    if (this.#state === 'closed') return;
    if (!keepAlive || this.#engine.closing) {
      this.#state = 'closed';
      this.#socket.end();
      return;
    }
    this.#state = 'head';
    this.#idleSince = now;
    // The queued bytes parse as if they arrived now (one buffer: heads may span chunks).
    const pending = this.#takePending();
    if (pending !== undefined) this.#parse(pending, 0);
    if (this.#readEnded && this.#state === 'head') {
      this.#state = 'closed';
      this.#socket.end();
    }
  }

  /** Failed before any response byte: Portico answers, then closes (the request may be half-read). */
  exchangeFailed(status: number, code: ErrorCode): void {
    this.#exchange = undefined;
    if (this.#state === 'closed') return;
    this.#replyAndClose(status, code);
  }

}

interface ExchangeOptions {
  readonly engine: EngineServer;
  readonly client: ClientConnection;
  readonly clientSocket: Socket;
  readonly head: RequestHead;
  readonly upstreamHead: Buffer;
  /** The client connection's parser: an exchange uses it only until it is finished. */
  readonly responseParser: ResponseHeadParser;
  readonly endpoint: Endpoint;
  readonly backendKey: string;
  readonly hsts: string | undefined;
  readonly match: RouteMatch;
  readonly requestId: string;
  /** performance.now() when the request head was complete. */
  readonly start: number;
  /** Route steps' fields for the client's response (CORS), replacing the upstream's of the same names. */
  readonly responseFields?: ReadonlyArray<readonly [string, string]>;
  /** The route's policies (body size, timeouts, upstream TLS, retries); undefined on a route without any. */
  readonly policies: RoutePolicies | undefined;
  /** load-balance: ewma: told how each attempt went (the latency feed). */
  readonly chooser?: EndpointChooser;
  /** mirror-target: the copy, given the body bytes as they pass. */
  readonly mirror?: MirrorCopy;
}

/** One request forwarded to one upstream connection and its response relayed back. */
class Exchange implements UpstreamHolder {
  readonly #o: ExchangeOptions;
  #endpoint: Endpoint;
  #upstream: Socket | undefined;
  #reused = false;
  /** Request body bytes that arrived before the upstream connection was there. */
  #early: Buffer[] | undefined;
  #earlyBytes = 0;
  #bodyTracker: ChunkedTracker | LengthTracker | undefined;
  #bodyDone: boolean;
  #bodySent = false;
  readonly #responseParser: ResponseHeadParser;
  #response: ResponseHead | undefined;
  #responseBody: ChunkedTracker | LengthTracker | undefined;
  #responseStarted = false;
  /** Endpoints tried: the first one as a key, a set only once there is a second (retries are rare). */
  #firstTried: string | undefined;
  #tried: Set<string> | undefined;
  #finished = false;
  #retriedStale = false;
  #waited = false;
  #upstreamPaused = false;
  #clientPaused = false;
  /** Response body bytes relayed; request bytes received (head + body). */
  #bytes = 0;
  #requestBytes: number;
  #upstreamStart = 0;
  #upstreamMs: number | undefined;
  /** performance.now() of the last byte read from or written to the upstream connection (its timeout runs from there). */
  #upstreamActive = 0;
  /** The upstream timeout of this exchange (the route's, else the engine's), set once attached. */
  #upstreamTimeoutMs = 0;

  /** The engine's timeout sweep: nothing moved on the upstream connection for the upstream timeout. */
  sweep(now: number): void {
    if (this.#upstream !== undefined && !this.#finished && now - this.#upstreamActive >= this.#upstreamTimeoutMs) this.upstreamTimeout();
  }

  constructor(options: ExchangeOptions) {
    this.#o = options;
    this.#endpoint = options.endpoint;
    const { head } = options;
    this.#bodyDone = head.framing === 'none';
    if (head.framing === 'length') this.#bodyTracker = new LengthTracker(head.contentLength);
    else if (head.framing === 'chunked') this.#bodyTracker = new ChunkedTracker();
    this.#responseParser = options.responseParser;
    this.#responseParser.expect(head.method === 'HEAD' ? RESPONSE_TO_HEAD : RESPONSE_TO_OTHER);
    this.#requestBytes = head.length;
  }

  /** The request's one access-log line and metrics sample; status 499 (aborted) when the client left first. */
  /** Returns the performance.now() it logged at. */
  #log(status: number, own: boolean, aborted: boolean): number {
    const { engine, head, match } = this.#o;
    this.#o.client.releaseRequest();
    const now = performance.now();
    const seconds = (now - this.#o.start) / 1000;
    engine.observer?.observeRequest(match, status, seconds, this.#upstreamMs !== undefined ? this.#upstreamMs / 1000 : undefined, head.method, this.#requestBytes, this.#headBytes + this.#bytes);
    if (engine.accessLog === undefined || match.route?.policies?.accessLog === false) return now;
    engine.accessLog(
      entryFor(head, this.#o.client.clientAddress, {
        status,
        bytes: this.#bytes,
        requestBytes: this.#requestBytes,
        durationMs: roundMs(seconds * 1000),
        match,
        requestId: this.#o.requestId,
        upstream: this.#endpoint.key,
        upstreamMs: this.#upstreamMs !== undefined ? roundMs(this.#upstreamMs) : undefined,
        upstreamStatus: !own && this.#response ? this.#response.status : undefined,
        aborted,
      }),
    );
    return now;
  }

  /** Feeds request body bytes from chunk[at…], received at `now` (performance.now()); returns where the body ended (-1: all consumed or failed). */
  requestBody(chunk: Buffer, at: number, now: number): number {
    const tracker = this.#bodyTracker!;
    const end = tracker.feed(chunk, at);
    if (end === ERROR) {
      this.#fail();
      this.#o.client.requestBodyFailed(this.#responseStarted);
      return -1;
    }
    const until = end === NEED_MORE ? chunk.length : end;
    if (until > at) {
      this.#bodySent = true;
      this.#requestBytes += until - at;
      // A Content-Length was checked before anything was read; a chunked body is counted here.
      const limit = this.#o.head.framing === 'chunked' ? (this.#o.policies?.maxBodySize ?? this.#o.engine.maxBodySize) : 0;
      if (limit > 0 && this.#requestBytes - this.#o.head.length > limit) {
        // Past proxy-body-size: the upstream never gets a complete request; the client gets 413.
        this.#fail();
        this.#o.client.requestBodyFailed(this.#responseStarted, 413, 'PORTICO_ERR_PROXY_BODY_TOO_LARGE');
        return -1;
      }
      const part = chunk.subarray(at, until);
      this.#o.mirror?.write(part);
      const upstream = this.#upstream;
      if (upstream) {
        this.#upstreamActive = now;
        // Back-pressure towards the client: a fast upload to a slow upstream waits.
        if (!upstream.write(part)) this.#pauseClient(upstream);
      } else {
        (this.#early ??= []).push(part);
        this.#earlyBytes += part.length;
        if (this.#earlyBytes >= this.#o.engine.requestBufferSize && end === NEED_MORE) {
          // Over the buffer: connect now and stream the rest; until connected, stop reading the client.
          if (!this.#sending) this.send();
          if (!this.#upstream) this.#pauseClient(undefined);
        }
      }
    }
    if (end !== NEED_MORE) {
      this.#bodyDone = true;
      this.#o.client.requestBodyDone();
      // The whole body is here: only now is an upstream connection taken.
      if (!this.#sending) this.send();
      return end;
    }
    return -1;
  }

  /** Stops reading the client until `upstream` drains (or, with none yet, until it is attached). */
  #pauseClient(upstream: Socket | undefined): void {
    if (this.#clientPaused) return;
    this.#clientPaused = true;
    const client = this.#o.clientSocket;
    client.pause();
    const resume = () => {
      this.#clientPaused = false;
      client.resume();
    };
    if (upstream) upstream.once('drain', resume);
    else this.#onAttach = resume;
  }

  #onAttach: (() => void) | undefined;

  /** An upstream connection was asked for (the body, if any, is complete or over the buffer). */
  #sending = false;

  send(): void {
    this.#sending = true;
    const key = this.#endpoint.key;
    if (this.#tried !== undefined) this.#tried.add(key);
    else if (this.#firstTried === undefined || this.#firstTried === key) this.#firstTried = key;
    else this.#tried = new Set([this.#firstTried, key]);
    const connectMs = this.#o.policies?.timeouts?.connectMs;
    // proxy-ssl-verify without proxy-ssl-name: the backend's Service name (a canary's is its own).
    const upstreamTls = (this.#tls ??= upstreamTlsFor(this.#o.policies?.upstreamTls, this.#o.backendKey));
    const lease = connectMs === undefined && upstreamTls === undefined ? this.#o.engine.pool.acquire(this.#endpoint) : this.#o.engine.pool.acquire(this.#endpoint, connectMs, upstreamTls);
    if (lease instanceof Promise) lease.then((l) => this.#attach(l.socket, l.reused), (error: Error) => this.#connectFailed(error));
    else this.#attach(lease.socket, lease.reused);
  }

  #triedSet(): Set<string> {
    return (this.#tried ??= new Set(this.#firstTried === undefined ? [] : [this.#firstTried]));
  }

  /** Failed connects so far (proxy-next-upstream-tries). */
  #attempts = 0;

  /** The route's upstreamTls for this exchange's backend (upstreamTlsFor), once sent. */
  #tls: UpstreamTls | undefined;

  #connectFailed(error: Error): void {
    if (this.#finished) return;
    // Settings that cannot be honoured fail on every endpoint alike.
    if (this.#tls !== undefined && upstreamTlsRefusal(this.#tls) !== undefined) {
      this.#giveUp(error);
      return;
    }
    this.#attempts++;
    this.#o.chooser?.observe?.(this.#endpoint.key, performance.now() - (this.#upstreamStart || this.#o.start), false);
    const limits = this.#o.policies?.nextUpstream;
    if (limits !== undefined && (limits.off || (limits.tries !== undefined && this.#attempts >= limits.tries) || (limits.timeoutMs !== undefined && performance.now() - this.#o.start >= limits.timeoutMs))) {
      this.#giveUp(error);
      return;
    }
    // Nothing reached the backend: another endpoint can always take it.
    const backend = this.#o.engine.backends.get(this.#o.backendKey);
    const next = backend?.balancer.pick(this.#triedSet());
    const code = (error as NodeJS.ErrnoException).code;
    if (next !== undefined) {
      this.#o.engine.logger.debug({ upstream: this.#endpoint.key, retry: next.key, err: code || error.message }, 'upstream connect failed; retrying on another endpoint');
      this.#endpoint = next;
      this.send();
      return;
    }
    // Every known endpoint failed: the source may lag behind pods that just stopped. Wait (once, up
    // to endpointWaitMs) for a newer endpoint set and go on with an endpoint not tried yet.
    const waitMs = this.#o.engine.endpointWaitMs;
    // A TLS failure (verification, handshake) is the pods' certificates, not pods that just stopped.
    if (!this.#waited && waitMs > 0 && !isUpstreamTlsFailure(error)) {
      this.#waited = true;
      this.#o.engine.logger.debug({ upstream: this.#endpoint.key, err: code || error.message, waitMs }, 'every known endpoint failed to connect; waiting for a newer endpoint set');
      const registry = this.#o.engine.backends;
      let unsubscribe = (): void => undefined;
      const timer = setTimeout(() => {
        unsubscribe();
        this.#giveUp(error);
      }, waitMs);
      unsubscribe = registry.onSync(() => {
        const again = registry.get(this.#o.backendKey)?.balancer.pick(this.#triedSet());
        if (again === undefined || this.#finished) return;
        clearTimeout(timer);
        unsubscribe();
        this.#endpoint = again;
        this.send();
      });
      return;
    }
    this.#giveUp(error);
  }

  #giveUp(error: Error): void {
    if (this.#finished) return;
    this.#o.engine.logger.debug({ err: error, upstream: this.#endpoint.key }, 'upstream connect failed');
    this.#finish();
    this.#log(502, true, false);
    this.#o.client.exchangeFailed(502, isUpstreamTlsFailure(error) ? 'PORTICO_ERR_PROXY_UPSTREAM_TLS' : 'PORTICO_ERR_PROXY_UPSTREAM');
  }

  #attach(socket: Socket, reused: boolean): void {
    if (this.#finished) {
      socket.destroy();
      return;
    }
    this.#upstream = socket;
    this.#reused = reused;
    const now = performance.now();
    if (this.#upstreamStart === 0) this.#upstreamStart = now;
    this.#upstreamActive = now;
    holdUpstream(socket, this);
    // The engine's sweep times the exchange out (see sweep); a timer an HTTP/2 exchange left on the
    // connection would be re-armed on every read and write for nothing.
    if (socket.timeout) socket.setTimeout(0);
    const upstreamMs = (this.#upstreamTimeoutMs = upstreamTimeoutOf(this.#o.policies?.timeouts) ?? this.#o.engine.timeouts.upstream);
    this.#o.engine.watchTimeout(upstreamMs);
    const early = this.#early;
    if (early === undefined) socket.write(this.#o.upstreamHead);
    else {
      // One writev for the head and the early body bytes.
      socket.cork();
      socket.write(this.#o.upstreamHead);
      for (const part of early) socket.write(part);
      this.#early = undefined;
      this.#earlyBytes = 0;
      socket.uncork();
    }
    const resume = this.#onAttach;
    this.#onAttach = undefined;
    resume?.();
  }

  #detach(): Socket | undefined {
    const socket = this.#upstream;
    if (!socket) return undefined;
    // Unheld, its 'timeout' reaches nobody: the timer stays armed for the next exchange.
    holdUpstream(socket, undefined);
    this.#upstream = undefined;
    return socket;
  }

  upstreamTimeout(): void {
    if (this.#finished) return;
    const started = this.#responseStarted;
    this.#fail();
    this.#log(started ? this.#response!.status : 504, !started, started);
    if (started) this.#o.clientSocket.destroy();
    else this.#o.client.exchangeFailed(504, 'PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT');
  }

  upstreamClose(): void {
    this.#detach();
    if (this.#finished) return;
    if (this.#response?.framing === 'close' && this.#responseStarted) {
      this.#finish();
      this.#log(this.#response.status, false, false);
      this.#o.client.exchangeDone(false);
      return;
    }
    if (!this.#responseStarted) {
      // A kept-alive connection the backend had closed: resend once when nothing can be duplicated.
      // A reset before any response: an idempotent request without a body is resent once (to another
      // endpoint when there is one; a stale kept-alive connection is the common cause).
      if (!this.#retriedStale && !this.#bodySent && this.#o.head.framing === 'none' && IDEMPOTENT.has(this.#o.head.method)) {
        this.#retriedStale = true;
        this.#responseParser.reset();
        this.#responseParser.expect(this.#o.head.method === 'HEAD' ? RESPONSE_TO_HEAD : RESPONSE_TO_OTHER);
        const other = this.#reused ? undefined : this.#o.engine.backends.get(this.#o.backendKey)?.balancer.pick(this.#triedSet());
        if (other !== undefined) this.#endpoint = other;
        this.send();
        return;
      }
      this.#finish();
      this.#log(502, true, false);
      this.#o.client.exchangeFailed(502, 'PORTICO_ERR_PROXY_UPSTREAM');
      return;
    }
    // Mid-body: the client cannot be told; close it.
    this.#finish();
    this.#log(this.#response!.status, false, true);
    this.#o.clientSocket.destroy();
  }

  upstreamData(chunk: Buffer): void {
    this.#upstreamActive = performance.now();
    this.#relay(chunk);
    // A head whose body is not in this chunk goes out now.
    this.#flushHead();
  }

  #relay(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.#finished) {
      if (this.#response === undefined) {
        const parser = this.#responseParser;
        const result = parser.feed(chunk, at);
        if (result === NEED_MORE) return;
        if (result === ERROR) {
          this.#fail();
          this.#log(502, true, false);
          this.#o.client.exchangeFailed(502, 'PORTICO_ERR_PROXY_UPSTREAM');
          return;
        }
        const response = parser.head!;
        if (response.interim) {
          // 1xx relayed as received (100 Continue from the backend is dropped: we sent ours).
          if (response.status !== 100 && this.#o.head.versionMinor === 1) this.#writeKept(this.#o.clientSocket, chunk.subarray(at, result));
          parser.reset();
          parser.expect(this.#o.head.method === 'HEAD' ? RESPONSE_TO_HEAD : RESPONSE_TO_OTHER);
          at = result;
          continue;
        }
        this.#response = response;
        // custom-http-errors: the default backend answers instead (only once the whole request body went up).
        if (interceptsStatus(this.#o.policies, response.status, this.#bodyDone)) return this.#intercept(response);
        this.#startResponse(response);
        at = result;
        if (response.framing === 'none' || (response.framing === 'length' && response.contentLength === 0)) {
          // Bytes after a body-less response: the upstream connection is not clean, never reuse it.
          if (at < chunk.length) response.keepAlive = false;
          this.#flushHead();
          return this.#responseDone();
        }
        continue;
      }
      const tracker = this.#responseBody;
      if (tracker === undefined) {
        // close-delimited: everything until the upstream closes.
        this.#bytes += chunk.length - at;
        this.#toClient(at === 0 ? chunk : chunk.subarray(at));
        return;
      }
      const end = tracker.feed(chunk, at);
      if (end === ERROR) {
        this.#fail();
        this.#log(this.#response.status, false, true);
        this.#o.clientSocket.destroy();
        return;
      }
      const until = end === NEED_MORE ? chunk.length : end;
      this.#bytes += until - at;
      this.#toClient(at === 0 && until === chunk.length ? chunk : chunk.subarray(at, until));
      if (end === NEED_MORE) return;
      // Bytes after the response on a keep-alive upstream connection are a protocol error: drop it.
      if (end < chunk.length) this.#response.keepAlive = false;
      return this.#responseDone();
    }
  }

  /**
   * Back-pressure towards the upstream: when the client's socket buffer is full, the upstream
   * socket pauses until it drains, so a client that does not read cannot make us buffer a body.
   */
  #toClient(bytes: Buffer): void {
    const client = this.#o.clientSocket;
    let written: boolean;
    if (!this.#headPending) written = this.#writeKept(client, bytes);
    // The response's first body bytes: with the head, one write (one syscall, not a head then a body).
    else if (bytes.length <= COALESCE_BODY_BYTES) written = client.write(this.#serializeHead(bytes));
    else {
      client.cork();
      client.write(this.#serializeHead(undefined));
      written = this.#writeKept(client, bytes);
      client.uncork();
    }
    if (written || this.#upstreamPaused || !this.#upstream) return;
    this.#upstreamPaused = true;
    const upstream = this.#upstream;
    upstream.pause();
    client.once('drain', () => {
      this.#upstreamPaused = false;
      upstream.resume();
    });
  }

  /** Upstream bytes written to the client by reference: they must outlive the upstream's read buffer (retainUpstreamBytes). */
  #kept(bytes: Buffer): Buffer {
    const upstream = this.#upstream;
    return upstream === undefined ? Buffer.from(bytes) : retainUpstreamBytes(upstream, bytes);
  }

  /** Writes upstream bytes to the client by reference; a lent read buffer goes back once the write is done. */
  #writeKept(client: Socket, bytes: Buffer): boolean {
    const kept = this.#kept(bytes);
    // A lent read buffer (the connection's own, or a spare the bytes were copied into) goes back; anything else is ignored.
    return client.write(kept, () => returnUpstreamBytes(kept));
  }

  #startResponse(response: ResponseHead): void {
    this.#responseStarted = true;
    this.#upstreamMs = this.#upstreamActive - this.#upstreamStart;
    this.#o.chooser?.observe?.(this.#endpoint.key, this.#upstreamMs, response.status < 500);
    const clientKeepAlive = this.#o.head.keepAlive && !this.#o.engine.closing && response.framing !== 'close';
    const server = response.indexOf('server') === -1;
    const hsts = this.#o.hsts !== undefined && response.indexOf('strict-transport-security') === -1 ? hstsLine(this.#o.hsts) : undefined;
    const fields = this.#o.responseFields;
    // Most responses: one pre-encoded part.
    if (server && clientKeepAlive && hsts === undefined && fields === undefined) this.#headExtra = SERVER_KEEP_ALIVE;
    else {
      const extra: HeadPart[] = server ? [SERVER_LINE] : [];
      if (hsts !== undefined) extra.push(hsts);
      extra.push(clientKeepAlive ? KEEP_ALIVE_LINE : CLOSE_LINE);
      if (fields !== undefined) {
        for (const [name, value] of fields) extra.push(`${name}: ${value}\r\n`);
        // Set-Cookie (affinity) is added beside the backend's, never in their place.
        this.#headDrop = new Set(fields.map(([name]) => name.toLowerCase()).filter((name) => name !== 'set-cookie'));
      }
      this.#headExtra = extra;
    }
    // Serialised with the first body bytes (#toClient), or by #flushHead when none come with it,
    // always before upstreamData returns: the head's fields point into the upstream's chunk.
    this.#headPending = true;
    if (response.framing === 'length') this.#responseBody = new LengthTracker(response.contentLength);
    else if (response.framing === 'chunked') this.#responseBody = new ChunkedTracker();
  }

  /** custom-http-errors: drops the upstream's response (and its connection) and relays the default backend's answer. */
  #intercept(response: ResponseHead): void {
    this.#upstreamMs = performance.now() - this.#upstreamStart;
    this.#o.chooser?.observe?.(this.#endpoint.key, this.#upstreamMs, response.status < 500);
    this.#fail();
    const { engine, head, match, client, clientSocket } = this.#o;
    const accept = head.indexOf('accept');
    const started = startErrorPage(
      { status: response.status, method: head.method, host: head.host, accept: accept === -1 ? undefined : head.value(accept), originalUri: originTarget(head), match, requestId: this.#o.requestId, clientAddress: client.clientAddress },
      engine.backends,
      engine.timeouts.upstream,
    );
    if (started.endpoint === undefined) {
      this.#log(503, true, false);
      client.exchangeFailed(503, started.code);
      return;
    }
    const endpoint = started.endpoint;
    started.page.then(
      (page) => {
        if (clientSocket.destroyed) return this.#log(499, false, true);
        const keepAlive = head.keepAlive && !engine.closing;
        let text = `HTTP/1.1 ${page.status} ${page.statusMessage || STATUS_CODES[page.status] || 'Error'}\r\n`;
        let server = false;
        for (const [name, value] of page.fields) {
          if (name.toLowerCase() === 'server') server = true;
          text += `${name}: ${value}\r\n`;
        }
        if (!server) text += 'Server: portico\r\n';
        if (this.#o.hsts !== undefined) text += `Strict-Transport-Security: ${this.#o.hsts}\r\n`;
        const body = head.method === 'HEAD' ? Buffer.alloc(0) : page.body;
        text += `Content-Length: ${page.body.length}\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
        clientSocket.write(Buffer.concat([Buffer.from(text, 'latin1'), body]));
        this.#bytes = body.length;
        this.#log(page.status, false, false);
        client.exchangeDone(keepAlive);
      },
      (error: Error) => {
        engine.logger.debug({ err: error, upstream: endpoint.key, service: this.#o.policies?.defaultBackend?.key }, 'default backend failed (custom-http-errors)');
        this.#log(502, true, false);
        client.exchangeFailed(502, 'PORTICO_ERR_PROXY_UPSTREAM');
      },
    );
  }

  /** The response head is not written yet (see #toClient); #headExtra and #headDrop say what it adds and removes. */
  #headPending = false;
  #headExtra: readonly HeadPart[] = SERVER_KEEP_ALIVE;
  #headDrop: ReadonlySet<string> | undefined;
  /** The response head's size, for the metrics' response size (0 while none was sent). */
  #headBytes = 0;

  /** The response head, with `body` (a small first part) in the same buffer. */
  #serializeHead(body: Buffer | undefined): Buffer {
    this.#headPending = false;
    const out = serializeResponseHead(this.#response!, this.#headDrop === undefined ? { extra: this.#headExtra, body } : { extra: this.#headExtra, drop: this.#headDrop, body });
    this.#headBytes = body === undefined ? out.length : out.length - body.length;
    return out;
  }

  #flushHead(): void {
    if (!this.#headPending) return;
    const head = this.#serializeHead(undefined);
    // A client cut in this chunk (a broken body) gets nothing more, as when the head was corked.
    if (!this.#o.clientSocket.destroyed) this.#o.clientSocket.write(head);
  }

  #responseDone(): void {
    const response = this.#response!;
    const socket = this.#detach();
    this.#finish();
    const now = this.#log(response.status, false, false);
    if (this.#upstreamPaused) {
      this.#upstreamPaused = false;
      socket?.resume();
    }
    // The upstream connection goes back only when the request body was fully sent too.
    if (socket) {
      if (response.keepAlive && this.#bodyDone) this.#o.engine.pool.release(this.#endpoint, socket, this.#tls);
      else socket.destroy();
    }
    this.#o.client.exchangeDone(this.#o.head.keepAlive && response.framing !== 'close' && this.#bodyDone, now);
  }

  #finish(): void {
    this.#finished = true;
  }

  #fail(): void {
    this.#finish();
    this.#detach()?.destroy();
  }

  /** The client went away: the upstream connection cannot be reused (a response may be half-read). */
  clientGone(): void {
    if (this.#finished) return;
    this.#fail();
    this.#log(this.#responseStarted ? this.#response!.status : 499, !this.#responseStarted, true);
  }
}

/** The request as route steps see it; built only for routes that have steps. */
class EngineStepRequest implements StepRequest {
  readonly #head: RequestHead;
  readonly clientAddress: string;
  readonly proto: 'http' | 'https';

  constructor(head: RequestHead, clientAddress: string, proto: 'http' | 'https') {
    this.#head = head;
    this.clientAddress = clientAddress;
    this.proto = proto;
  }

  get method(): string {
    return this.#head.method;
  }

  get host(): string {
    return this.#head.host;
  }

  get target(): string {
    return originTarget(this.#head);
  }

  header(name: string): string | undefined {
    const i = this.#head.indexOf(name);
    return i === -1 ? undefined : this.#head.value(i);
  }

  fields(): ReadonlyArray<readonly [string, string]> {
    return this.#head.entries();
  }
}

interface EntryParts {
  status: number;
  bytes: number;
  requestBytes?: number;
  durationMs: number;
  match: RouteMatch | undefined;
  requestId: string;
  upstream?: string;
  upstreamMs?: number | undefined;
  upstreamStatus?: number | undefined;
  aborted?: boolean;
}

/** One access-log entry, its keys in the documented order (pino leaves out the undefined ones). */
function entryFor(head: RequestHead, client: string, o: EntryParts): AccessLogEntry {
  const ua = head.indexOf('user-agent');
  const referer = head.indexOf('referer');
  return {
    client,
    method: head.method,
    host: head.host || undefined,
    path: head.target,
    status: o.status,
    bytes: o.bytes,
    requestBytes: o.requestBytes ?? head.length,
    durationMs: o.durationMs,
    upstream: o.upstream,
    upstreamMs: o.upstreamMs,
    upstreamStatus: o.upstreamStatus,
    ingress: o.match?.ingress,
    service: o.match?.backend.key,
    requestId: o.requestId,
    userAgent: ua === -1 ? undefined : head.value(ua),
    referer: referer === -1 ? undefined : head.value(referer),
    aborted: o.aborted ? true : undefined,
  };
}

/** mirror-target: the copy of an HTTP/1.1 request is its head re-serialised, its body the bytes as received. */
function mirrorSourceOf(head: RequestHead): MirrorSource {
  return { originalUri: originTarget(head), framing: head.framing, head: (options) => serializeRequestHead(head, options) };
}

function requestIdOf(head: RequestHead): string {
  const i = head.indexOf('x-request-id');
  if (i !== -1) {
    const value = head.value(i);
    if (PASSABLE_REQUEST_ID.test(value)) return value;
  }
  return newRequestId();
}

const SERVER_KEEP_ALIVE: readonly HeadPart[] = Object.freeze([SERVER_KEEP_ALIVE_LINES]);

/** `Strict-Transport-Security: …` encoded once per value (the value changes only with the configuration). */
let hstsCache: { readonly value: string; readonly line: Buffer } | undefined;
function hstsLine(value: string): Buffer {
  if (hstsCache?.value !== value) hstsCache = { value, line: Buffer.from(`Strict-Transport-Security: ${value}\r\n`, 'latin1') };
  return hstsCache.line;
}

/** The same head with `HTTP/1.0` at the end of its request line. */
function asHttp10(head: Buffer): Buffer {
  const lineEnd = head.indexOf(0x0d);
  // `… HTTP/1.1\r\n`: the minor version digit is the byte before CR.
  if (lineEnd > 0 && head[lineEnd - 1] === 0x31) head[lineEnd - 1] = 0x30;
  return head;
}

/** A request field's values, repeated lines joined with ", " (as nginx's $http_<name>); undefined when absent. */
function joinedField(head: RequestHead, lower: string): string | undefined {
  const first = head.indexOf(lower);
  if (first === -1) return undefined;
  let value = head.value(first);
  for (let i = first + 1; i < head.fieldCount; i++) if (head.name(i).toLowerCase() === lower) value += `, ${head.value(i)}`;
  return value;
}
