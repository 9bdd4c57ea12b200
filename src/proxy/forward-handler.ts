// One proxied request: the undici dispatch handler that writes the upstream response straight into
// the Node ServerResponse (no pipe, no intermediate stream), plus the request's access-log state.
//
// The handler is the only per-request object the proxy allocates besides the upstream header list
// and the dispatch options; its methods live on the prototype, and the single `close` listener on
// the response is a module-level function.
import { upstreamTimeoutOf } from './policies/pipeline.js';
import type { EndpointChooser, StepAnswer } from './policies/step.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { BackendRegistry, RegisteredBackend } from '../balancer/backend-registry.js';
import type { ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Endpoint, RouteMatch } from '../model/route-model.js';
import { roundMs, type AccessLogWriter } from './access-log.js';
import { sendErrorReply } from './error-reply.js';
import { buildResponseHeaders, clientAddressOf } from './hop-by-hop.js';
import type { RequestHead } from './hop-by-hop.js';
import type { RequestObserver } from '../model/request-observer.js';

/** What every request shares: owned by ProxyServer. */
export interface ForwardContext {
  readonly backends: BackendRegistry;
  readonly logger: Logger;
  readonly accessLog: AccessLogWriter | undefined;
  readonly observer: RequestObserver | undefined;
  /** Set while the server shuts down: responses then carry `Connection: close`. */
  readonly closing: boolean;
  /**
   * How long a request whose every known endpoint failed to connect waits for a newer endpoint set
   * before it is answered 502 (ms; 0 disables waiting).
   */
  readonly endpointWaitMs: number;
}

type DispatchController = Dispatcher.DispatchController;
type DispatchHandler = Dispatcher.DispatchHandler;

const kForward = Symbol('portico.forward');
type ProxiedResponse = ServerResponse & { [kForward]?: ForwardHandler };

/** Errors where the connection failed before the upstream could have seen the request. */
const CONNECT_FAILURES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

/** Errors on an established connection before any response byte: safe to resend when idempotent. */
const RESET_BEFORE_RESPONSE: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

const TIMEOUTS: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** RFC 9110 §9.2.2. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Placeholder until buildRequestHead runs (never mutated). */
const NO_HEADERS: string[] = [];

function errorCodeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** The client's response closed (finished or aborted): one listener per request, shared function. */
function onResponseClose(this: ProxiedResponse): void {
  this[kForward]?.onClientClose();
}

export class ForwardHandler implements DispatchHandler, RequestHead {
  // RequestHead, filled by buildRequestHead before dispatch.
  headers: string[] = NO_HEADERS;
  host: string | undefined = undefined;
  hasBody = false;
  upgrade: string | undefined = undefined;
  requestId = '';
  userAgent: string | undefined = undefined;
  referer: string | undefined = undefined;

  /** Origin-form target sent upstream; `req.url` unless the client used the absolute form. */
  target: string;
  /** Client address (IPv4-mapped IPv6 shown as IPv4): X-Forwarded-For, X-Real-IP, access log. */
  readonly clientAddress: string;
  /**
   * Strict-Transport-Security value for this response (HTTPS listeners only), set by ProxyServer.
   * Forwarded responses carry it in the writeHead header list; only Portico's own replies use
   * setHeader. (Any setHeader before writeHead(status, array) sends Node down its slow path: every
   * upstream header is then removeHeader'ed and appendHeader'ed one by one.)
   */
  hsts: string | undefined = undefined;
  /** Route steps' response fields (CORS), replacing the upstream's of the same names. */
  responseFields: ReadonlyArray<readonly [string, string]> | undefined = undefined;
  /** limit-connections: released with the log line. */
  release: (() => void) | undefined = undefined;
  /** load-balance: ewma: told the upstream's response time. */
  chooser: EndpointChooser | undefined = undefined;

  readonly #ctx: ForwardContext;
  readonly #req: IncomingMessage;
  readonly #res: ProxiedResponse;
  readonly #start: number;

  #match: RouteMatch | undefined = undefined;
  #backend: RegisteredBackend | undefined = undefined;
  #endpoint: Endpoint | undefined = undefined;
  #controller: DispatchController | null = null;
  #upstreamStart = 0;
  #upstreamMs = -1;
  #status = 0;
  #upstreamStatus: number | undefined = undefined;
  #bytes = 0;
  /** A request already sent was resent once (after a reset before any response byte). */
  #resent = false;
  /** Endpoints this request failed to connect to: each is tried once. */
  #failed: Set<string> | undefined = undefined;
  /** Waiting for a newer endpoint set: stops the wait. */
  #stopWaiting: (() => void) | undefined = undefined;
  #waitedForEndpoints = false;
  /** Request body bytes sent upstream (undici's onBodySent). */
  #requestBodyBytes = 0;
  /** onRequestStart ran for the current attempt: the request head may be on the wire. */
  #requestSent = false;
  #responseStarted = false;
  /** The upstream exchange is over (ended or failed). */
  #upstreamDone = false;
  /** The client response closed; anything still running upstream is aborted. */
  #clientGone = false;
  #logged = false;
  #onDrain: (() => void) | undefined = undefined;
  /** Body bytes still expected from a Content-Length response; -1 (or NaN) when not announced. */
  #bodyLeft = -1;
  /** The client response was ended together with the last body chunk, before onResponseEnd. */
  #clientEnded = false;

