// HTTP/2 to clients: a TLS connection whose ALPN chose `h2`, or a plain one that opens with the
// HTTP/2 preface (prior knowledge, h2c: gRPC clients without TLS), is served here. Each stream is one
// request through the same route table, the same per-route steps, access log and metrics as the
// HTTP/1.1 engine. Upstream, an HTTP/1.1 backend gets an HTTP/1.1 request (keep-alive pools of
// node:http, cookies joined, trailers relayed), a gRPC backend (backend-protocol GRPC / GRPCS) an
// HTTP/2 stream over one session per endpoint (src/http2/h2-upstream.ts), trailers both ways.
//
// Routing, steps and endpoint choice are the engine's (one route table, one pipeline per route);
// what differs is only the framing on either side.
import { newRequestId } from '../lib/request-id.js';
import { constants, createServer, type ClientHttp2Session, type ClientHttp2Stream, type Http2Server, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { BackendRegistry } from '../balancer/backend-registry.js';
import type { ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Endpoint, RouteLookup, RouteMatch, RoutePolicies } from '../model/route-model.js';
import { ChunkedTracker, ERROR, LengthTracker, NEED_MORE, ResponseHeadParser, type ResponseHead } from '../http1/index.js';
import { isValidHost } from '../http1/request-head.js';
import { holdUpstream, retainUpstreamBytes, returnUpstreamBytes, type UpstreamHolder, type UpstreamLease, type UpstreamPool, type UpstreamTls } from '../upstream/upstream-pool.js';
import { isUpstreamTlsFailure, upstreamTlsFor } from '../upstream/upstream-tls.js';
import { roundMs, type AccessLogWriter } from '../proxy/access-log.js';
import { errorReply } from '../proxy/error-reply.js';
import type { RequestObserver } from '../model/request-observer.js';
import { interceptsStatus, startErrorPage } from '../proxy/error-page.js';
import { startMirror, type MirrorSource } from '../proxy/mirror-copy.js';
import { newUpstreamEdits, pickEndpoint, settleSteps, upstreamTimeoutOf, type PipelineMatch, type StepAnswer, type StepRequest, type UpstreamEdits } from '../proxy/policies/pipeline.js';
import { H2UpstreamPool } from '../upstream/h2-sessions.js';

/** What the front needs of the server it belongs to (the engine): read per request, so swaps apply at once. */
export interface H2Context {
  readonly routes: RouteLookup<PipelineMatch> | undefined;
  readonly backends: BackendRegistry;
  readonly logger: Logger;
  readonly hsts: string | undefined;
  /** --proxy-body-size where the route sets none; 0: no limit. */
  readonly maxBodySize: number;
  readonly accessLog: AccessLogWriter | undefined;
  readonly observer: RequestObserver | undefined;
  readonly timeouts: { readonly client: number; readonly keepAlive: number; readonly upstream: number };
  /** The engine's keep-alive HTTP/1.1 connections, shared with its HTTP/1.1 clients. */
  readonly pool: UpstreamPool;
}

/** Where a request body goes: an upstream HTTP/2 stream, or an HTTP/1.1 connection (framed there). */
interface BodyWriter {
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
  readonly writableEnded?: boolean;
}

export interface H2Listener {
  readonly proto: 'http' | 'https';
  port: string;
}

export interface Http2FrontOptions {
  /** Concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). Default 128, as nginx. */
  readonly maxConcurrentStreams?: number;
  /** Largest header list a client may send (SETTINGS_MAX_HEADER_LIST_SIZE), bytes. Default 32 KiB. */
  readonly maxHeaderListSize?: number;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_FLAG_END_STREAM } = constants;

/** Connection-specific fields (RFC 9113 §8.2.2) and the ones the proxy sets itself: never copied from the client. */
const DROPPED_REQUEST_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'http2-settings', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip', 'expect', 'x-request-id']);
/** Connection-specific response fields: HTTP/2 forbids them (Node refuses to send them). */
const DROPPED_RESPONSE_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings']);
const PASSABLE_REQUEST_ID = /^[\x21-\x7e]{1,200}$/;
const DECIMAL = /^\d{1,15}$/;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Errors that mean the request never reached a backend: another endpoint may take it. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL', 'ENOTFOUND']);
const NO_BODY_STATUSES = new Set([204, 304]);
const CONNECT_TIMEOUT_MS = 5_000;
/** Methods whose body-less request still says `content-length: 0` to an HTTP/1.1 upstream (as nginx sends it). */
const BODYLESS_WITH_LENGTH = new Set(['POST', 'PUT', 'PATCH']);
const RESPONSE_TO_HEAD = Object.freeze({ head: true, upgrade: false });
const RESPONSE_TO_OTHER = Object.freeze({ head: false, upgrade: false });
const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

export class Http2Front {
  readonly #context: H2Context;
  readonly #servers = new Map<H2Listener, Http2Server>();
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #options: Http2FrontOptions;
  readonly #grpc = new H2UpstreamPool();
  #closing = false;

  constructor(context: H2Context, options: Http2FrontOptions = {}) {
    this.#context = context;
    this.#options = options;
  }

  /** Serves an HTTP/2 connection: a TLS socket after ALPN chose h2, or a plain one (bytes it already read unshifted). */
  serve(socket: Socket, listener: H2Listener): void {
    let server = this.#servers.get(listener);
    if (server === undefined) {
      server = createServer({
        settings: { maxConcurrentStreams: this.#options.maxConcurrentStreams ?? 128, maxHeaderListSize: this.#options.maxHeaderListSize ?? 32 * 1024, enablePush: false },
        maxHeaderListPairs: 256,
      });
      server.on('session', (session: ServerHttp2Session) => this.#adopt(session));
      server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
        new H2Exchange(this, stream, headers, (flags & NGHTTP2_FLAG_END_STREAM) !== 0, rawHeaders, listener).start();
      });
      this.#servers.set(listener, server);
    }
    server.emit('connection', socket);
  }

  #adopt(session: ServerHttp2Session): void {
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', () => undefined);
    // No frame for the keep-alive time: GOAWAY; streams still open finish first.
    session.setTimeout(this.#context.timeouts.keepAlive, () => {
      session.close();
      // GOAWAY waits for open streams; one whose client never ends it cannot keep the session for good.
      setTimeout(() => session.destroy(), this.#context.timeouts.client).unref();
    });
    if (this.#closing) session.close();
  }

  get context(): H2Context {
    return this.#context;
  }

  get grpc(): H2UpstreamPool {
    return this.#grpc;
  }

  /** The shutdown grace period: every session gets GOAWAY (its open streams finish; clients reconnect for new ones). */
  endKeepAlive(): void {
    this.#closing = true;
    for (const session of this.#sessions) session.close();
  }

  /** GOAWAY to every session, and after drainTimeoutMs the ones still open are cut. */
  async close(drainTimeoutMs: number): Promise<void> {
    this.endKeepAlive();
    // (`session.closed` is already true once close() was called: only 'close' says it is over.)
    const open = [...this.#sessions].map((session) => new Promise<void>((resolve) => (session.destroyed ? resolve() : session.once('close', () => resolve()))));
    const timer = setTimeout(() => {
      for (const session of this.#sessions) session.destroy();
    }, drainTimeoutMs);
    timer.unref();
    try {
      await Promise.all(open);
    } finally {
      clearTimeout(timer);
    }
    this.#grpc.close();
  }
}

/** One stream: a request routed, its steps run, forwarded, its response (and trailers) relayed. */
class H2Exchange {
  readonly #front: Http2Front;
  readonly #stream: ServerHttp2Stream;
  readonly #headers: IncomingHttpHeaders;
  readonly #raw: string[];
  readonly #listener: H2Listener;
  readonly #start = performance.now();
  /** The connection's peer. */
  readonly #peer: string;
  /** The client: the peer, or the real IP behind trusted proxies (the ConfigMap's use-forwarded-headers / enable-real-ip). */
  #clientAddress: string;
  /** The client sent END_STREAM with its headers: no body. */
  readonly #noBody: boolean;
  #method = '';
  #host = '';
  #target = '';
  #match: PipelineMatch | undefined;
  #requestId = '';
  #status = 0;
  #bytes = 0;
  #requestBytes = 0;
  #responseStarted = false;
  #done = false;
  /** limit-connections: this stream's count, released when it is over. */
  #release: (() => void) | undefined;
  #upstream: string | undefined;
  #upstreamMs: number | undefined;
  #upstreamStatus: number | undefined;
  /** The request being sent upstream (to abort it when the client goes). */
  #abortUpstream: (() => void) | undefined;
  #bodyLimit = 0;
  #edits: UpstreamEdits | undefined;
  /** mirror-target: the copy, given the body as it passes (framed as the copy's head says). */
  #mirror: { write(chunk: Buffer): void; end(): void } | undefined;

  constructor(front: Http2Front, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, noBody: boolean, raw: string[], listener: H2Listener) {
    this.#front = front;
    this.#stream = stream;
    this.#headers = headers;
    this.#raw = raw;
    this.#listener = listener;
    this.#noBody = noBody;
    const remote = stream.session?.socket?.remoteAddress ?? '';
    this.#peer = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
    this.#clientAddress = this.#peer;
    stream.on('error', () => undefined);
    stream.once('close', () => this.#closed());
  }

  /** A request field, repeated fields joined with ", "; undefined when absent. */
  #field(name: string): string | undefined {
    const value = this.#headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  get #context(): H2Context {
    return this.#front.context;
  }

  start(): void {
    const headers = this.#headers;
    const method = headers[':method'];
    const target = headers[':path'];
    const authority = headers[':authority'];
    const hostField = headers['host'];
    this.#method = typeof method === 'string' ? method : '';
    this.#target = typeof target === 'string' ? target : '';
    this.#requestId = requestIdOf(headers['x-request-id']);
    const realIp = this.#context.routes?.realIp;
    if (realIp !== undefined) this.#clientAddress = realIp.clientOf(this.#peer, this.#field(realIp.header));
    // CONNECT (and extended CONNECT) is not proxied; a target must be origin-form (no `*`).
    if (method === 'CONNECT' || typeof target !== 'string' || target.charCodeAt(0) !== 0x2f) return this.#reply(400, 'PORTICO_ERR_PROXY_BAD_REQUEST');
    // RFC 9113 §8.3.1: :authority, else Host; both present must agree. A host must be uri-host[:port].
    const host = typeof authority === 'string' ? authority : typeof hostField === 'string' ? hostField : undefined;
    if (host === undefined || (typeof authority === 'string' && typeof hostField === 'string' && authority !== hostField)) return this.#reply(400, 'PORTICO_ERR_PROXY_BAD_REQUEST');
    const hostBytes = Buffer.from(host, 'latin1');
    if (!isValidHost(hostBytes, 0, hostBytes.length)) return this.#reply(400, 'PORTICO_ERR_PROXY_BAD_REQUEST');
    this.#host = host;
    const context = this.#context;
    const match = context.routes?.lookup(host, this.#target);
    if (match === undefined) return this.#reply(404, 'PORTICO_ERR_PROXY_NO_ROUTE');
    this.#match = match;
    const declared = headers['content-length'];
    if (declared !== undefined && (typeof declared !== 'string' || !DECIMAL.test(declared))) return this.#reply(400, 'PORTICO_ERR_PROXY_BAD_REQUEST');
    // nginx checks client_max_body_size as soon as the location is known, before any step.
    this.#bodyLimit = match.route?.policies?.maxBodySize ?? context.maxBodySize;
    if (this.#bodyLimit > 0 && declared !== undefined && Number(declared) > this.#bodyLimit) return this.#reply(413, 'PORTICO_ERR_PROXY_BODY_TOO_LARGE');
    const pipeline = match.pipeline;
    if (pipeline === undefined) return this.#forward(match, undefined);
    const edits = newUpstreamEdits();
    const proto = realIp === undefined ? this.#listener.proto : realIp.schemeOf(this.#peer, this.#field('x-forwarded-proto'), this.#listener.proto);
    const result = pipeline.request(new H2StepRequest(this, proto), edits);
    this.#release = edits.release;
    if (result === undefined) return this.#forward(match, edits);
    if (!(result instanceof Promise)) return this.#answer(result);
    void settleSteps(result, context.logger, match).then((answer) => {
      // A limit-connections count taken after the asynchronous step.
      this.#release ??= edits.release;
      if (this.#done) return this.#releaseNow();
      if (answer === undefined) this.#forward(match, edits);
      else this.#answer(answer);
    });
  }

  get method(): string {
    return this.#method;
  }
  get host(): string {
    return this.#host;
  }
  get target(): string {
    return this.#target;
  }
  get clientAddress(): string {
    return this.#clientAddress;
  }
  get headers(): IncomingHttpHeaders {
    return this.#headers;
  }
  get raw(): readonly string[] {
    return this.#raw;
  }

  #answer(answer: StepAnswer): void {
    if (answer.kind === 'error') return this.#reply(answer.status, answer.code, answer.headers);
    const headers: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: answer.status, server: 'portico', 'content-length': 0 };
    if (answer.kind === 'redirect') headers['location'] = answer.location;
    else addFields(headers, answer.headers);
    this.#respondOwn(headers, undefined);
  }

  /** Portico's own JSON error. */
  #reply(status: number, code: ErrorCode, fields?: ReadonlyArray<readonly [string, string]>): void {
    const reply = errorReply(status, code);
    const headers: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: status, server: 'portico', 'content-type': 'application/json', 'content-length': reply.body.length, 'cache-control': 'no-store' };
    if (this.#listener.proto === 'https' && this.#context.hsts !== undefined) headers['strict-transport-security'] = this.#context.hsts;
    if (fields !== undefined) addFields(headers, fields);
    this.#respondOwn(headers, this.#method === 'HEAD' ? undefined : reply.body);
  }

  #respondOwn(headers: OutgoingHttpHeaders, body: Buffer | undefined): void {
    const stream = this.#stream;
    this.#abortUpstream?.();
    this.#abortUpstream = undefined;
    this.#status = headers[HTTP2_HEADER_STATUS] as number;
    this.#bytes = body?.length ?? 0;
    if (stream.destroyed || stream.headersSent) {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.#responseStarted = true;
    stream.respond(headers, { endStream: body === undefined });
    if (body !== undefined) stream.end(body);
    // The answer is complete: logged and counted now (and a limit's slot released), not when the
    // client gets round to ending its side.
    this.#finished(false);
    this.#discardBody();
  }

  /**
   * A body the client is still sending is not wanted: read and dropped (flow control stays open),
   * for at most the client timeout; then the stream is reset with NO_ERROR (RFC 9113 §8.1), so a
   * client that never ends its side cannot hold the stream (or a GOAWAY'd session) open.
   */
  #discardBody(): void {
    const stream = this.#stream;
    this.#detachBody();
    if (stream.readableEnded || stream.destroyed) return;
    stream.setTimeout(this.#context.timeouts.client, () => {
      if (!stream.destroyed && !stream.readableEnded) stream.close(NGHTTP2_NO_ERROR);
    });
    stream.resume();
  }

  /** The response is complete before the request body was: drop the rest of it (see #discardBody). */
  discardRequestBody(): void {
    this.#discardBody();
  }

  /** Stops sending the request body anywhere (a failed or finished upstream attempt); the stream pauses. */
  detachBody(): void {
    this.#detachBody();
    this.#stream.pause();
  }

  #detachBody(): void {
    if (this.#onBody !== undefined) this.#stream.removeListener('data', this.#onBody);
    if (this.#onBodyEnd !== undefined) this.#stream.removeListener('end', this.#onBodyEnd);
    this.#onBody = undefined;
    this.#onBodyEnd = undefined;
  }

  /** Endpoint choice as the engine makes it (a canary's backend, affinity), then the upstream request. */
  #forward(match: PipelineMatch, edits: UpstreamEdits | undefined): void {
    const context = this.#context;
    if (edits?.backend !== undefined) this.#match = match = { ...match, backend: edits.backend };
    let backend = context.backends.get(match.backend.key);
    // default-backend: serves the route while its Service has no endpoints.
    const fallback = match.route?.policies?.defaultBackend;
    if (fallback !== undefined && !(backend !== undefined && backend.current.endpoints.length > 0)) {
      const other = context.backends.get(fallback.key);
      if (other !== undefined && other.current.endpoints.length > 0) {
        this.#match = match = { ...match, backend: fallback };
        backend = other;
      }
    }
    if (backend === undefined) return this.#reply(503, 'PORTICO_ERR_BACKEND_NO_ENDPOINTS');
    const problem = backend.current.problem;
    if (problem !== undefined) return this.#reply(503, problem.code);
    // Affinity, upstream-hash-by, load-balance: ewma; else the backend's round robin.
    const endpoint = pickEndpoint(backend, edits);
    if (endpoint === undefined) return this.#reply(503, 'PORTICO_ERR_BACKEND_NO_ENDPOINTS');
    const policies = match.route?.policies;
    this.#edits = edits;
    // mirror-target: the copy starts with the real request; its body follows as the real one passes.
    if (edits?.mirror !== undefined) this.#startMirror(edits);
    // The client is read only once an upstream connection is there (a failed connect can go elsewhere).
    this.#stream.pause();
    this.#stream.setTimeout(context.timeouts.client, () => this.#clientStalled());
    const upstreamStart = performance.now();
    // proxy-ssl-verify without proxy-ssl-name checks the backend's Service name (a canary's is its own).
    const tls = upstreamTlsFor(policies?.upstreamTls, match.backend.key);
    const tried = new Set<string>();
    const attempt = (endpoint: Endpoint, reusedRetry: boolean): void => {
      tried.add(endpoint.key);
      const retry = (error: NodeJS.ErrnoException, reused: boolean): boolean => {
        if (this.#done || this.#responseStarted || this.#requestBytes > 0) return false;
        // A reset on a kept-alive connection: the request (no body sent) may go again, once.
        if (reused && !reusedRetry && IDEMPOTENT.has(this.#method) && error.code === 'ECONNRESET') {
          attempt(endpoint, true);
          return true;
        }
        if (!CONNECT_ERRORS.has(error.code ?? '') || policies?.nextUpstream?.off === true) return false;
        const next = context.backends.get(match.backend.key)?.balancer.pick(tried);
        if (next === undefined) return false;
        attempt(next, false);
        return true;
      };
      if (policies?.grpc === true) this.#forwardGrpc(endpoint, edits, policies, tls, upstreamStart, retry);
      else this.#forwardHttp1(endpoint, edits, policies, tls, upstreamStart, retry);
    };
    attempt(endpoint, false);
  }

  /** mirror-target: an HTTP/1.1 copy of this stream (src/proxy/mirror-copy.ts): its fields, its body chunked unless it has a Content-Length. */
  #startMirror(edits: UpstreamEdits): void {
    const framing = this.#noBody ? 'none' : typeof this.#headers['content-length'] === 'string' ? 'length' : 'chunked';
    const raw = this.#raw;
    const source: MirrorSource = {
      originalUri: this.#target,
      framing,
      head: ({ extra, drop, target, host }) => {
        let text = `${this.#method} ${target} HTTP/1.1\r\nHost: ${host}\r\n`;
        const cookies: string[] = [];
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!;
          if (name.charCodeAt(0) === 0x3a || DROPPED_REQUEST_FIELDS.has(name) || drop.has(name)) continue;
          if (name === 'cookie') cookies.push(raw[i + 1]!);
          else text += `${name}: ${raw[i + 1]!}\r\n`;
        }
        if (cookies.length > 0) text += `cookie: ${cookies.join('; ')}\r\n`;
        if (framing === 'chunked') text += 'transfer-encoding: chunked\r\n';
        return `${text}${extra}\r\n`;
      },
    };
    const context = this.#context;
    const copy = startMirror(edits.mirror!, source, { clientAddress: this.#clientAddress, requestId: this.#requestId, timeoutMs: context.timeouts.upstream, logger: context.logger });
    let ended = false;
    this.#mirror = {
      write: (chunk) => {
        if (ended || chunk.length === 0) return;
        if (framing !== 'chunked') return copy.write(chunk);
        copy.write(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'));
        copy.write(chunk);
        copy.write(CRLF);
      },
      end: () => {
        if (ended) return;
        ended = true;
        if (framing === 'chunked') copy.write(LAST_CHUNK);
      },
    };
  }

  /** The fields every upstream request gets: the client's (minus connection-specific ones), then the proxy's own. */
  #upstreamFields(edits: UpstreamEdits | undefined, joinCookies: boolean): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const drop = edits !== undefined && edits.dropHeaders.length > 0 ? new Set(edits.dropHeaders) : undefined;
    const cookies: string[] = [];
    const raw = this.#raw;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.charCodeAt(0) === 0x3a || DROPPED_REQUEST_FIELDS.has(name) || drop?.has(name)) continue;
      // RFC 9113 §8.2.3: HTTP/2 may split Cookie; an HTTP/1.1 upstream gets one field.
      if (joinCookies && name === 'cookie') cookies.push(raw[i + 1]!);
      else out.push([name, raw[i + 1]!]);
    }
    if (cookies.length > 0) out.push(['cookie', cookies.join('; ')]);
    // grpc-web/gRPC need `te: trailers` to be passed to an HTTP/2 upstream.
    if (!joinCookies && this.#headers['te'] === 'trailers') out.push(['te', 'trailers']);
    const listener = this.#listener;
    const realIp = this.#context.routes?.realIp;
    if (realIp === undefined) out.push(['x-request-id', this.#requestId], ['x-real-ip', this.#clientAddress], ['x-forwarded-for', this.#clientAddress], ['x-forwarded-host', this.#host], ['x-forwarded-port', listener.port], ['x-forwarded-proto', listener.proto]);
    else {
      const f = realIp.forwarded(this.#peer, this.#clientAddress, (name) => this.#field(name), { host: this.#host, port: listener.port, proto: listener.proto });
      out.push(['x-request-id', this.#requestId], ['x-real-ip', f.client], ['x-forwarded-for', f.forwardedFor], ['x-forwarded-host', f.host], ['x-forwarded-port', f.port], ['x-forwarded-proto', f.proto]);
    }
    if (edits !== undefined) for (const [name, value] of edits.headers) out.push([name.toLowerCase(), value]);
    return out;
  }

  /**
   * HTTP/1.1 to the pod over the engine's own keep-alive pool (raw sockets, src/http1 parsers): the
   * head serialised here, the body as received (Content-Length) or chunked, the response parsed and
   * its body decoded into DATA frames, trailers kept for the client.
   */
  #forwardHttp1(endpoint: Endpoint, edits: UpstreamEdits | undefined, policies: RoutePolicies | undefined, tls: UpstreamTls | undefined, upstreamStart: number, retry: (error: NodeJS.ErrnoException, reused: boolean) => boolean): void {
    const lease = this.#context.pool.acquire(endpoint, policies?.timeouts?.connectMs ?? CONNECT_TIMEOUT_MS, tls);
    let cancelled = false;
    this.#abortUpstream = () => (cancelled = true);
    const go = ({ socket, reused }: UpstreamLease): void => {
      if (cancelled || this.#done) {
        this.#context.pool.release(endpoint, socket, tls);
        return;
      }
      this.#upstream = endpoint.key;
      const exchange = new H1Upstream(this, socket, endpoint, tls, policies, upstreamStart, reused, retry);
      this.#abortUpstream = () => exchange.abort();
      exchange.send(this.#http1Head(edits));
    };
    if (lease instanceof Promise) {
      lease.then(go, (error: NodeJS.ErrnoException) => {
        if (cancelled || this.#done) return;
        if (!retry(error, false)) this.#upstreamFailed(error);
      });
    } else go(lease);
  }

  /** The HTTP/1.1 request head for this stream (Host from :authority, or the route's upstream-vhost). */
  #http1Head(edits: UpstreamEdits | undefined): string {
    let head = `${this.#method} ${edits?.target ?? this.#target} HTTP/1.1\r\nhost: ${edits?.host ?? this.#host}\r\n`;
    for (const [name, value] of this.#upstreamFields(edits, true)) {
      if (name !== 'content-length') head += `${name}: ${value}\r\n`;
    }
    const declared = this.#headers['content-length'];
    if (this.#noBody) head += BODYLESS_WITH_LENGTH.has(this.#method) ? 'content-length: 0\r\n' : '';
    else head += typeof declared === 'string' ? `content-length: ${declared}\r\n` : 'transfer-encoding: chunked\r\n';
    return `${head}connection: keep-alive\r\n\r\n`;
  }

  /** The request body is sent chunked (no Content-Length from the client). */
  get chunkedBody(): boolean {
    return !this.#noBody && typeof this.#headers['content-length'] !== 'string';
  }

  /** For H1Upstream: the parts of the exchange it drives. */
  get stream(): ServerHttp2Stream {
    return this.#stream;
  }
  upstreamAnswered(status: number, upstreamMs: number): void {
    this.#upstreamStatus = status;
    this.#upstreamMs = upstreamMs;
    // load-balance: ewma's latency feed.
    if (this.#upstream !== undefined) this.#edits?.chooser?.observe?.(this.#upstream, upstreamMs, status < 500);
  }
  /** custom-http-errors: whether the default backend answers in place of this upstream status. */
  intercepts(status: number, bodyDone: boolean): boolean {
    return interceptsStatus(this.#match?.route?.policies, status, bodyDone);
  }
  /**
   * custom-http-errors: the upstream's answer was dropped; the default backend is asked as the
   * engine asks it (src/proxy/error-page.ts) and its status, fields and body go to the client.
   */
  answerWithErrorPage(status: number): void {
    const context = this.#context;
    const started = startErrorPage(
      { status, method: this.#method, host: this.#host, accept: this.#field('accept'), originalUri: this.#target, match: this.#match!, requestId: this.#requestId, clientAddress: this.#clientAddress },
      context.backends,
      context.timeouts.upstream,
    );
    if (started.endpoint === undefined) return this.#reply(503, started.code);
    let cancelled = false;
    this.#abortUpstream = () => (cancelled = true);
    started.page.then(
      (page) => {
        if (cancelled || this.#done) return;
        this.#abortUpstream = undefined;
        const headers: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: page.status };
        for (const [name, value] of page.fields) {
          const lower = name.toLowerCase();
          if (!DROPPED_RESPONSE_FIELDS.has(lower)) appendField(headers, lower, value);
        }
        this.#addProxyResponseFields(headers, undefined);
        const bodyless = NO_BODY_STATUSES.has(page.status);
        if (!bodyless) headers['content-length'] = page.body.length;
        this.#respondOwn(headers, bodyless || this.#method === 'HEAD' || page.body.length === 0 ? undefined : page.body);
      },
      (error: Error) => {
        if (cancelled || this.#done) return;
        this.#abortUpstream = undefined;
        context.logger.debug({ err: error.message, upstream: started.endpoint.key, service: this.#match?.route?.policies?.defaultBackend?.key }, 'default backend failed (custom-http-errors, HTTP/2)');
        this.#reply(502, 'PORTICO_ERR_PROXY_UPSTREAM');
      },
    );
  }
  respondUpstream(headers: OutgoingHttpHeaders, endStream: boolean, waitForTrailers: boolean): boolean {
    this.#addProxyResponseFields(headers, this.#edits);
    return this.#respond(headers, endStream, waitForTrailers);
  }
  responseBytes(n: number): void {
    this.#bytes += n;
  }
  responseEnded(): void {
    this.#finished(false);
  }
  failUpstream(error: NodeJS.ErrnoException): void {
    this.#upstreamFailed(error);
  }
  sendBodyTo(writer: BodyWriter): void {
    this.#sendBody(writer);
  }
  /** The client sent no body (END_STREAM with its headers). */
  get bodyless(): boolean {
    return this.#noBody;
  }
  get pool(): UpstreamPool {
    return this.#context.pool;
  }
  get upstreamTimeoutMs(): number {
    return this.#context.timeouts.upstream;
  }

  #forwardGrpc(endpoint: Endpoint, edits: UpstreamEdits | undefined, policies: RoutePolicies | undefined, tls: UpstreamTls | undefined, upstreamStart: number, retry: (error: NodeJS.ErrnoException, reused: boolean) => boolean): void {
    this.#upstream = endpoint.key;
    let cancelled = false;
    this.#abortUpstream = () => (cancelled = true);
    const opened = this.#front.grpc.session(endpoint, tls, policies?.timeouts?.connectMs);
    const onSession = (session: ClientHttp2Session): void => {
      if (cancelled || this.#done) return;
      const headers: OutgoingHttpHeaders = {
        ':method': this.#method,
        ':path': edits?.target ?? this.#target,
        ':authority': edits?.host ?? this.#host,
        ':scheme': tls === undefined ? 'http' : 'https',
      };
      for (const [name, value] of this.#upstreamFields(edits, false)) appendField(headers, name, value);
      let upstream: ClientHttp2Stream;
      try {
        upstream = session.request(headers, { endStream: this.#noBody });
      } catch (error) {
        return this.#upstreamFailed(error as Error);
      }
      this.#abortUpstream = () => upstream.close(NGHTTP2_CANCEL);
      upstream.setTimeout(upstreamTimeoutOf(policies?.timeouts) ?? this.#context.timeouts.upstream, () => upstream.destroy(Object.assign(new Error('upstream timeout'), { code: 'PORTICO_UPSTREAM_TIMEOUT' })));
      upstream.on('error', (error: NodeJS.ErrnoException) => this.#upstreamFailed(error));
      upstream.on('close', () => {
        // Reset by the backend after the response began: the client's stream is reset too.
        if (!this.#done && this.#responseStarted && !this.#stream.destroyed && upstream.rstCode !== NGHTTP2_NO_ERROR) this.#stream.close(upstream.rstCode === NGHTTP2_CANCEL ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
        else if (!this.#done && !this.#responseStarted) this.#upstreamFailed(Object.assign(new Error('the gRPC backend closed the stream'), { code: 'ECONNRESET' }));
      });
      let trailers: IncomingHttpHeaders | undefined;
      upstream.on('trailers', (fields: IncomingHttpHeaders) => (trailers = fields));
      upstream.on('response', (fields: IncomingHttpHeaders, flags: number) => {
        if (this.#done) return;
        this.#upstreamMs = performance.now() - upstreamStart;
        const status = Number(fields[HTTP2_HEADER_STATUS] ?? 502);
        edits?.chooser?.observe?.(endpoint.key, this.#upstreamMs, status < 500);
        this.#upstreamStatus = status;
        const out: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: status };
        for (const [name, value] of Object.entries(fields)) {
          if (name.charCodeAt(0) === 0x3a || DROPPED_RESPONSE_FIELDS.has(name) || value === undefined) continue;
          out[name] = value;
        }
        this.#addProxyResponseFields(out, edits);
        // A trailers-only response (a gRPC error): the headers end the stream.
        const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
        if (!this.#respond(out, endStream, !endStream)) return upstream.close(NGHTTP2_CANCEL);
        if (endStream) return;
        this.#stream.once('wantTrailers', () => this.#sendTrailers(trailers ?? {}, false));
        this.#relay(upstream);
      });
      this.#sendBody(upstream);
    };
    if (opened instanceof Promise) {
      opened.then(onSession, (error: NodeJS.ErrnoException) => {
        if (cancelled || this.#done) return;
        if (!retry(error, false)) this.#upstreamFailed(error);
      });
    } else onSession(opened);
  }

  /** The client's body to the upstream request, counted against the body limit, with back-pressure. */
  #sendBody(upstream: BodyWriter): void {
    const stream = this.#stream;
    // A retry after a reset: the body listeners of the failed attempt go (no body byte was read).
    this.#detachBody();
    if (this.#noBody || stream.readableEnded) {
      stream.setTimeout(0);
      if (!upstream.writableEnded) upstream.end();
      stream.resume();
      return;
    }
    const limit = this.#bodyLimit;
    this.#onBody = (chunk: Buffer) => {
      this.#requestBytes += chunk.length;
      if (limit > 0 && this.#requestBytes > limit) {
        stream.removeListener('data', this.#onBody!);
        if (!this.#responseStarted) this.#reply(413, 'PORTICO_ERR_PROXY_BODY_TOO_LARGE');
        else stream.close(NGHTTP2_CANCEL);
        return;
      }
      this.#mirror?.write(chunk);
      if (!upstream.write(chunk)) {
        stream.pause();
        upstream.once('drain', () => stream.resume());
      }
    };
    this.#onBodyEnd = () => {
      stream.setTimeout(0);
      this.#mirror?.end();
      if (!this.#done || this.#responseStarted) upstream.end();
    };
    stream.on('data', this.#onBody);
    stream.once('end', this.#onBodyEnd);
    stream.resume();
  }

  #onBody: ((chunk: Buffer) => void) | undefined;
  #onBodyEnd: (() => void) | undefined;

  /** The request body stalled for the client timeout: 408 (nginx's client_body_timeout). */
  #clientStalled(): void {
    if (this.#stream.readableEnded) return;
    // Answered already: the rest of the body is not waited for.
    if (this.#done) return this.#stream.close(NGHTTP2_NO_ERROR);
    if (this.#responseStarted) this.#stream.close(NGHTTP2_CANCEL);
    else this.#reply(408, 'PORTICO_ERR_PROXY_BAD_REQUEST');
  }

  #upstreamFailed(error: NodeJS.ErrnoException): void {
    if (this.#done) return;
    this.#abortUpstream = undefined;
    if (this.#responseStarted) {
      if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.#context.logger.debug({ err: error.message, upstream: this.#upstream }, 'HTTP/2 request: upstream failed');
    if (error.code === 'PORTICO_UPSTREAM_TIMEOUT') this.#reply(504, 'PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT');
    else this.#reply(502, isUpstreamTlsFailure(error) ? 'PORTICO_ERR_PROXY_UPSTREAM_TLS' : 'PORTICO_ERR_PROXY_UPSTREAM');
  }

  #addProxyResponseFields(headers: OutgoingHttpHeaders, edits: UpstreamEdits | undefined): void {
    if (headers['server'] === undefined) headers['server'] = 'portico';
    const hsts = this.#listener.proto === 'https' ? this.#context.hsts : undefined;
    if (hsts !== undefined && headers['strict-transport-security'] === undefined) headers['strict-transport-security'] = hsts;
    if (edits !== undefined && edits.responseHeaders.length > 0) addFields(headers, edits.responseHeaders);
  }

  /** Sends the response head; false when the client is gone or the head cannot be sent. */
  #respond(headers: OutgoingHttpHeaders, endStream: boolean, waitForTrailers: boolean): boolean {
    const stream = this.#stream;
    if (stream.destroyed || stream.closed) return false;
    this.#status = headers[HTTP2_HEADER_STATUS] as number;
    try {
      stream.respond(headers, { endStream, waitForTrailers });
    } catch (error) {
      this.#context.logger.debug({ err: (error as Error).message }, 'HTTP/2 request: the upstream response head cannot be relayed');
      this.#reply(502, 'PORTICO_ERR_PROXY_UPSTREAM');
      return false;
    }
    this.#responseStarted = true;
    if (endStream) this.#finished(false);
    return true;
  }

  /** The upstream's body to the client, with back-pressure both ways. */
  #relay(body: ClientHttp2Stream): void {
    const stream = this.#stream;
    body.on('data', (chunk: Buffer) => {
      this.#bytes += chunk.length;
      if (!stream.write(chunk)) {
        body.pause();
        stream.once('drain', () => body.resume());
      }
    });
    body.once('end', () => {
      if (stream.destroyed) return;
      stream.end();
      this.#finished(false);
    });
    body.once('error', () => {
      if (!this.#done && !stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    });
  }

  sendTrailerList(trailers: ReadonlyArray<readonly [string, string]>): void {
    const flat: string[] = [];
    for (const [name, value] of trailers) flat.push(name, value);
    this.#sendTrailers(flat, true);
  }

  #sendTrailers(trailers: readonly string[] | IncomingHttpHeaders, raw: boolean): void {
    const out: OutgoingHttpHeaders = {};
    if (raw) {
      const list = trailers as readonly string[];
      for (let i = 0; i < list.length; i += 2) {
        const name = list[i]!.toLowerCase();
        if (!DROPPED_RESPONSE_FIELDS.has(name)) appendField(out, name, list[i + 1]!);
      }
    } else {
      for (const [name, value] of Object.entries(trailers as IncomingHttpHeaders)) if (name.charCodeAt(0) !== 0x3a && value !== undefined) out[name] = value;
    }
    try {
      this.#stream.sendTrailers(out);
    } catch {
      this.#stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  }

  /** The stream closed: an unfinished exchange is a client abort (499) or a reset mid-response. */
  #closed(): void {
    if (this.#done) return;
    this.#abortUpstream?.();
    this.#abortUpstream = undefined;
    this.#finished(true);
  }

  #releaseNow(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  #finished(aborted: boolean): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#release !== undefined) this.#releaseNow();
    const status = aborted && !this.#responseStarted ? 499 : this.#status;
    const seconds = (performance.now() - this.#start) / 1000;
    const context = this.#context;
    const match = this.#match;
    // Sizes are body bytes here: HTTP/2 headers travel HPACK-compressed.
    context.observer?.observeRequest(match, status, seconds, this.#upstreamMs !== undefined ? this.#upstreamMs / 1000 : undefined, this.#method, this.#requestBytes, this.#bytes);
    if (context.accessLog === undefined || match?.route?.policies?.accessLog === false) return;
    const headers = this.#headers;
    context.accessLog({
      client: this.#clientAddress,
      method: this.#method,
      host: this.#host || undefined,
      path: this.#target,
      status,
      bytes: this.#bytes,
      requestBytes: this.#requestBytes,
      durationMs: roundMs(seconds * 1000),
      upstream: this.#upstream,
      upstreamMs: this.#upstreamMs !== undefined ? roundMs(this.#upstreamMs) : undefined,
      upstreamStatus: this.#upstreamStatus,
      ingress: match?.ingress,
      service: match?.backend.key,
      requestId: this.#requestId,
      userAgent: typeof headers['user-agent'] === 'string' ? headers['user-agent'] : undefined,
      referer: typeof headers['referer'] === 'string' ? headers['referer'] : undefined,
      aborted: aborted ? true : undefined,
    });
  }
}

/** What a step sees of an HTTP/2 request (the same as of an HTTP/1.1 one). */
class H2StepRequest implements StepRequest {
  readonly #exchange: H2Exchange;
  readonly proto: 'http' | 'https';

  constructor(exchange: H2Exchange, proto: 'http' | 'https') {
    this.#exchange = exchange;
    this.proto = proto;
  }
  get method(): string {
    return this.#exchange.method;
  }
  get host(): string {
    return this.#exchange.host;
  }
  get target(): string {
    return this.#exchange.target;
  }
  get clientAddress(): string {
    return this.#exchange.clientAddress;
  }
  header(name: string): string | undefined {
    const value = this.#exchange.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }
  fields(): ReadonlyArray<readonly [string, string]> {
    const raw = this.#exchange.raw;
    const out: Array<readonly [string, string]> = [];
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.charCodeAt(0) !== 0x3a) out.push([raw[i]!, raw[i + 1]!]);
    // Steps that read Host (external auth copies the client's fields) see it as HTTP/1.1 would send it.
    if (this.#exchange.headers['host'] === undefined) out.unshift(['host', this.#exchange.host]);
    return out;
  }
}

function requestIdOf(value: string | string[] | undefined): string {
  return typeof value === 'string' && PASSABLE_REQUEST_ID.test(value) ? value : newRequestId();
}

function appendField(headers: OutgoingHttpHeaders, name: string, value: string): void {
  const existing = headers[name];
  if (existing === undefined) headers[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else headers[name] = [String(existing), value];
}

/** Step fields for the response: they replace the upstream's of the same names, Set-Cookie is added beside them. */
function addFields(headers: OutgoingHttpHeaders, fields: ReadonlyArray<readonly [string, string]>): void {
  const replaced = new Set<string>();
  for (const [field, value] of fields) {
    const name = field.toLowerCase();
    if (name !== 'set-cookie' && !replaced.has(name)) {
      replaced.add(name);
      delete headers[name];
    }
    appendField(headers, name, value);
  }
}

/** The upstream response fields not to copy: the ones a Connection field names (hop-by-hop). */
function responseDrop(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  const names = connection.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  return names.length === 0 ? undefined : new Set(names);
}

/** An HTTP/1.1 response head's fields as HTTP/2 fields: names lower-cased, connection-specific ones (and those Connection names) dropped. */
function copyResponseFields(headers: OutgoingHttpHeaders, response: ResponseHead): void {
  const connection = response.indexOf('connection');
  const drop = connection === -1 ? undefined : responseDrop(response.value(connection));
  for (let i = 0; i < response.fieldCount; i++) {
    const name = response.name(i).toLowerCase();
    if (DROPPED_RESPONSE_FIELDS.has(name) || drop?.has(name)) continue;
    appendField(headers, name, response.value(i));
  }
}

/**
 * One HTTP/1.1 exchange on a pooled upstream connection for an HTTP/2 stream: the connection's
 * events come here while it is held (holdUpstream), the response body is decoded from its framing
 * into the stream, and the connection goes back to the pool when the exchange ended cleanly.
 */
class H1Upstream implements UpstreamHolder {
  readonly #x: H2Exchange;
  readonly #socket: Socket;
  readonly #endpoint: Endpoint;
  readonly #tls: UpstreamTls | undefined;
  readonly #upstreamStart: number;
  readonly #reused: boolean;
  readonly #retry: (error: NodeJS.ErrnoException, reused: boolean) => boolean;
  readonly #parser = new ResponseHeadParser();
  readonly #timeoutMs: number;
  #response: ResponseHead | undefined;
  #length: LengthTracker | undefined;
  #chunked: ChunkedTracker | undefined;
  #over = false;
  #received = false;
  #bodySent = false;
  #keepAlive = true;
  #paused = false;

  constructor(x: H2Exchange, socket: Socket, endpoint: Endpoint, tls: UpstreamTls | undefined, policies: RoutePolicies | undefined, upstreamStart: number, reused: boolean, retry: (error: NodeJS.ErrnoException, reused: boolean) => boolean) {
    this.#x = x;
    this.#socket = socket;
    this.#endpoint = endpoint;
    this.#tls = tls;
    this.#upstreamStart = upstreamStart;
    this.#reused = reused;
    this.#retry = retry;
    this.#timeoutMs = upstreamTimeoutOf(policies?.timeouts) ?? x.upstreamTimeoutMs;
  }

  send(head: string): void {
    const socket = this.#socket;
    holdUpstream(socket, this);
    if (socket.timeout !== this.#timeoutMs) socket.setTimeout(this.#timeoutMs);
    this.#parser.expect(this.#x.method === 'HEAD' ? RESPONSE_TO_HEAD : RESPONSE_TO_OTHER);
    socket.write(head, 'latin1');
    const chunked = this.#x.chunkedBody;
    const self = this;
    this.#x.sendBodyTo({
      write(chunk: Buffer): boolean {
        if (self.#over || socket.destroyed) return true;
        if (!chunked) return socket.write(chunk);
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        return socket.write('\r\n', 'latin1');
      },
      end(): void {
        self.#bodySent = true;
        if (chunked && !self.#over && !socket.destroyed) socket.write('0\r\n\r\n', 'latin1');
      },
      once(_event: 'drain', listener: () => void) {
        return socket.once('drain', listener);
      },
    });
  }

  /** The client went (or Portico answered itself): the connection cannot be reused mid-exchange. */
  abort(): void {
    if (this.#over) return;
    this.#over = true;
    holdUpstream(this.#socket, undefined);
    this.#socket.destroy();
  }

  upstreamData(chunk: Buffer): void {
    this.#received = true;
    const x = this.#x;
    let at = 0;
    while (at < chunk.length && !this.#over) {
      if (this.#response === undefined) {
        const parser = this.#parser;
        const result = parser.feed(chunk, at);
        if (result === NEED_MORE) return;
        if (result === ERROR) return this.#failed(Object.assign(new Error('the upstream sent a malformed response'), { code: 'EPROTO' }));
        const response = parser.head!;
        if (response.interim) {
          // 103 Early Hints reach the client; 100 Continue is the proxy's business.
          if (response.status === 103) {
            const hints: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: 103 };
            copyResponseFields(hints, response);
            try {
              x.stream.additionalHeaders(hints);
            } catch {
              // A hint that cannot be relayed is dropped.
            }
          }
          parser.reset();
          parser.expect(x.method === 'HEAD' ? RESPONSE_TO_HEAD : RESPONSE_TO_OTHER);
          at = result;
          continue;
        }
        this.#response = response;
        this.#keepAlive = response.keepAlive;
        x.upstreamAnswered(response.status, performance.now() - this.#upstreamStart);
        // custom-http-errors: this response (and its connection) is dropped; the default backend answers.
        if (x.intercepts(response.status, this.#bodySent || x.bodyless)) {
          this.abort();
          return x.answerWithErrorPage(response.status);
        }
        const headers: OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: response.status };
        copyResponseFields(headers, response);
        const bodyless = x.method === 'HEAD' || NO_BODY_STATUSES.has(response.status) || response.framing === 'none' || (response.framing === 'length' && response.contentLength === 0);
        const trailers = !bodyless && response.framing === 'chunked' && response.indexOf('trailer') !== -1;
        at = result;
        if (!x.respondUpstream(headers, bodyless, trailers)) return this.abort();
        if (bodyless) {
          // Bytes after a body-less response: the connection is not clean, never reuse it.
          if (at < chunk.length) this.#keepAlive = false;
          return this.#complete(false);
        }
        if (response.framing === 'length') this.#length = new LengthTracker(response.contentLength);
        else if (response.framing === 'chunked') {
          const tracker = (this.#chunked = new ChunkedTracker());
          tracker.onData = (bytes, start, end) => this.#toClient(bytes.subarray(start, end));
          if (trailers) {
            tracker.keepTrailers = true;
            x.stream.once('wantTrailers', () => x.sendTrailerList(tracker.trailers));
          }
        }
        continue;
      }
      if (this.#length !== undefined) {
        const end = this.#length.feed(chunk, at);
        const until = end === NEED_MORE ? chunk.length : end;
        const bytes = at === 0 && until === chunk.length ? chunk : chunk.subarray(at, until);
        if (end === NEED_MORE) return this.#toClient(bytes);
        if (end < chunk.length) this.#keepAlive = false;
        // The last bytes go with END_STREAM (one write: a write then an end costs Node an extra
        // buffered write that the stream's close then errors out).
        this.#x.responseBytes(bytes.length);
        return this.#complete(true, bytes);
      }
      if (this.#chunked !== undefined) {
        const end = this.#chunked.feed(chunk, at);
        if (end === ERROR) return this.#cut();
        if (end === NEED_MORE) return;
        if (end < chunk.length) this.#keepAlive = false;
        return this.#complete(true);
      }
      // Close-delimited: everything until the upstream closes.
      this.#toClient(at === 0 ? chunk : chunk.subarray(at));
      return;
    }
  }

  upstreamClose(): void {
    if (this.#over) return;
    if (this.#response === undefined) {
      this.#over = true;
      // Nothing more is read for this attempt: a retry attaches the body to its own connection.
      this.#x.detachBody();
      const error = Object.assign(new Error('the upstream closed the connection'), { code: 'ECONNRESET' });
      // A kept-alive connection the upstream had closed: the request may go again (retry decides).
      if (this.#reused && !this.#received && this.#retry(error, true)) return;
      this.#x.failUpstream(error);
      return;
    }
    if (this.#length === undefined && this.#chunked === undefined) {
      this.#keepAlive = false;
      return this.#complete(true);
    }
    this.#cut();
  }

  upstreamTimeout(): void {
    if (this.#over) return;
    if (this.#response === undefined) return this.#failed(Object.assign(new Error('upstream timeout'), { code: 'PORTICO_UPSTREAM_TIMEOUT' }));
    this.#cut();
  }

  #toClient(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const stream = this.#x.stream;
    this.#x.responseBytes(bytes.length);
    // The stream keeps the bytes until they are framed and sent: they must outlive the upstream's read
    // buffer, and a lent one goes back once the write is done (nghttp2 completes it after the socket write).
    const kept = retainUpstreamBytes(this.#socket, bytes);
    if (stream.write(kept, () => returnUpstreamBytes(kept)) || this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
    stream.once('drain', () => {
      this.#paused = false;
      if (!this.#socket.destroyed) this.#socket.resume();
    });
  }

  #failed(error: NodeJS.ErrnoException): void {
    this.abort();
    this.#x.failUpstream(error);
  }

  /** Broken mid-response: the client's stream is reset, the connection dropped. */
  #cut(): void {
    this.abort();
    if (!this.#x.stream.destroyed) this.#x.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  #complete(endStream: boolean, last?: Buffer): void {
    this.#over = true;
    const socket = this.#socket;
    // Kept by the stream past this read (and past the release below, which gives the connection the shared read buffer back).
    if (last !== undefined && last.length > 0) last = retainUpstreamBytes(socket, last);
    if (this.#paused) {
      this.#paused = false;
      socket.resume();
    }
    // The connection goes back only when the request body was fully sent too.
    if (this.#keepAlive && (this.#bodySent || this.#x.bodyless)) this.#x.pool.release(this.#endpoint, socket, this.#tls);
    else {
      holdUpstream(socket, undefined);
      socket.destroy();
      // An early answer mid-upload: the rest of the body is read and dropped, not left waiting on this socket's 'drain'.
      this.#x.discardRequestBody();
    }
    if (endStream && !this.#x.stream.destroyed) {
      if (last !== undefined && last.length > 0) {
        const kept = last;
        this.#x.stream.end(kept, () => returnUpstreamBytes(kept));
      } else this.#x.stream.end();
    }
    this.#x.responseEnded();
  }
}

