// A tiny "pod" for the demo, end-to-end tests and benchmarks: it answers every request with what it
// received, as JSON, with content-length set:
//
//   { pod, service, method, path (req.url, query included), host, headers, rawHeaders, body }
//
// `body` is the request body as UTF-8. Special paths (anything else is echoed):
//   /status/<code>          answer with that status (no body for 1xx/204/304); a bare /status is echoed
//   /delay/<ms>             wait <ms> before answering (the echo JSON)
//   /bytes/<n>              n bytes of 'x', content-length set (application/octet-stream)
//   /chunked/<n>            n bytes of 'x' in 16 KiB writes, no content-length (chunked)
//   /response-headers?k=v…  echo, with each query pair appended as a response header (duplicates
//                           kept, so `?set-cookie=a&set-cookie=b` sends two Set-Cookie lines)
//   /reset                  destroy the connection without answering
// WebSocket on any path: every message is echoed back (same type); the 101 carries `x-echo-pod`.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

export interface EchoServerOptions {
  /** Port to bind; 0 (default) picks a free one. */
  port?: number;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  podName: string;
  serviceName: string;
  /** The lab's node name: replies then carry `node` and `client` (the peer address the pod saw). */
  nodeName?: string;
}

export interface EchoServer {
  readonly port: number;
  readonly address: string;
  /** TCP connections accepted so far (keep-alive reuse shows as few connections, many requests). */
  readonly connections: number;
  /** HTTP requests answered so far (upgrades excluded). */
  readonly requests: number;
  close(): Promise<void>;
}

interface EchoReply {
  pod: string;
  node?: string;
  client?: string;
  service: string;
  method: string;
  path: string;
  host: string | undefined;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
}

const CHUNK = Buffer.alloc(16 * 1024, 'x');

function sendJson(res: ServerResponse, status: number, reply: EchoReply, extra: readonly string[] = []): void {
  const body = Buffer.from(JSON.stringify(reply));
  const headers: string[] = ['content-type', 'application/json', 'content-length', String(body.length)];
  headers.push(...extra);
  res.writeHead(status, headers);
  res.end(body);
}

function sendBytes(res: ServerResponse, n: number, chunked: boolean): void {
  if (!chunked) {
    res.writeHead(200, ['content-type', 'application/octet-stream', 'content-length', String(n)]);
    res.end(n <= CHUNK.length ? CHUNK.subarray(0, n) : Buffer.alloc(n, 'x'));
    return;
  }
  res.writeHead(200, ['content-type', 'application/octet-stream']);
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const piece = CHUNK.subarray(0, Math.min(left, CHUNK.length));
      left -= piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

export async function startEchoServer(options: EchoServerOptions): Promise<EchoServer> {
  const { podName, serviceName } = options;
  let connections = 0;
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();

  const answer = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    requests++;
    const url = req.url ?? '/';
    const reply: EchoReply = {
      pod: podName,
      ...(options.nodeName !== undefined && { node: options.nodeName, client: req.socket.remoteAddress ?? '' }),
      service: serviceName,
      method: req.method ?? '',
      path: url,
      host: req.headers.host,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body,
    };
    const [pathname = '', query = ''] = url.split('?', 2);
    const parts = pathname.split('/');
    const arg = Number(parts[2]);
    switch (parts[1]) {
      case 'status': {
        if (parts[2] === undefined) break; // a bare /status is an ordinary path: echoed (the demo routes it)
        const status = Number.isInteger(arg) && arg >= 100 && arg <= 999 ? arg : 400;
        if (status === 204 || status === 304 || status < 200) {
          res.writeHead(status);
          res.end();
        } else {
          sendJson(res, status, reply);
        }
        return;
      }
      case 'delay': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!res.destroyed) sendJson(res, 200, reply);
        }, Number.isFinite(arg) ? arg : 0);
        timers.add(timer);
        return;
      }
      case 'bytes':
      case 'chunked':
        sendBytes(res, Number.isFinite(arg) && arg >= 0 ? arg : 0, parts[1] === 'chunked');
        return;
      case 'response-headers': {
        const extra: string[] = [];
        for (const [k, v] of new URLSearchParams(query)) extra.push(k, v);
        sendJson(res, 200, reply, extra);
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
      default:
        break;
    }
    sendJson(res, 200, reply);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        answer(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        // e.g. /response-headers with a header Node refuses: answer 500 instead of crashing.
        if (!res.headersSent) res.writeHead(500, ['content-type', 'text/plain']);
        res.end(String((err as Error).message));
      }
    });
    req.on('error', () => res.destroy());
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket: Socket) => {
    connections++;
    socket.on('error', () => undefined);
  });

  const wss = new WebSocketServer({ noServer: true });
  wss.on('headers', (headers: string[]) => headers.push(`x-echo-pod: ${podName}`));
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => undefined);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    port: bound.port,
    address: bound.address,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
