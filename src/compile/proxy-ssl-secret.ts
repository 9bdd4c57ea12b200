// The Secret behind proxy-ssl-secret, read at compile time into the route's upstreamTls policy:
// ca.crt (the CAs proxy-ssl-verify "on" trusts, and nothing else) and / or tls.crt + tls.key (the
// client certificate presented to the pods). As ingress-nginx (the location is denied), a missing
// or unusable Secret refuses the routes: every request gets 502 PORTICO_ERR_PROXY_UPSTREAM_TLS, never
// sent without the verification or the certificate it asked for.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Secret } from '../model/k8s-objects.js';
import type { UpstreamTlsPolicy } from '../model/route-model.js';
import type { ProxySslRequest } from './annotations/backend-protocol.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** `base`: the policy from the annotations (no refusal); the result has the Secret's contents, or `refused`. */
export function buildUpstreamTlsPolicy(base: UpstreamTlsPolicy, request: ProxySslRequest, secret: Secret | undefined): { policy: UpstreamTlsPolicy; problems: string[] } {
  const problems: string[] = [];
  const refuse = (why: string) => {
    problems.push(`${why}; every request to the Ingress's paths gets 502 rather than go to the pods without it`);
    return { policy: Object.freeze({ ...base, refused: why }), problems };
  };
  if (request.secret === undefined) return refuse('proxy-ssl-verify "on" needs proxy-ssl-secret with a ca.crt to verify against');
  const name = `Secret ${request.secret}`;
  if (secret === undefined) return refuse(`${name} (proxy-ssl-secret) does not exist`);
  const data = secret.data ?? {};
  const decode = (key: string) => (data[key] === undefined ? undefined : Buffer.from(data[key]!, 'base64').toString('utf8'));
  const caPem = decode('ca.crt');
  const certPem = decode('tls.crt');
  const keyPem = decode('tls.key');
  if (caPem === undefined && certPem === undefined && keyPem === undefined) return refuse(`${name} (proxy-ssl-secret) has neither ca.crt nor tls.crt and tls.key`);

  let ca: string | undefined;
  if (caPem !== undefined) {
    const blocks = caPem.match(PEM_CERT);
    if (blocks === null) return refuse(`ca.crt of ${name} holds no PEM certificate`);
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (error) {
        return refuse(`ca.crt of ${name} has a certificate that does not parse (${(error as Error).message})`);
      }
    }
    ca = blocks.join('\n') + '\n';
  }

  let clientCertificate: { cert: string; key: string } | undefined;
  if (certPem !== undefined || keyPem !== undefined) {
    if (certPem === undefined || keyPem === undefined) return refuse(`${name} has ${certPem === undefined ? 'tls.key without tls.crt' : 'tls.crt without tls.key'}`);
    const blocks = certPem.match(PEM_CERT);
    if (blocks === null) return refuse(`tls.crt of ${name} holds no PEM certificate`);
    try {
      const leaf = new X509Certificate(blocks[0]!);
      if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) return refuse(`tls.key of ${name} does not match its tls.crt`);
    } catch (error) {
      return refuse(`tls.crt / tls.key of ${name} do not parse (${(error as Error).message})`);
    }
    clientCertificate = Object.freeze({ cert: blocks.join('\n') + '\n', key: keyPem });
  }

  if (request.verify !== undefined && ca === undefined) return refuse(`proxy-ssl-verify "on" and ${name} has no ca.crt to verify against`);
  return {
    policy: Object.freeze({
      ...base,
      ...(request.verify !== undefined && { verify: Object.freeze({ ca: ca!, ...request.verify }) }),
      ...(clientCertificate !== undefined && { clientCertificate }),
    }),
    problems,
  };
}
