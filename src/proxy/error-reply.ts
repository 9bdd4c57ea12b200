// The controller's own replies (404 no route, 503 no endpoints, 502/504 upstream, 400/431 bad requests).
// Small JSON bodies, built once per (status, code) and reused; they never echo request data.
import { STATUS_CODES } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../lib/errors.js';

/** What the client is told, by code: one status (503) has several causes. */
const MESSAGES_BY_CODE: Partial<Readonly<Record<ErrorCode, string>>> = {
  PORTICO_ERR_BACKEND_SERVICE_MISSING: 'The Service this route points at does not exist.',
  PORTICO_ERR_BACKEND_PORT_UNKNOWN: 'The Service has no port with the number or name this route gives.',
  PORTICO_ERR_BACKEND_NO_ENDPOINTS: 'The backend has no endpoints to send the request to.',
  PORTICO_ERR_PROXY_CLIENT_LIMIT: 'Too many connections from this client address.',
};

/** Else by status. */
const MESSAGES: Readonly<Record<number, string>> = {
  400: 'The request is malformed.',
  403: 'The client address is not allowed on this route.',
  404: 'No Ingress rule matches the request host and path.',
  408: 'The request was not received in time.',
  431: 'The request header fields are too large.',
  502: 'The upstream connection failed.',
  503: 'The backend cannot take the request.',
  504: 'The upstream did not answer in time.',
};

export interface ErrorReply {
  readonly status: number;
  readonly code: ErrorCode;
  readonly body: Buffer;
  /** Flat header list for writeHead. */
  readonly headers: readonly string[];
  /** The complete HTTP/1.1 response (with `Connection: close`), for raw sockets. */
  readonly raw: Buffer;
}

const cache = new Map<string, ErrorReply>();

export function errorReply(status: number, code: ErrorCode): ErrorReply {
  const cacheKey = `${status} ${code}`;
  let reply = cache.get(cacheKey);
  if (reply === undefined) {
    const message = MESSAGES_BY_CODE[code] ?? MESSAGES[status] ?? STATUS_CODES[status] ?? 'Error';
    const body = Buffer.from(`${JSON.stringify({ status, code, message })}\n`);
    const headers = [
      'server', 'portico',
      'content-type', 'application/json',
      'content-length', String(body.length),
      'cache-control', 'no-store',
    ];
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    head += 'connection: close\r\n\r\n';
    reply = { status, code, body, headers, raw: Buffer.concat([Buffer.from(head, 'latin1'), body]) };
    cache.set(cacheKey, reply);
  }
  return reply;
}

/**
 * Answers with the controller's error body. When the response has already started, or the client
 * is gone, the connection is destroyed instead. Returns the body bytes written (0 when destroyed).
 */
export function sendErrorReply(res: ServerResponse, status: number, code: ErrorCode): number {
  if (res.destroyed || res.writableEnded) return 0;
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  const reply = errorReply(status, code);
  res.writeHead(status, reply.headers as string[]);
  res.end(reply.body);
  return reply.body.length;
}

/** How long a socket that got a raw error reply may linger (half-closed) before it is destroyed. */
const LINGER_MS = 1_000;

function destroySocket(socket: Duplex): void {
  socket.destroy();
}

/**
 * Writes a complete error response on a raw socket (upgrade / clientError paths) and half-closes it;
 * the socket is destroyed shortly after, so a client still sending is not reset before it has read
 * the reply.
 */
export function writeErrorToSocket(socket: Duplex, status: number, code: ErrorCode): number {
  if (!socket.writable) {
    socket.destroy();
    return 0;
  }
  const reply = errorReply(status, code);
  socket.end(reply.raw);
  setTimeout(destroySocket, LINGER_MS, socket).unref();
  return reply.body.length;
}
