// The DNS listeners: UDP and TCP (RFC 7766 two-byte length framing, several queries per
// connection) on the same address and port.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Transport } from './handler.js';

export type QueryHandler = (query: Uint8Array, transport: Transport) => Promise<Uint8Array | undefined>;

export interface DnsServerOptions {
  readonly host: string;
  /** 0 picks a free port (the same one for UDP and TCP). */
  readonly port: number;
  readonly handler: QueryHandler;
  readonly logger: Logger;
  /** A TCP connection idle this long is closed (default 10 s, CoreDNS's). */
  readonly tcpIdleMs?: number;
  /** At most this many TCP connections at once (default 1,000); more are refused. */
  readonly maxTcpConnections?: number;
}

export class DnsServer {
  readonly #options: DnsServerOptions;
  #udp: Socket | undefined;
  #tcp: Server | undefined;
  readonly #connections = new Set<TcpSocket>();
  #port = 0;

  constructor(options: DnsServerOptions) {
    this.#options = options;
  }

  get port(): number {
    return this.#port;
  }

  get host(): string {
    return this.#options.host;
  }

  async listen(): Promise<void> {
    const { host, port } = this.#options;
    // With port 0 the kernel picks the UDP port; the TCP one may be taken: retry a few times.
    for (let attempt = 0; ; attempt++) {
      const udp = await this.#bindUdp(host, port);
      const chosen = udp.address().port;
      try {
        this.#tcp = await this.#bindTcp(host, chosen);
        this.#udp = udp;
        this.#port = chosen;
        return;
      } catch (error) {
        udp.close();
        if (port !== 0 || attempt >= 10) throw error;
      }
    }
  }

  #bindUdp(host: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
      const onError = (error: NodeJS.ErrnoException) => reject(listenError('UDP', host, port, error));
      socket.once('error', onError);
      socket.bind(port, host, () => {
        socket.off('error', onError);
        socket.on('error', (error) => this.#options.logger.warn({ err: error }, `dns: UDP socket error: ${error.message}`));
        socket.on('message', (message, remote) => {
          this.#options.handler(message, 'udp').then(
            (reply) => {
              if (reply) socket.send(reply, remote.port, remote.address, () => undefined);
            },
            (error: unknown) => this.#options.logger.error({ err: error }, 'dns: query handler failed'),
          );
        });
        resolve(socket);
      });
    });
  }

  #bindTcp(host: string, port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.#serveTcp(socket));
      server.maxConnections = this.#options.maxTcpConnections ?? 1000;
      const onError = (error: NodeJS.ErrnoException) => reject(listenError('TCP', host, port, error));
      server.once('error', onError);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onError);
        resolve(server);
      });
    });
  }

  #serveTcp(socket: TcpSocket): void {
    this.#connections.add(socket);
    socket.setTimeout(this.#options.tcpIdleMs ?? 10_000, () => socket.destroy());
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered: Buffer = Buffer.alloc(0);
    // Replies go out in query order, one at a time (a slow forwarded query holds back the rest).
    let chain: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        chain = chain.then(async () => {
          const reply = await this.#options.handler(message, 'tcp').catch(() => undefined);
          if (socket.destroyed) return;
          if (!reply) {
            socket.destroy(); // undecodable framing or header: close, as CoreDNS does
            return;
          }
          const frame = Buffer.alloc(2 + reply.length);
          frame.writeUInt16BE(reply.length, 0);
          frame.set(reply, 2);
          socket.write(frame);
        });
      }
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#connections) socket.destroy();
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }
}

function listenError(transport: string, host: string, port: number, error: NodeJS.ErrnoException): PorticoError {
  const hint = error.code === 'EACCES' ? ' (port 53 needs root or CAP_NET_BIND_SERVICE)' : error.code === 'EADDRINUSE' ? ' (something else listens there)' : '';
  return new PorticoError('PORTICO_ERR_DNS_LISTEN', `cannot listen on ${transport} ${host}:${port}: ${error.message}${hint}`, { cause: error });
}
