import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { EngineServer } from '../engine/engine-server.js';
import type { Logger } from '../lib/logger.js';
import type { ProxyServer } from '../proxy/proxy-server.js';
import type { SniStore } from '../tls/sni-store.js';
import { TLS_SERVER_OPTIONS } from '../tls/tls-settings.js';

/** What a TLS listener hands its decrypted connections to: the node:http server or the engine. */
export type TlsPlane = { readonly kind: 'node'; readonly proxy: ProxyServer } | { readonly kind: 'engine'; readonly engine: EngineServer };

export interface HttpsListenerOptions {
  /** Who serves the connections: the node:http proxy (an https.Server) or the engine (a tls.Server). */
  readonly plane: TlsPlane;
  readonly sni: SniStore;
  readonly port: number;
  readonly host?: string;
  /** SO_REUSEPORT, for `--workers` (every worker listens on the port itself). */
  readonly reusePort?: boolean;
  readonly logger: Logger;
  /** Called for every failed handshake with a short reason (an OpenSSL/Node error code). */
  readonly onHandshakeFailure?: (reason: string) => void;
}

export interface HttpsListener {
  readonly server: Server | TlsServer;
  readonly address: AddressInfo;
  /** Re-reads the default certificate for clients that send no SNI (after a default-certificate change). */
  refreshDefaultCertificate(): void;
}

/**
 * The HTTPS listener: certificates chosen per handshake by SNI from the SniStore, requests handed to
 * the same proxy handler as plain HTTP (routing is by Host, not by SNI).
 */
export async function listenHttps(options: HttpsListenerOptions): Promise<HttpsListener> {
  const { sni, logger } = options;
  const fallback = sni.fallbackCertificate;
  const tlsOptions = { ...TLS_SERVER_OPTIONS, ...sni.contextOptions, cert: fallback.certPem, key: fallback.keyPem, SNICallback: sni.sniCallback };
  const { plane } = options;
  // The engine offers h2 first (ingress-nginx's default); the node:http plane speaks HTTP/1.1 only.
  // noDelay: a response written in parts (HTTP/2 frames, a head then a body) must not wait for the
  // client's delayed ACK (Nagle); node:http sets it for its own servers, a tls.Server does not.
  const server: Server | TlsServer = plane.kind === 'node' ? createServer({ ...plane.proxy.serverOptions, ...tlsOptions }) : createTlsServer({ ...withoutAlpnList(tlsOptions), noDelay: true, ALPNCallback: ({ protocols }) => chooseProtocol(protocols, plane.engine.http2) });
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
    const reason = handshakeFailureReason(error);
    options.onHandshakeFailure?.(reason);
    logger.debug({ reason, client: socket.remoteAddress, err: error.message }, 'TLS handshake failed');
  });
  if (plane.kind === 'node') plane.proxy.attach(server as Server, { proto: 'https' });
  else plane.engine.serveTls(server as TlsServer);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host, ...(options.reusePort && { reusePort: true }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    address: server.address() as AddressInfo,
    refreshDefaultCertificate() {
      const current = sni.fallbackCertificate;
      server.setSecureContext({ ...sni.contextOptions, cert: current.certPem, key: current.keyPem });
    },
  };
}

/** A low-cardinality label for a failed handshake. */
export function handshakeFailureReason(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'client_reset';
  if (code === 'ERR_SSL_NO_SHARED_CIPHER') return 'no_shared_cipher';
  if (code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'protocol_version';
  if (code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' || code === 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' || code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN') return 'client_rejected_certificate';
  if (code === 'ERR_SSL_HTTP_REQUEST') return 'plain_http';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT' || /timeout/i.test(error.message)) return 'timeout';
  return code.startsWith('ERR_SSL_') ? code.slice(8).toLowerCase() : 'other';
}

/** ALPN on the engine: h2 first while HTTP/2 is on (read per handshake: the ConfigMap's use-http2 can change it), else HTTP/1.1; no match: no protocol agreed (the handshake fails, as with a fixed list). */
export function chooseProtocol(offered: readonly string[], http2: boolean): string | undefined {
  if (http2 && offered.includes('h2')) return 'h2';
  return offered.includes('http/1.1') ? 'http/1.1' : undefined;
}

/** ALPNCallback and ALPNProtocols exclude each other. */
function withoutAlpnList<T extends { ALPNProtocols?: unknown }>(options: T): Omit<T, 'ALPNProtocols'> {
  const { ALPNProtocols: _ignored, ...rest } = options;
  return rest;
}
