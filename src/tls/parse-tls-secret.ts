// A kubernetes.io/tls Secret → a parsed certificate + key, checked once per Secret change.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { ErrorCode } from '../lib/errors.js';
import type { Secret } from '../model/k8s-objects.js';

export interface ParsedCertificate {
  /** The whole chain as given (leaf first), and the key, as PEM text for createSecureContext. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly leaf: X509Certificate;
  /** DNS names the leaf covers: subjectAltName DNS entries, else the subject CN. Lower-case. */
  readonly dnsNames: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** sha256 of the leaf, for logs. */
  readonly fingerprint: string;
  /** sha256 of chain + key: identifies this exact pair, so a TLS context is built once per pair. */
  readonly id: string;
}

export type ParseTlsResult =
  | { readonly ok: true; readonly certificate: ParsedCertificate }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Parses `tls.crt` (leaf + chain) and `tls.key` and checks the key matches the leaf. */
export function parseTlsSecret(secret: Secret): ParseTlsResult {
  const data = secret.data ?? {};
  const crt = data['tls.crt'];
  const key = data['tls.key'];
  if (crt === undefined || key === undefined) {
    return invalid(`Secret has no ${crt === undefined ? 'tls.crt' : 'tls.key'}`);
  }
  const certPem = Buffer.from(crt, 'base64').toString('utf8');
  const keyPem = Buffer.from(key, 'base64').toString('utf8');
  const blocks = certPem.match(PEM_CERT);
  if (blocks === null) return invalid('tls.crt holds no PEM certificate');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]);
    for (const block of blocks.slice(1)) new X509Certificate(block);
  } catch (error) {
    return invalid(`tls.crt is not a valid PEM certificate chain: ${(error as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (error) {
    return invalid(`tls.key is not a valid PEM private key: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) return invalid('tls.key does not match the certificate in tls.crt');
  return {
    ok: true,
    certificate: {
      certPem,
      keyPem,
      leaf,
      dnsNames: dnsNamesOf(leaf),
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
      fingerprint: leaf.fingerprint256,
      id: createHash('sha256').update(certPem).update('\0').update(keyPem).digest('hex'),
    },
  };
}

function invalid(reason: string): ParseTlsResult {
  return { ok: false, code: 'PORTICO_ERR_TLS_SECRET_INVALID', reason };
}

function dnsNamesOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    // Format: `DNS:a.example.com, DNS:*.example.com, IP Address:1.2.3.4` (names may be quoted).
    const names = [...san.matchAll(/DNS:"?([^",]+)"?/g)].map((m) => (m[1] ?? '').trim().toLowerCase());
    if (names.length > 0) return names;
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [cn.trim().toLowerCase()] : [];
}

/**
 * Whether a certificate name list covers `host` (RFC 6125): exact, or a `*.` wildcard standing for
 * exactly one label. A wildcard host (`*.example.com`) is covered only by the same wildcard.
 */
export function certificateCoversHost(dnsNames: readonly string[], host: string): boolean {
  const name = host.toLowerCase();
  if (dnsNames.includes(name)) return true;
  if (name.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && dnsNames.includes(`*${name.slice(dot)}`);
}