  constructor(ctx: ForwardContext, req: IncomingMessage, res: ServerResponse) {
    this.#start = performance.now();
    this.#ctx = ctx;
    this.#req = req;
    this.#res = res;
    this.target = req.url ?? '';
    this.clientAddress = clientAddressOf(req.socket.remoteAddress);
  }

  /** Answers with the controller's own error (400/404/503) and logs the request at once. */
  reply(status: number, code: ErrorCode, match: RouteMatch | undefined, fields?: ReadonlyArray<readonly [string, string]>): void {
    this.#match = match;
    this.#status = status;
    this.#upstreamDone = true;
    if (fields !== undefined && !this.#res.headersSent) for (const [name, value] of fields) this.#res.setHeader(name, value);
    this.#bytes = this.#sendError(status, code);
    this.#log(false);
  }

  /** Answers a redirect (308 for HTTP → HTTPS) or an empty answer with fields (a CORS preflight) and logs the request. */
  answerEmpty(answer: Exclude<StepAnswer, { kind: 'error' }>, match: RouteMatch): void {
    this.#match = match;
    this.#status = answer.status;
    this.#upstreamDone = true;
    const fields: string[] = answer.kind === 'redirect' ? ['location', answer.location] : answer.headers.flatMap(([name, value]) => [name, value]);
    try {
      this.#res.writeHead(answer.status, [...fields, 'server', 'portico', 'content-length', '0']);
    } catch {
      // A field Node refuses (the compiler allows only visible ASCII; this is the last guard): 500, never a crash.
      this.#status = 500;
      this.#bytes = this.#sendError(500, 'PORTICO_ERR_PROXY_STEP_FAILED');
      this.#log(false);
      return;
    }
    this.#res.end();
    this.#log(false);
  }

  /** Sends the request to `endpoint` of `backend` (already picked) and takes over the response. */
  forward(match: RouteMatch, backend: RegisteredBackend, endpoint: Endpoint): void {
    this.#match = match;
    this.#backend = backend;
    const res = this.#res;
    res[kForward] = this;
    res.on('close', onResponseClose);
    this.#upstreamStart = performance.now();
    this.#dispatch(endpoint);
  }

  #dispatch(endpoint: Endpoint): void {
    this.#endpoint = endpoint;
    this.#requestSent = false;
    const pool = this.#ctx.backends.pool(endpoint.key);
    if (pool === undefined) {
      // The endpoint was dropped between pick and dispatch (cannot happen synchronously; defensive).
      this.#fail(502, 'PORTICO_ERR_PROXY_UPSTREAM', new Error(`no pool for endpoint ${endpoint.key}`));
      return;
    }
    const req = this.#req;
    // proxy-read-/proxy-send-timeout: undici's per-request header and body timeouts (the larger of the two).
    const io = upstreamTimeoutOf(this.#match?.route?.policies?.timeouts);
    pool.dispatch(
      { path: this.target, method: req.method ?? 'GET', headers: this.headers, body: this.hasBody ? req : null, ...(io !== undefined && { headersTimeout: io, bodyTimeout: io }) },
      this,
    );
  }

  /** undici: a chunk of the request body went upstream (counted for the access log's requestBytes). */
  onBodySent(chunk: Uint8Array | string): void {
    this.#requestBodyBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  }

  onRequestStart(controller: DispatchController): void {
    this.#controller = controller;
    this.#requestSent = true;
    if (this.#clientGone) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(
    controller: DispatchController,
    statusCode: number,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    statusMessage?: string,
  ): void {
    if (statusCode < 200 || this.#clientGone) return; // 1xx informational responses are not relayed.
    this.#responseStarted = true;
    this.#upstreamMs = performance.now() - this.#upstreamStart;
    if (this.chooser !== undefined && this.#endpoint !== undefined) this.chooser.observe?.(this.#endpoint.key, this.#upstreamMs, statusCode < 500);
    this.#status = statusCode;
    this.#upstreamStatus = statusCode;
    const res = this.#res;
    if (this.#ctx.closing) res.shouldKeepAlive = false;
    const contentLength = headers['content-length'];
    this.#bodyLeft = typeof contentLength === 'string' ? Number(contentLength) : -1;
    try {
      const fields = this.responseFields === undefined ? buildResponseHeaders(headers, this.hsts) : setFields(buildResponseHeaders(headers, this.hsts), this.responseFields);
      if (statusMessage) res.writeHead(statusCode, statusMessage, fields);
      else res.writeHead(statusCode, fields);
    } catch (err) {
      // Node refused a header or status line from the upstream (invalid characters): 502.
      this.#responseStarted = false;
      this.#upstreamDone = true;
      controller.abort(err as Error);
      this.#fail(502, 'PORTICO_ERR_PROXY_UPSTREAM', err);
    }
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.#clientGone) return;
    this.#bytes += chunk.length;
    if (chunk.length === this.#bodyLeft) {
      // The last chunk of a Content-Length body (usually the only one): end() with it instead of
      // write() + end(). Node then sends it with the finish in one step, without the extra empty
      // write and tick that end() after write() costs. onResponseEnd follows and only records it.
      this.#clientEnded = true;
      this.#res.end(chunk);
      return;
    }
    this.#bodyLeft -= chunk.length;
    if (!this.#res.write(chunk)) {
      controller.pause();
      this.#res.once('drain', (this.#onDrain ??= () => this.#controller?.resume()));
    }
  }

  onResponseEnd(): void {
    this.#upstreamDone = true;
    if (!this.#clientGone && !this.#clientEnded) this.#res.end();
  }

  onResponseError(_controller: DispatchController | null, err: Error): void {
    if (this.#upstreamDone) return;
    if (this.#clientEnded) {
      // The client already has the whole body; nothing to tell it.
      this.#upstreamDone = true;
      return;
    }
    if (this.#clientGone) {
      this.#upstreamDone = true;
      return;
    }
    const code = errorCodeOf(err);
    if (!this.#responseStarted) {
      if (this.#retry(code, err)) return;
      this.#upstreamDone = true;
      this.#failBeforeResponse(code, err);
      return;
    }
    // The response already started: the client cannot be told; cut its connection.
    this.#upstreamDone = true;
    this.#ctx.logger.warn(
      { code: TIMEOUTS.has(code) ? 'PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT' : 'PORTICO_ERR_PROXY_UPSTREAM', upstream: this.#endpoint?.key, err: code || err.message },
      'upstream failed after the response started; closing the client connection',
    );
    this.#res.destroy();
  }

  #failBeforeResponse(code: string, err: Error): void {
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
      this.#fail(400, 'PORTICO_ERR_PROXY_BAD_REQUEST', err);
    } else if (TIMEOUTS.has(code)) {
      this.#fail(504, 'PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT', err);
    } else {
      this.#fail(502, 'PORTICO_ERR_PROXY_UPSTREAM', err);
    }
  }

  /**
   * Sends a failed attempt again when the upstream cannot have seen it. A connection that failed
   * before the request was written is retried, whatever the method, on every endpoint not tried yet
   * (each once); when every known endpoint has failed, the request waits up to `endpointWaitMs` for a
   * newer endpoint set (the source lags behind pods that just stopped). A request whose head was
   * already written is resent once, and only when body-less, idempotent and reset before any
   * response byte. Returns false when nothing is left to try.
   */
  #retry(code: string, err: Error): boolean {
    const endpoint = this.#endpoint;
    if (endpoint === undefined) return false;
    if (this.#requestSent) {
      if (this.#resent || this.hasBody || !RESET_BEFORE_RESPONSE.has(code) || !IDEMPOTENT.has(this.#req.method ?? '')) return false;
      this.#resent = true;
    } else if (!CONNECT_FAILURES.has(code)) {
      return false;
    }
    const failed = (this.#failed ??= new Set());
    failed.add(endpoint.key);
    const next = this.#pickUntried();
    if (next !== undefined) {
      this.#ctx.logger.debug({ upstream: endpoint.key, retry: next.key, err: code || err.message }, 'upstream connect failed; retrying on another endpoint');
      this.#dispatch(next);
      return true;
    }
    const waitMs = this.#ctx.endpointWaitMs;
    if (this.#requestSent || this.#waitedForEndpoints || waitMs <= 0) return false;
    this.#waitedForEndpoints = true;
    this.#ctx.logger.debug({ upstream: endpoint.key, err: code || err.message, waitMs }, 'every known endpoint failed to connect; waiting for a newer endpoint set');
    const timer = setTimeout(() => {
      this.#stopWaiting?.();
      this.#upstreamDone = true;
      this.#failBeforeResponse(code, err);
    }, waitMs);
    const unsubscribe = this.#ctx.backends.onSync(() => {
      const again = this.#pickUntried();
      if (again === undefined) return;
      this.#stopWaiting?.();
      this.#ctx.logger.debug({ retry: again.key }, 'retrying on an endpoint from the newer endpoint set');
      this.#dispatch(again);
    });
    this.#stopWaiting = () => {
      clearTimeout(timer);
      unsubscribe();
      this.#stopWaiting = undefined;
    };
    return true;
  }

  /** An endpoint of the backend's newest state this request has not failed on yet. */
  #pickUntried(): Endpoint | undefined {
    const key = this.#backend?.key;
    if (key === undefined) return undefined;
    // The registry updates backends in place, but a removed and re-added backend is a new object.
    const backend = this.#ctx.backends.get(key);
    if (backend === undefined || backend.current.problem !== undefined) return undefined;
    this.#backend = backend;
    return backend.balancer.pick(this.#failed);
  }

  #fail(status: number, code: ErrorCode, err: unknown): void {
    this.#status = status;
    this.#ctx.logger.warn(
      { code, status, upstream: this.#endpoint?.key, service: this.#match?.backend.key, err: errorCodeOf(err) || (err as Error)?.message },
      'upstream request failed',
    );
    this.#bytes = this.#sendError(status, code);
  }

  /** Portico's own error reply, with HSTS on HTTPS (set here: these replies are rare). */
  #sendError(status: number, code: ErrorCode): number {
    const res = this.#res;
    if (this.hsts !== undefined && !res.headersSent && !res.destroyed) res.setHeader('strict-transport-security', this.hsts);
    return sendErrorReply(res, status, code);
  }

  /** The client response closed: finished normally, or the client went away first. */
  onClientClose(): void {
    const res = this.#res;
    res[kForward] = undefined;
    if (!this.#upstreamDone && !this.#clientEnded) {
      this.#clientGone = true;
      if (this.#stopWaiting !== undefined) {
        this.#stopWaiting();
        this.#upstreamDone = true;
      }
      this.#controller?.abort(new Error('client closed the connection'));
    }
    this.#log(!res.writableFinished);
  }

  #log(aborted: boolean): void {
    if (this.#logged) return;
    this.#logged = true;
    this.release?.();
    const res = this.#res;
    const observer = this.#ctx.observer;
    if (observer !== undefined) {
      observer.observeRequest(
        this.#match,
        aborted && !res.headersSent ? 499 : this.#status,
        (performance.now() - this.#start) / 1000,
        this.#upstreamMs < 0 ? undefined : this.#upstreamMs / 1000,
        this.#req.method,
        requestHeadBytes(this.#req) + this.#requestBodyBytes,
        responseHeadBytes(res) + this.#bytes,
      );
    }
    const accessLog = this.#ctx.accessLog;
    if (accessLog === undefined || this.#match?.route?.policies?.accessLog === false) return;
    const req = this.#req;
    accessLog({
      client: this.clientAddress,
      method: req.method ?? '',
      host: this.host,
      path: req.url ?? '',
      status: aborted && !res.headersSent ? 499 : this.#status,
      bytes: this.#bytes,
      requestBytes: requestHeadBytes(req) + this.#requestBodyBytes,
      durationMs: roundMs(performance.now() - this.#start),
      upstream: this.#endpoint?.key,
      upstreamMs: this.#upstreamMs < 0 ? undefined : roundMs(this.#upstreamMs),
      upstreamStatus: this.#upstreamStatus,
      ingress: this.#match?.ingress,
      service: this.#match?.backend.key,
      requestId: this.requestId || undefined,
      userAgent: this.userAgent,
      referer: this.referer,
      aborted: aborted ? true : undefined,
    });
  }
}

/**
 * Bytes of the request line and headers as received (`METHOD target HTTP/x.y`, `name: value` lines,
 * CRLFs). Node decodes the head as latin1, one character per byte, so lengths are byte counts.
 */
export function requestHeadBytes(req: IncomingMessage): number {
  let bytes = (req.method ?? '').length + 1 + (req.url ?? '').length + 1 + 8 + 2 + 2;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) bytes += raw[i]!.length + 2 + raw[i + 1]!.length + 2;
  return bytes;
}

/** The response head node:http wrote (its `_header` text, ASCII by then); 0 when none was sent. */
function responseHeadBytes(res: ServerResponse): number {
  const head = (res as ServerResponse & { _header?: unknown })._header;
  return typeof head === 'string' ? head.length : 0;
}

/** `list` (flat name/value pairs) with `fields` set: same-named entries removed, the fields appended. */
function setFields(list: string[], fields: ReadonlyArray<readonly [string, string]>): string[] {
  // Set-Cookie (affinity) is added beside the backend's, never in their place.
  const names = new Set(fields.map(([name]) => name.toLowerCase()).filter((name) => name !== 'set-cookie'));
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (!names.has(list[i]!.toLowerCase())) out.push(list[i]!, list[i + 1]!);
  for (const [name, value] of fields) out.push(name, value);
  return out;
}
