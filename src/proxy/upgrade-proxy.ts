// Upgrade requests (WebSocket, h2c …): a raw TCP tunnel to one endpoint. The request head is
// re-rendered (hop-by-hop removed except Connection/Upgrade, X-Forwarded-* set), then bytes are piped
// both ways; pipe() is fine here, it is per connection, not per request. The upstream's answer (101 or
// a refusal) reaches the client untouched.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RegisteredBackend } from '../balancer/backend-registry.js';
import type { ErrorCode } from '../lib/errors.js';
import type { Endpoint, RouteMatch } from '../model/route-model.js';
import { roundMs } from './access-log.js';
import { writeErrorToSocket } from './error-reply.js';
import type { ForwardContext } from './forward-handler.js';
import { renderUpgradeHead } from './hop-by-hop.js';
import type { RequestHead } from './hop-by-hop.js';

export interface TunnelOptions {
  readonly ctx: ForwardContext;
  readonly req: IncomingMessage;
  /** The client socket handed over by the server's 'upgrade' event. */
  readonly socket: Duplex;
  /** Bytes the client sent after the request head. */
  readonly head: Buffer;
  readonly requestHead: RequestHead;
  /** Origin-form target. */
  readonly target: string;
  readonly match: RouteMatch;
  readonly backend: RegisteredBackend;
  readonly endpoint: Endpoint;
  readonly clientAddress: string;
  readonly start: number;
  readonly connectTimeout: number;
  /** Live tunnels, so the server can end them on shutdown. */
  readonly tunnels: Set<Duplex>;
}

/** After one side of a tunnel hangs up, the other gets this long to finish before both are cut. */
const TUNNEL_LINGER_MS = 1_000;

const RETRIABLE: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ECONNRESET', 'ETIMEDOUT']);

/** Opens the tunnel; every outcome (including failures) ends in one access-log line. */
export function openTunnel(o: TunnelOptions): void {
  const { ctx, req, socket } = o;
  const bytesBefore = (socket as Partial<Socket>).bytesWritten ?? 0;
  let endpoint = o.endpoint;
  let upstream: Socket | undefined;
  let connected = false;
  let retried = false;
  let status = 0;
  let upstreamMs: number | undefined;
  let logged = false;

  o.tunnels.add(socket);

  const log = (aborted: boolean): void => {
    if (logged) return;
    logged = true;
    o.tunnels.delete(socket);
    const accessLog = ctx.accessLog;
    if (accessLog === undefined) return;
    accessLog({
      client: o.clientAddress,
      method: req.method ?? '',
      host: o.requestHead.host,
      path: req.url ?? '',
      status,
      bytes: ((socket as Partial<Socket>).bytesWritten ?? bytesBefore) - bytesBefore,
      durationMs: roundMs(performance.now() - o.start),
      upstream: endpoint.key,
      upstreamMs,
      ingress: o.match.ingress,
      service: o.match.backend.key,
      requestId: o.requestHead.requestId,
      userAgent: o.requestHead.userAgent,
      referer: o.requestHead.referer,
      aborted: aborted ? true : undefined,
    });
  };

  const fail = (httpStatus: number, code: ErrorCode, err: unknown): void => {
    status = httpStatus;
    ctx.logger.warn({ code, status: httpStatus, upstream: endpoint.key, err: (err as Error)?.message }, 'upgrade: upstream connection failed');
    writeErrorToSocket(socket, httpStatus, code);
    log(false);
  };

  const onSocketError = (): void => {
    upstream?.destroy();
  };
  socket.on('error', onSocketError);
  socket.once('close', () => {
    upstream?.destroy();
    log(status === 0);
  });
  socket.once('end', () => {
    // The client hung up; pipe() passes its FIN on. A backend that never closes its side would keep
    // the tunnel (and shutdown) waiting, so both are cut after the linger.
    setTimeout(() => {
      socket.destroy();
      upstream?.destroy();
    }, TUNNEL_LINGER_MS).unref();
  });

  const attempt = (): void => {
    const startedAt = performance.now();
    const up = connect({ host: endpoint.address, port: endpoint.port, noDelay: true });
    upstream = up;
    up.setTimeout(o.connectTimeout);
    up.once('timeout', () => {
      if (!connected) up.destroy(Object.assign(new Error('upstream connect timeout'), { code: 'ETIMEDOUT' }));
    });
    up.once('connect', () => {
      connected = true;
      up.setTimeout(0);
      upstreamMs = roundMs(performance.now() - startedAt);
      if (socket.destroyed) {
        up.destroy();
        return;
      }
      up.write(renderUpgradeHead(req.method ?? 'GET', o.target, o.requestHead));
      if (o.head.length > 0) up.write(o.head);
      up.once('data', (chunk: Buffer) => {
        // The status of the upstream's answer, for the access log: `HTTP/1.1 101 …`.
        const code = Number.parseInt(chunk.toString('latin1', 9, 12), 10);
        if (Number.isFinite(code)) status = code;
      });
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) {
        socket.destroy();
        return;
      }
      if (socket.destroyed) return;
      const code = err.code ?? '';
      if (!retried && RETRIABLE.has(code)) {
        const next = o.backend.balancer.pick(new Set([endpoint.key]));
        if (next !== undefined) {
          retried = true;
          endpoint = next;
          attempt();
          return;
        }
      }
      if (code === 'ETIMEDOUT') fail(504, 'PORTICO_ERR_PROXY_UPSTREAM_TIMEOUT', err);
      else fail(502, 'PORTICO_ERR_PROXY_UPSTREAM', err);
    });
    up.once('close', (hadError: boolean) => {
      if (!connected || upstream !== up) return;
      if (hadError) socket.destroy();
      else socket.end();
      // A client that never closes its side would keep the socket; destroy it after the linger.
      setTimeout(() => socket.destroy(), TUNNEL_LINGER_MS).unref();
    });
  };

  attempt();
}
