// nginx_ingress_controller_config_hash / portico_config_hash: a stable hash of the configuration a
// build put in place (ingress-nginx hashes its rendered nginx.conf model). The route model is plain
// sorted data (model/route-model.ts), so its JSON is stable; diagnostics are not configuration and
// are left out. Certificates count by identity (the pair's sha256 id), not by their PEM text.
import { createHash } from 'node:crypto';
import type { RouteModel } from '../model/route-model.js';
import type { TlsPlan } from '../tls/compile-tls.js';

/** A 48-bit hash (a whole number a Prometheus float carries exactly), never 0 (0 means "no configuration"). */
export function configHash(model: RouteModel, tls: TlsPlan | undefined): number {
  const { diagnostics: _diagnostics, ...routes } = model;
  const certificates = tls === undefined ? undefined : {
    hosts: tls.hosts,
    certificates: [...tls.certificates].map(([secret, certificate]) => [secret, certificate.id]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0)),
    defaultCertificate: tls.defaultCertificate?.id,
  };
  const text = JSON.stringify({ routes, tls: certificates }, (_key, value: unknown) =>
    value instanceof Map ? [...value] : value instanceof Set ? [...value] : value instanceof RegExp ? String(value) : value,
  );
  const hash = createHash('sha256').update(text).digest().readUIntBE(0, 6);
  return hash === 0 ? 1 : hash;
}
