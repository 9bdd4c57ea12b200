// Ingress TLS hosts + Secrets → which certificate serves which host, with diagnostics. Pure apart
// from the clock, which is an option. Each Secret object is parsed once (memoised by identity: the
// store replaces the object when the Secret changes), never per handshake.
import type { Secret } from '../model/k8s-objects.js';
import type { Diagnostic, DiagnosticObject, TlsHost } from '../model/route-model.js';
import { certificateCoversHost, parseTlsSecret, type ParsedCertificate, type ParseTlsResult } from './parse-tls-secret.js';

export interface TlsPlanHost {
  readonly host: string;
  /** Secret key whose certificate serves the host; undefined = the default certificate. */
  readonly secret?: string;
}

export interface TlsPlan {
  /** Every TLS host, sorted. */
  readonly hosts: readonly TlsPlanHost[];
  /** Valid certificates in use, by Secret key. */
  readonly certificates: ReadonlyMap<string, ParsedCertificate>;
  /** From --default-ssl-certificate when that Secret is valid. */
  readonly defaultCertificate?: ParsedCertificate;
  readonly diagnostics: readonly Diagnostic[];
}

export interface CompileTlsOptions {
  readonly now: Date;
  /** `namespace/name` of --default-ssl-certificate. */
  readonly defaultSecret?: string;
  /**
   * The previous plan's certificates. A Secret that still exists but no longer parses (a bad edit,
   * a manifest caught half-written) keeps serving its last valid certificate, as ingress-nginx
   * keeps its last good one; a deleted Secret does not.
   */
  readonly lastValid?: ReadonlyMap<string, ParsedCertificate>;
}

const parsed = new WeakMap<Secret, ParseTlsResult>();

function parseOnce(secret: Secret): ParseTlsResult {
  let result = parsed.get(secret);
  if (result === undefined) {
    result = parseTlsSecret(secret);
    parsed.set(secret, result);
  }
  return result;
}

function objectOf(kind: string, key: string): DiagnosticObject {
  const [namespace = 'default', name = key] = key.split('/');
  return { kind, namespace, name };
}

export function compileTls(tlsHosts: readonly TlsHost[], secrets: ReadonlyMap<string, Secret>, options: CompileTlsOptions): TlsPlan {
  const diagnostics: Diagnostic[] = [];
  const reported = new Set<string>();
  const report = (diagnostic: Diagnostic): void => {
    const id = `${diagnostic.code} ${diagnostic.object.namespace}/${diagnostic.object.name} ${diagnostic.message}`;
    if (reported.has(id)) return;
    reported.add(id);
    diagnostics.push(diagnostic);
  };
  const now = options.now.getTime();

  /** The usable certificate of a Secret, or a reason it is not usable (already reported). */
  const certificateOf = (key: string, onProblem: (code: Diagnostic['code'], message: string, object: DiagnosticObject) => void) => {
    const secret = secrets.get(key);
    if (secret === undefined) {
      onProblem('PORTICO_ERR_TLS_SECRET_MISSING', `Secret ${key} not found`, objectOf('Secret', key));
      return undefined;
    }
    const result = parseOnce(secret);
    let certificate: ParsedCertificate;
    if (result.ok) certificate = result.certificate;
    else {
      const kept = options.lastValid?.get(key);
      if (kept === undefined) {
        onProblem(result.code, result.reason, objectOf('Secret', key));
        return undefined;
      }
      report({
        severity: 'error',
        code: result.code,
        object: objectOf('Secret', key),
        message: `${result.reason}; its last valid certificate (names: ${kept.dnsNames.join(', ') || 'none'}) keeps serving`,
      });
      certificate = kept;
    }
    if (now < certificate.notBefore.getTime() || now > certificate.notAfter.getTime()) {
      const when = now < certificate.notBefore.getTime() ? `is not valid before ${certificate.notBefore.toISOString()}` : `expired at ${certificate.notAfter.toISOString()}`;
      onProblem('PORTICO_ERR_TLS_CERT_EXPIRED', `the certificate ${when}`, objectOf('Secret', key));
      return undefined;
    }
    return certificate;
  };

  const certificates = new Map<string, ParsedCertificate>();
  const hosts: TlsPlanHost[] = [];
  for (const tls of [...tlsHosts].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))) {
    if (tls.secret === undefined) {
      hosts.push({ host: tls.host });
      continue;
    }
    const secretKey = tls.secret;
    const certificate = certificateOf(secretKey, (code, message, object) => {
      const onIngress = code === 'PORTICO_ERR_TLS_SECRET_MISSING';
      report({
        severity: 'error',
        code,
        object: onIngress ? objectOf('Ingress', tls.ingress) : object,
        ...(onIngress && { field: 'spec.tls' }),
        message: onIngress
          ? `${message}; host ${tls.host} is served with the default certificate`
          : `${message}; hosts using it (e.g. ${tls.host} from Ingress ${tls.ingress}) are served with the default certificate`,
      });
    });
    if (certificate === undefined) {
      hosts.push({ host: tls.host });
      continue;
    }
    if (!certificateCoversHost(certificate.dnsNames, tls.host)) {
      report({
        severity: 'error',
        code: 'PORTICO_ERR_TLS_CERT_HOST_MISMATCH',
        object: objectOf('Secret', secretKey),
        message: `the certificate (names: ${certificate.dnsNames.join(', ') || 'none'}) does not cover host ${tls.host} of Ingress ${tls.ingress}; that host is served with the default certificate`,
      });
      hosts.push({ host: tls.host });
      continue;
    }
    certificates.set(secretKey, certificate);
    hosts.push({ host: tls.host, secret: secretKey });
  }

  let defaultCertificate: ParsedCertificate | undefined;
  if (options.defaultSecret !== undefined) {
    defaultCertificate = certificateOf(options.defaultSecret, (_code, message, object) =>
      report({
        severity: 'error',
        code: 'PORTICO_ERR_TLS_DEFAULT_CERT',
        object,
        message: `--default-ssl-certificate ${options.defaultSecret}: ${message}; using the generated self-signed certificate`,
      }),
    );
  }
  return defaultCertificate === undefined ? { hosts, certificates, diagnostics } : { hosts, certificates, defaultCertificate, diagnostics };
}
