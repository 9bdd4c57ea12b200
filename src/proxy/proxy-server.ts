// The L7 proxy: listeners, routing, forwarding through keep-alive undici pools, upgrades.
//
// The request handler is independent of any http.Server: `handle(req, res, listener)` and
// `handleUpgrade(...)` work for whichever server `attach()` wires them to (plain HTTP from listen(),
// an HTTPS/SNI server later). Routes are swapped atomically with setRoutes(): one reference is
// replaced, a request keeps the match it resolved, and listeners never restart.
import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerOptions, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { BackendRegistry } from '../balancer/backend-registry.js';
import type { ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { RouteLookup, RouteMatch } from '../model/route-model.js';
import { answerFieldLines, newUpstreamEdits, pickEndpoint, settleSteps, type PipelineMatch, type StepAnswer, type StepRequest, type UpstreamEdits } from './policies/pipeline.js';
import { createAccessLogWriter, roundMs, type AccessLogField, type AccessLogWriter } from './access-log.js';
import { sendErrorReply, writeErrorToSocket } from './error-reply.js';
import { ForwardHandler } from './forward-handler.js';
import type { ForwardContext } from './forward-handler.js';
import type { RequestObserver } from '../model/request-observer.js';
import { buildRequestHead, clientAddressOf } from './hop-by-hop.js';
import type { ListenerInfo, RequestHead } from './hop-by-hop.js';
import { parseAbsoluteTarget } from './request-target.js';
import { openTunnel } from './upgrade-proxy.js';

export type { ListenerInfo } from './hop-by-hop.js';

export interface ProxyServerOptions {
  readonly backends: BackendRegistry;
  /** Routes to start with; until set, every request gets 404. */
  readonly routes?: RouteLookup<PipelineMatch>;
  readonly logger: Logger;
  /** One JSON line per request; omitted → no access log. */
  readonly accessLog?: Logger;
  /** The fields each access-log line carries (--access-log-fields); default all. */
  readonly accessLogFields?: readonly AccessLogField[];
  /** Per-request metrics (request count/duration by ingress and service). */
  readonly observer?: RequestObserver;
  /** Largest request head accepted, bytes; larger → 431. Default 16 KiB. */
  readonly maxHeaderSize?: number;
  /** Time to receive a whole request from the client, ms (Node's requestTimeout). Default 300 s. */
  readonly requestTimeout?: number;
  /** Time to receive the request head, ms. Default 60 s. */
  readonly headersTimeout?: number;
  /** Idle time of client keep-alive connections, ms. Default 75 s (ingress-nginx's default). */
  readonly keepAliveTimeout?: number;
  /** close(): time in-flight requests and tunnels get before connections are cut, ms. Default 25 s. */
  readonly drainTimeout?: number;
  /**
   * A request whose every known endpoint failed to connect waits this long for a newer endpoint set
   * before it is answered 502, ms. Default 1 s; 0 turns waiting off.
   */
  readonly endpointWaitMs?: number;
  /** close() also closes the registry's pools (default true). */
  readonly closeBackends?: boolean;
  /** Largest request body, bytes, where the route sets none (proxy-body-size); 0 or absent: no limit. Only a Content-Length is checked on this plane. */
  readonly maxBodySize?: number;
  /** Strict-Transport-Security on HTTPS responses (ingress-nginx defaults: on, 1 year, subdomains). */
  readonly hsts?: HstsOptions | false;
}

export interface HstsOptions {
  readonly maxAge: number;
  readonly includeSubDomains: boolean;
  readonly preload?: boolean;
}

export const DEFAULT_HSTS: HstsOptions = { maxAge: 31_536_000, includeSubDomains: true, preload: false };

/** The Strict-Transport-Security value for the options; undefined when off. */
export function renderHsts(hsts: HstsOptions | false): string | undefined {
  if (hsts === false) return undefined;
  return `max-age=${hsts.maxAge}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`;
}

export interface ListenOptions {
  readonly port: number;
  readonly host?: string;
  /** SO_REUSEPORT: several worker processes listen on one port and the kernel spreads connections (`--workers`). */
  readonly reusePort?: boolean;
}

export interface AttachOptions {
  readonly proto: 'http' | 'https';
  /** The listener port for X-Forwarded-Port; read from the server once it listens when omitted. */
  readonly port?: number;
}

/** Any listener the proxy can serve: plain HTTP, or HTTPS (TLS/SNI) created elsewhere. */
export type ProxyListener = HttpServer | HttpsServer;

interface UpgradeRejection {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly status: number;
  readonly code: ErrorCode;
  readonly host?: string | undefined;
  readonly match?: RouteMatch | undefined;
  readonly head?: RequestHead | undefined;
  readonly clientAddress: string;
  readonly start: number;
}

interface MutableContext extends ForwardContext {
  closing: boolean;
  accessLog: AccessLogWriter | undefined;
}

const SLASH = 0x2f;
const DEFAULT_LISTENER: ListenerInfo = { proto: 'http', port: '' };

function noop(): void {}

export class ProxyServer {
  #routes: RouteLookup<PipelineMatch> | undefined;
  readonly #ctx: MutableContext;
  readonly #options: ProxyServerOptions;
  readonly #servers = new Set<ProxyListener>();
  readonly #tunnels = new Set<Duplex>();
  #closed: Promise<void> | undefined;
  readonly #hsts: string | undefined;

  constructor(options: ProxyServerOptions) {
    this.#options = options;
    this.#hsts = renderHsts(options.hsts ?? DEFAULT_HSTS);
    this.#routes = options.routes;
    const accessLog: AccessLogWriter | undefined = options.accessLog && createAccessLogWriter(options.accessLog, options.accessLogFields);
    this.#accessLogFields = options.accessLogFields;
    this.#ctx = { backends: options.backends, logger: options.logger, accessLog, observer: options.observer, closing: false, endpointWaitMs: options.endpointWaitMs ?? 1_000 };
  }

  /** Replaces the routing table atomically; in-flight requests keep the match they resolved. */
  setRoutes(lookup: RouteLookup<PipelineMatch>): void {
    this.#routes = lookup;
    // The ConfigMap's log-format-upstream: a new writer only when the field list changed.
    const fields = lookup.accessLogFields ?? this.#options.accessLogFields;
    if (this.#options.accessLog !== undefined && fields !== this.#accessLogFields) {
      this.#accessLogFields = fields;
      this.#ctx.accessLog = createAccessLogWriter(this.#options.accessLog, fields);
    }
  }

  #accessLogFields: readonly AccessLogField[] | undefined;

  get routes(): RouteLookup<PipelineMatch> | undefined {
    return this.#routes;
  }

  /** Options for any http/https server this proxy is attached to (limits and timeouts). */
  get serverOptions(): ServerOptions {
    const o = this.#options;
    return {
      maxHeaderSize: o.maxHeaderSize ?? 16 * 1024,
      requestTimeout: o.requestTimeout ?? 300_000,
      headersTimeout: o.headersTimeout ?? 60_000,
      keepAliveTimeout: o.keepAliveTimeout ?? 75_000,
      noDelay: true,
      // A missing Host on HTTP/1.1 is answered by the proxy (400 with its own body), not by Node.
      requireHostHeader: false,
    };
  }

  /** Opens a plain HTTP listener; port 0 picks a free port. Resolves with the bound address. */
  async listen(options: ListenOptions): Promise<AddressInfo> {
    if (this.#ctx.closing) throw new Error('ProxyServer is closed');
    const server = createServer(this.serverOptions);
    this.attach(server, { proto: 'http' });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.#servers.delete(server);
        reject(err);
      };
      server.once('error', onError);
      server.listen({ port: options.port, host: options.host, ...(options.reusePort && { reusePort: true }) }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /**
   * Wires this proxy into a server created with `serverOptions` (an `https.createServer({ ...proxy.
   * serverOptions, SNICallback })` works the same way). The server is closed by close().
   */
  attach(server: ProxyListener, options: AttachOptions): void {
    const listener: ListenerInfo = { proto: options.proto, port: options.port === undefined ? '' : String(options.port) };
    if (options.port === undefined) {
      const fill = (): void => {
        const address = server.address();
        if (address !== null && typeof address === 'object') listener.port = String(address.port);
      };
      fill();
      server.on('listening', fill);
    }
    const logger = this.#ctx.logger;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, listener));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head, listener));
    server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', noop);
      writeErrorToSocket(socket, 400, 'PORTICO_ERR_PROXY_BAD_REQUEST');
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#onClientError(err, socket));
    server.on('error', (err: Error) => logger.error({ err }, 'proxy listener error'));
    this.#servers.add(server);
  }

  /** Handles one request (any listener). */
  handle(req: IncomingMessage, res: ServerResponse, listener: ListenerInfo = DEFAULT_LISTENER): void {
    const ctx = this.#ctx;
    if (ctx.closing) res.shouldKeepAlive = false;
    const fwd = new ForwardHandler(ctx, req, res);
    // HSTS on every HTTPS response, Portico's error pages included; a backend's own value wins.
    if (listener.proto === 'https') {
      // The route table's (the ConfigMap's hsts* keys) when it has one, else --hsts*.
      const fromTable = this.#routes?.hsts;
      fwd.hsts = fromTable === undefined ? this.#hsts : fromTable === false ? undefined : fromTable;
    }
    const url = fwd.target;
    let path: string;
    let authority: string | undefined;
    if (url.charCodeAt(0) === SLASH) {
      const q = url.indexOf('?');
      path = q < 0 ? url : url.slice(0, q);
    } else {
      const abs = parseAbsoluteTarget(url);
      if (abs === undefined) {
        fwd.reply(400, 'PORTICO_ERR_PROXY_BAD_REQUEST', undefined);
        return;
      }
      fwd.target = abs.target;
      authority = abs.authority;
      const q = abs.target.indexOf('?');
      path = q < 0 ? abs.target : abs.target.slice(0, q);
    }
    buildRequestHead(req.rawHeaders, fwd.clientAddress, listener, authority, fwd);
    if (fwd.host === undefined && req.httpVersionMinor === 1) {
      // RFC 9112 §3.2: an HTTP/1.1 request without Host is malformed.
      fwd.reply(400, 'PORTICO_ERR_PROXY_BAD_REQUEST', undefined);
      return;
    }
    const match = this.#routes?.lookup(fwd.host, path);
    if (match === undefined) {
      fwd.reply(404, 'PORTICO_ERR_PROXY_NO_ROUTE', undefined);
      return;
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      const limit = match.route?.policies?.maxBodySize ?? this.#options.maxBodySize ?? 0;
      if (limit > 0 && Number(declared) > limit) {
        res.shouldKeepAlive = false;
        fwd.reply(413, 'PORTICO_ERR_PROXY_BODY_TOO_LARGE', match);
        return;
      }
    }
    const pipeline = match.pipeline;
    if (pipeline === undefined) {
      this.#forward(fwd, match);
      return;
    }
    const edits = newUpstreamEdits();
    const result = pipeline.request(nodeStepRequest(req, fwd.host ?? '', fwd.target, listener.proto, fwd.clientAddress), edits);
    if (result instanceof Promise) {
      void settleSteps(result, this.#ctx.logger, match).then((answer) => this.#afterSteps(fwd, match, edits, answer));
      return;
    }
    this.#afterSteps(fwd, match, edits, result);
  }

  #afterSteps(fwd: ForwardHandler, match: PipelineMatch, edits: UpstreamEdits, answer: StepAnswer | undefined): void {
    // limit-connections: released with the request's log line, however it ends.
    if (edits.release !== undefined) fwd.release = edits.release;
    if (answer === undefined) {
      // fwd.headers is this request's own array (buildRequestHead made it).
      applyEdits(fwd.headers, edits);
      if (edits.target !== undefined) fwd.target = edits.target;
      // A canary's backend: logs and metrics name it too.
      this.#forward(fwd, edits.backend === undefined ? match : { ...match, backend: edits.backend }, edits);
    } else if (answer.kind === 'error') fwd.reply(answer.status, answer.code, match, answer.headers);
    else fwd.answerEmpty(answer, match);
  }

  #forward(fwd: ForwardHandler, match: PipelineMatch, edits?: UpstreamEdits): void {
    const ctx = this.#ctx;
    if (match.route?.policies?.grpc === true) {
      fwd.reply(502, 'PORTICO_ERR_PROXY_GRPC_CLIENT_PROTOCOL', match);
      return;
    }
    if (match.route?.policies?.upstreamTls !== undefined) {
      // backend-protocol HTTPS is the engine's: plain HTTP to a TLS port would be a worse failure.
      ctx.logger.warn({ ingress: match.ingress }, 'backend-protocol HTTPS needs --data-plane engine; answering 502');
      fwd.reply(502, 'PORTICO_ERR_PROXY_UPSTREAM', match);
      return;
    }
    let backend = ctx.backends.get(match.backend.key);
    // default-backend: serves the route while its Service has no endpoints.
    const fallback = match.route?.policies?.defaultBackend;
    if (fallback !== undefined && !(backend !== undefined && backend.current.endpoints.length > 0)) {
      const other = ctx.backends.get(fallback.key);
      if (other !== undefined && other.current.endpoints.length > 0) [match, backend] = [{ ...match, backend: fallback }, other];
    }
    if (backend === undefined) {
      fwd.reply(503, 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', match);
      return;
    }
    const problem = backend.current.problem;
    if (problem !== undefined) {
      fwd.reply(503, problem.code, match);
      return;
    }
    const endpoint = pickEndpoint(backend, edits);
    if (endpoint === undefined) {
      fwd.reply(503, 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', match);
      return;
    }
    // The steps' response fields, and pickSticky's Set-Cookie.
    if (edits !== undefined && edits.responseHeaders.length > 0) fwd.responseFields = edits.responseHeaders;
    if (edits?.chooser?.observe !== undefined) fwd.chooser = edits.chooser;
    fwd.forward(match, backend, endpoint);
  }

  /** Handles an upgrade request (WebSocket …) by tunnelling it to one endpoint. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, listener: ListenerInfo = DEFAULT_LISTENER): void {
    const start = performance.now();
    socket.on('error', noop);
    const clientAddress = clientAddressOf(req.socket.remoteAddress);
    const url = req.url ?? '';
    let target = url;
    let authority: string | undefined;
    if (url.charCodeAt(0) !== SLASH) {
      const abs = parseAbsoluteTarget(url);
      if (abs === undefined) {
        this.#rejectUpgrade({ req, socket, status: 400, code: 'PORTICO_ERR_PROXY_BAD_REQUEST', clientAddress, start });
        return;
      }
      target = abs.target;
      authority = abs.authority;
    }
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const requestHead: RequestHead = { headers: [], host: undefined, hasBody: false, upgrade: undefined, requestId: '' };
    buildRequestHead(req.rawHeaders, clientAddress, listener, authority, requestHead);
    let match = this.#routes?.lookup(requestHead.host, path);
    if (match === undefined) {
      this.#rejectUpgrade({ req, socket, status: 404, code: 'PORTICO_ERR_PROXY_NO_ROUTE', host: requestHead.host, head: requestHead, clientAddress, start });
      return;
    }
    const pipeline = match.pipeline;
    let edits: UpstreamEdits | undefined;
    if (pipeline !== undefined) {
      // The same steps as a plain request (an upgrade to a TLS host gets the ssl-redirect too).
      edits = newUpstreamEdits();
      const result = pipeline.request(nodeStepRequest(req, requestHead.host ?? '', target, listener.proto, clientAddress), edits);
      if (result instanceof Promise) {
        // Asynchronous steps are the engine's (--data-plane engine); this plane refuses rather than skip them.
        this.#rejectUpgrade({ req, socket, status: 500, code: 'PORTICO_ERR_PROXY_STEP_FAILED', host: requestHead.host, match, head: requestHead, clientAddress, start });
        result.catch(noop);
        return;
      }
      if (result !== undefined) {
        if (result.kind === 'error') this.#rejectUpgrade({ req, socket, status: result.status, code: result.code, host: requestHead.host, match, head: requestHead, clientAddress, start });
        else {
          socket.end(`HTTP/1.1 ${result.status} ${STATUS_CODES[result.status] ?? 'Redirect'}\r\nserver: portico\r\n${answerFieldLines(result)}content-length: 0\r\nconnection: close\r\n\r\n`);
        }
        return;
      }
      applyEdits(requestHead.headers, edits);
      if (edits.target !== undefined) target = edits.target;
      if (edits.backend !== undefined) match = { ...match, backend: edits.backend };
    }
    if (match.route?.policies?.upstreamTls !== undefined || match.route?.policies?.grpc === true) {
      // backend-protocol HTTPS and gRPC are the engine's (see #forward).
      this.#rejectUpgrade({ req, socket, status: 502, code: 'PORTICO_ERR_PROXY_UPSTREAM', host: requestHead.host, match, head: requestHead, clientAddress, start });
      return;
    }
    // limit-connections does not count tunnels on this data plane (the engine counts them until they close).
    edits?.release?.();
    const backend = this.#ctx.backends.get(match.backend.key);
    // An upgrade response is the 101 from the backend: a sticky pick is honoured, no cookie is set.
    const endpoint = backend?.current.problem !== undefined || backend === undefined ? undefined : pickEndpoint(backend, edits === undefined ? undefined : { ...edits, responseHeaders: [] });
    if (backend === undefined || endpoint === undefined) {
      const code = backend?.current.problem?.code ?? 'PORTICO_ERR_BACKEND_NO_ENDPOINTS';
      this.#rejectUpgrade({ req, socket, status: 503, code, host: requestHead.host, match, head: requestHead, clientAddress, start });
      return;
    }
    openTunnel({
      ctx: this.#ctx,
      req,
      socket,
      head,
      requestHead,
      target,
      match,
      backend,
      endpoint,
      clientAddress,
      start,
      connectTimeout: this.#ctx.backends.poolOptions.connectTimeout,
      tunnels: this.#tunnels,
    });
  }

  /**
   * From now on every response carries `Connection: close` while the listeners keep accepting:
   * keep-alive clients reconnect, and their new connections reach an endpoint that is still ready
   * (the shutdown grace period), so few idle connections are left to close when the drain starts.
   */
  endKeepAlive(): void {
    this.#ctx.closing = true;
  }

  /**
   * Stops accepting connections, lets in-flight requests finish (responses then carry
   * `Connection: close`), cuts what is left after `drainTimeout`, then closes the upstream pools.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#ctx.closing = true;
    const servers = [...this.#servers];
    const closed = servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    );
    const timer = setTimeout(() => {
      for (const server of servers) server.closeAllConnections();
      for (const tunnel of this.#tunnels) tunnel.destroy();
    }, this.#options.drainTimeout ?? 25_000);
    timer.unref();
    try {
      await Promise.all(closed);
    } finally {
      clearTimeout(timer);
    }
    if (this.#options.closeBackends !== false) await this.#ctx.backends.close();
  }

  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    // A response is already on the wire (pipelined request): nothing sensible can be added.
    if ((socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    let status = 400;
    let errorCode: ErrorCode = 'PORTICO_ERR_PROXY_BAD_REQUEST';
    if (code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      errorCode = 'PORTICO_ERR_PROXY_HEADERS_TOO_LARGE';
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
    }
    const bytes = writeErrorToSocket(socket, status, errorCode);
    const accessLog = this.#ctx.accessLog;
    if (accessLog !== undefined) {
      accessLog({
        client: clientAddressOf((socket as Partial<Socket>).remoteAddress),
        method: '',
        host: undefined,
        path: '',
        status,
        bytes,
        durationMs: 0,
        upstream: undefined,
        upstreamMs: undefined,
        ingress: undefined,
        service: undefined,
      });
    }
    this.#ctx.logger.debug({ code: errorCode, status, err: code || err.message }, 'malformed request');
  }

  #rejectUpgrade(r: UpgradeRejection): void {
    const bytes = writeErrorToSocket(r.socket, r.status, r.code);
    const accessLog = this.#ctx.accessLog;
    if (accessLog === undefined) return;
    accessLog({
      client: r.clientAddress,
      method: r.req.method ?? '',
      host: r.host,
      path: r.req.url ?? '',
      status: r.status,
      bytes,
      durationMs: roundMs(performance.now() - r.start),
      upstream: undefined,
      upstreamMs: undefined,
      ingress: r.match?.ingress,
      service: r.match?.backend.key,
      requestId: r.head?.requestId,
      userAgent: r.head?.userAgent,
      referer: r.head?.referer,
    });
  }
}

/** Applies request-step edits to a flat [name, value, …] header list. */
function applyEdits(headers: string[], edits: UpstreamEdits): void {
  if (edits.dropHeaders.length > 0) {
    for (let i = headers.length - 2; i >= 0; i -= 2) if (edits.dropHeaders.includes(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
  if (edits.host !== undefined) {
    let replaced = false;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'host') {
        headers[i + 1] = edits.host;
        replaced = true;
        break;
      }
    }
    if (!replaced) headers.push('Host', edits.host);
  }
  for (const [name, value] of edits.headers) headers.push(name, value);
}

function nodeStepRequest(req: IncomingMessage, host: string, target: string, proto: 'http' | 'https', clientAddress: string): StepRequest {
  return {
    method: req.method ?? 'GET',
    host,
    target,
    proto,
    clientAddress,
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    fields: () => {
      const out: Array<readonly [string, string]> = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
      return out;
    },
  };
}
