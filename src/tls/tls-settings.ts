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

/**
 * One set of session-ticket keys for every context of this process, so a session resumed after the
 * SNI callback switched contexts still decrypts (resumption across hosts and across rotations).
 */
const TICKET_KEYS = randomBytes(48);

export const SECURE_CONTEXT_OPTIONS: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  honorCipherOrder: true,
  ecdhCurve: 'X25519:prime256v1:secp384r1',
  sessionTimeout: 300,
  ticketKeys: TICKET_KEYS,
};

/** Listener options: ALPN offers only HTTP/1.1 (the proxy speaks HTTP/1.1 downstream). */
export const TLS_SERVER_OPTIONS: TlsOptions = {
  ...SECURE_CONTEXT_OPTIONS,
  ALPNProtocols: ['http/1.1'],
};
