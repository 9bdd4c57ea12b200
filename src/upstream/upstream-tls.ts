// TLS to the pods (backend-protocol HTTPS / GRPCS) from a route's UpstreamTlsPolicy: the connect
// options (one secure context per policy: its CAs, client certificate, versions and ciphers),
// verification (chain against the proxy-ssl-secret's ca.crt only, the name, the depth), the key that
// keeps connections with different settings apart, and the error that marks a TLS failure.
import { createHash } from 'node:crypto';
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext } from 'node:tls';
import type { UpstreamTlsPolicy } from '../model/route-model.js';

export type UpstreamTls = UpstreamTlsPolicy;

/** The code on errors that are TLS failures to the pod (the client gets 502 PORTICO_ERR_PROXY_UPSTREAM_TLS). */
export const UPSTREAM_TLS_FAILED = 'PORTICO_UPSTREAM_TLS_FAILED';

const keys = new WeakMap<UpstreamTls, string>();
const contexts = new WeakMap<UpstreamTls, SecureContext>();
const named = new WeakMap<UpstreamTls, Map<string, UpstreamTls>>();
const refusals = new WeakMap<UpstreamTls, Error | null>();

/**
 * The policy with the name proxy-ssl-verify checks filled in: proxy-ssl-name, else the backend's
 * Service, `service.namespace.svc` (`backendKey` is `namespace/service/port`).
 */
export function upstreamTlsFor(tls: UpstreamTls | undefined, backendKey: string): UpstreamTls | undefined {
  if (tls?.verify === undefined || tls.verify.name !== undefined) return tls;
  let byBackend = named.get(tls);
  if (byBackend === undefined) named.set(tls, (byBackend = new Map()));
  let filled = byBackend.get(backendKey);
  if (filled === undefined) {
    const [namespace, service] = backendKey.split('/');
    filled = Object.freeze({ ...tls, verify: Object.freeze({ ...tls.verify, name: `${service}.${namespace}.svc` }) });
    byBackend.set(backendKey, filled);
  }
  return filled;
}

/** Connections are shared only between equal settings: a short digest of all of them. */
export function upstreamTlsKey(tls: UpstreamTls): string {
  let key = keys.get(tls);
  if (key === undefined) {
    const plain = tls.serverName === undefined && tls.verify === undefined && tls.clientCertificate === undefined && tls.minVersion === undefined && tls.maxVersion === undefined && tls.ciphers === undefined;
    key = plain ? 'tls' : `tls ${createHash('sha256').update(JSON.stringify([tls.serverName, tls.verify?.ca, tls.verify?.name, tls.verify?.depth, tls.clientCertificate?.cert, tls.clientCertificate?.key, tls.minVersion, tls.maxVersion, tls.ciphers])).digest('base64url').slice(0, 22)}`;
    keys.set(tls, key);
  }
  return key;
}

/** A failure to connect because of the route's settings (refused) or the TLS handshake. */
export function upstreamTlsError(message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, { cause }), { code: UPSTREAM_TLS_FAILED });
}

/** True for errors of the TLS handshake with the pod (or the route's refused settings). */
export function isUpstreamTlsFailure(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return false;
  // OpenSSL verify results (UNABLE_TO_VERIFY_LEAF_SIGNATURE, SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED…),
  // Node's (ERR_TLS_CERT_ALTNAME_INVALID) and OpenSSL's handshake errors (ERR_SSL_…).
  return code === UPSTREAM_TLS_FAILED || /^ERR_SSL_|^ERR_TLS_|CERT|ISSUER|SIGNATURE|^DEPTH_ZERO/.test(code);
}

/** tls.connect options for the policy (`ALPNProtocols` as given). Throws for a refused policy: call upstreamTlsRefusal first. */
export function upstreamTlsOptions(tls: UpstreamTls, alpn: string[]): ConnectionOptions {
  let secureContext = contexts.get(tls);
  if (secureContext === undefined) {
    secureContext = createSecureContext({
      // Only the Secret's CAs are trusted (not Node's bundled roots).
      ...(tls.verify !== undefined && { ca: tls.verify.ca }),
      ...(tls.clientCertificate !== undefined && { cert: tls.clientCertificate.cert, key: tls.clientCertificate.key }),
      ...(tls.minVersion !== undefined && { minVersion: tls.minVersion }),
      ...(tls.maxVersion !== undefined && { maxVersion: tls.maxVersion }),
      ...(tls.ciphers !== undefined && { ciphers: tls.ciphers }),
    });
    contexts.set(tls, secureContext);
  }
  const verify = tls.verify;
  return {
    secureContext,
    ALPNProtocols: alpn,
    ...(tls.serverName !== undefined && { servername: tls.serverName }),
    // proxy-ssl-verify off (ingress-nginx's default): the pod's certificate is not checked.
    rejectUnauthorized: verify !== undefined,
    ...(verify !== undefined && { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkUpstreamCertificate(verify.name, verify.depth, cert) }),
  };
}

/** Why the policy cannot be honoured (the request is then answered 502), or undefined. */
export function upstreamTlsRefusal(tls: UpstreamTls): Error | undefined {
  let refusal = refusals.get(tls);
  if (refusal === undefined) {
    if (tls.refused !== undefined) refusal = upstreamTlsError(`backend TLS refused: ${tls.refused}`);
    else {
      try {
        upstreamTlsOptions(tls, []);
        refusal = null;
      } catch (error) {
        // A proxy-ssl-ciphers list OpenSSL does not take (the compiler checks only its syntax).
        refusal = upstreamTlsError(`backend TLS settings unusable: ${(error as Error).message}`, error);
      }
    }
    refusals.set(tls, refusal);
  }
  return refusal ?? undefined;
}

/**
 * Called once the chain verified against the CAs: the name (proxy-ssl-name, or the Service's), then
 * the depth: at most `depth` intermediate CA certificates between the pod's and the trusted one
 * (OpenSSL's verify depth, which nginx's proxy_ssl_verify_depth sets).
 */
export function checkUpstreamCertificate(name: string | undefined, depth: number, cert: PeerCertificate): Error | undefined {
  if (name === undefined) return upstreamTlsError('backend certificate: no name to check');
  const mismatch = checkServerIdentity(name, cert);
  if (mismatch !== undefined) return mismatch;
  // The detailed certificate: issuerCertificate up to the trust anchor, which is its own issuer.
  let certificates = 1;
  let at = cert as PeerCertificate & { issuerCertificate?: PeerCertificate };
  while (at.issuerCertificate !== undefined && at.issuerCertificate !== at && certificates <= depth + 2) {
    at = at.issuerCertificate as PeerCertificate & { issuerCertificate?: PeerCertificate };
    certificates++;
  }
  const anchored = at.issuerCertificate === at;
  const intermediates = certificates - 1 - (anchored && certificates > 1 ? 1 : 0);
  if (intermediates > depth) return Object.assign(new Error(`backend certificate chain has ${intermediates} intermediate CA certificates, more than proxy-ssl-verify-depth ${depth}`), { code: 'CERT_CHAIN_TOO_LONG' });
  return undefined;
}
