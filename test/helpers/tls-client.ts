import { request, type Agent } from 'node:https';
import { connect, type PeerCertificate, type TLSSocket, type ConnectionOptions } from 'node:tls';
import type { EchoReply } from './http.js';

export interface TlsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: EchoReply | undefined;
  certificate: PeerCertificate;
  socket: TLSSocket;
}

/** An HTTPS request to 127.0.0.1 with an explicit SNI server name and Host header. */
export function httpsRequest(options: {
  port: number;
  servername: string;
  host?: string;
  path?: string;
  ca?: string;
  agent?: Agent | false;
}): Promise<TlsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: options.port,
        servername: options.servername,
        path: options.path ?? '/',
        headers: { host: options.host ?? options.servername },
        agent: options.agent ?? false,
        ...(options.ca !== undefined ? { ca: options.ca } : { rejectUnauthorized: false }),
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const certificate = socket.getPeerCertificate();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          let json: EchoReply | undefined;
          try {
            json = JSON.parse(body) as EchoReply;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json, certificate, socket });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A bare TLS handshake (no HTTP); resolves with the socket after `secureConnect`. */
export function tlsHandshake(options: ConnectionOptions & { port: number }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', rejectUnauthorized: false, ...options }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Subject alternative names of a peer certificate, e.g. ['DNS:web.example.com']. */
export function sansOf(certificate: PeerCertificate): string[] {
  return (certificate.subjectaltname ?? '').split(', ').filter(Boolean);
}
