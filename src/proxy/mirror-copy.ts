// mirror-target: a copy of the request goes to another URL, as nginx's `mirror`; its response is
// read and dropped. The copy never delays or fails the real request: it has its own connection
// (Connection: close), its body is the real body's bytes as they pass (mirror-request-body, or an
// empty body), and it is cut when its connection is slower than the client (over MAX_BUFFERED
// bytes waiting), fails, or takes longer than the upstream timeout. At most MAX_MIRRORS copies are
// in flight per process; beyond that a copy is skipped. The copy is HTTP/1.1 whatever the client
// spoke: the engine hands it the parsed HTTP/1.1 head, the HTTP/2 front its stream's fields (a
// MirrorSource each), and both the body bytes in the copy's framing.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '../lib/logger.js';
import type { MirrorRequest } from './policies/pipeline.js';

export const MAX_MIRRORS = 256;
export const MAX_BUFFERED = 1024 * 1024;
const WITHOUT_BODY = new Set(['content-length', 'x-forwarded-for', 'x-real-ip', 'x-request-id', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'expect']);
const WITH_BODY = new Set(['x-forwarded-for', 'x-real-ip', 'x-request-id', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'expect']);

let inFlight = 0;

/** Mirrors in flight in this process (tests). */
export const mirrorsInFlight = (): number => inFlight;

/** One mirror copy: body bytes are handed to it as the real request's pass. */
export interface MirrorCopy {
  /** Raw body bytes as received (chunked framing included). */
  write(bytes: Buffer): void;
}

const NOOP: MirrorCopy = { write: () => undefined };

/** The request being copied, whatever its protocol. */
export interface MirrorSource {
  /** The request target as the client sent it, origin-form (X-Original-URI). */
  readonly originalUri: string;
  /** The copy's body framing: the bytes written to the MirrorCopy are framed so (chunked: chunks and last chunk). */
  readonly framing: 'none' | 'length' | 'chunked';
  /**
   * The copy's HTTP/1.1 head: `METHOD target HTTP/1.1`, Host `host`, the client's end-to-end fields
   * but the `drop` ones (lower-case names), `Transfer-Encoding: chunked` for a chunked framing,
   * `extra`, and the blank line.
   */
  head(options: { readonly extra: string; readonly drop: ReadonlySet<string>; readonly target: string; readonly host: string }): Buffer | string;
}

export interface MirrorContext {
  readonly clientAddress: string;
  readonly requestId: string;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** Starts the copy of `source` (the request's body follows through the returned MirrorCopy). */
export function startMirror(mirror: MirrorRequest, source: MirrorSource, context: MirrorContext): MirrorCopy {
  if (inFlight >= MAX_MIRRORS) return NOOP;
  const url = mirror.url;
  const https = url.protocol === 'https:';
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const framing = source.framing;
  const withBody = mirror.body && framing !== 'none';
  let extra = `X-Original-URI: ${source.originalUri}\r\nX-Real-IP: ${context.clientAddress}\r\nX-Forwarded-For: ${context.clientAddress}\r\nX-Request-ID: ${context.requestId}\r\nConnection: close\r\n`;
  if (!withBody && framing === 'length') extra += 'Content-Length: 0\r\n';
  const requestHead = source.head({ extra, drop: withBody ? WITH_BODY : WITHOUT_BODY, target: `${url.pathname}${url.search}`, host: mirror.host });
  inFlight++;
  let done = false;
  const socket: Socket = https ? tlsConnect({ host: hostname, port, servername: /^[\d.]+$|:/.test(hostname) ? undefined : hostname, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }) : connect({ host: hostname, port });
  const finish = (error?: Error): void => {
    if (done) return;
    done = true;
    inFlight--;
    if (error !== undefined) context.logger.debug({ err: error.message, mirror: url.origin }, 'mirror request failed (the real request is not affected)');
    socket.destroy();
  };
  // A copy never holds the process (or a shutdown) open.
  socket.unref();
  socket.setTimeout(context.timeoutMs, () => finish(new Error('mirror timed out')));
  socket.on('error', finish);
  socket.on('close', () => finish());
  // The response is read and dropped.
  socket.on('data', () => undefined);
  socket.on('end', () => finish());
  socket.write(requestHead);
  const over = (): boolean => {
    if (socket.writableLength <= MAX_BUFFERED) return false;
    finish(new Error('mirror slower than the client; cut'));
    return true;
  };
  if (framing === 'chunked' && !withBody) socket.write('0\r\n\r\n');
  return {
    write: (bytes) => {
      if (done || !withBody || over()) return;
      socket.write(bytes);
    },
  };
}
