import { randomBytes } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';

/**
 * Mozilla "intermediate" TLS 1.2 suites (forward secret, AEAD only); TLS 1.3 suites are Node's
 * defaults, which are all modern.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Session-ticket keys are 48 bytes (Node: name, HMAC secret, AES key). */
export const TICKET_KEYS_BYTES = 48;

/**
 * Fresh session-ticket keys. One set serves every context of a listener (an SniStore), so a session
 * resumed after the SNI callback switched contexts still decrypts; with `--workers` the primary makes
 * one set for all workers, so a client resumes on whichever worker the kernel hands it to.
 */
export function newTicketKeys(): Buffer {
  return randomBytes(TICKET_KEYS_BYTES);
}

export const SECURE_CONTEXT_OPTIONS: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  honorCipherOrder: true,
  ecdhCurve: 'X25519:prime256v1:secp384r1',
  sessionTimeout: 300,
};

/** Listener options for the node:http plane, which speaks HTTP/1.1 only (the engine chooses ALPN per handshake). */
export const TLS_SERVER_OPTIONS: TlsOptions = {
  ...SECURE_CONTEXT_OPTIONS,
  ALPNProtocols: ['http/1.1'],
};
