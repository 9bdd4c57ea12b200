// Certificates made with node-forge: the self-signed default certificate, and the dev CA + leaf
// certificates `portico certs` writes. Keys come from node:crypto (native RSA keygen is ~50× faster
// than forge's JS one); forge builds and signs the X.509 structures.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface CertificateAuthority {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssuedCertificate {
  /** Leaf certificate, followed by the issuer's certificate when not self-signed (a chain). */
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CertificateOptions {
  readonly commonName: string;
  /** DNS names for subjectAltName; wildcards like `*.example.com` are allowed. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Signs with this CA; self-signed when absent. */
  readonly issuer?: CertificateAuthority;
  readonly keyBits?: number;
  /** Also usable as a TLS client certificate (extKeyUsage clientAuth), e.g. for proxy-ssl-secret. */
  readonly clientAuth?: boolean;
}

const DAY_MS = 86_400_000;

function newKeyPair(bits: number): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function serialNumber(): string {
  // Positive 16-byte serial (RFC 5280 §4.1.2.2): clear the top bit.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

/** A dev certificate authority (10 years unless notAfter says otherwise); signed by `issuer` (an intermediate CA), else self-signed. */
export function createCertificateAuthority(options: { commonName: string; notAfter?: Date; keyBits?: number; issuer?: CertificateAuthority }): CertificateAuthority {
  const keys = newKeyPair(options.keyBits ?? 2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 3650 * DAY_MS);
  const subject = [{ name: 'commonName', value: options.commonName }, { name: 'organizationName', value: 'Portico dev' }];
  cert.setSubject(subject);
  const issuer = options.issuer === undefined ? undefined : forge.pki.certificateFromPem(options.issuer.certPem);
  cert.setIssuer(issuer?.subject.attributes ?? subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(options.issuer === undefined ? keys.privateKey : (forge.pki.privateKeyFromPem(options.issuer.keyPem) as forge.pki.rsa.PrivateKey), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** A server certificate for the given names, signed by `issuer` or self-signed. */
export function issueCertificate(options: CertificateOptions): IssuedCertificate {
  const keys = newKeyPair(options.keyBits ?? 2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 365 * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: options.commonName }]);
  const altNames = [
    ...(options.dnsNames ?? [options.commonName]).map((value) => ({ type: 2, value })),
    ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, ...(options.clientAuth === true && { clientAuth: true }) },
    { name: 'subjectAltName', altNames },
  ]);
  let signingKey = keys.privateKey;
  let chainTail = '';
  if (options.issuer) {
    const issuerCert = forge.pki.certificateFromPem(options.issuer.certPem);
    cert.setIssuer(issuerCert.subject.attributes);
    signingKey = forge.pki.privateKeyFromPem(options.issuer.keyPem) as forge.pki.rsa.PrivateKey;
    chainTail = options.issuer.certPem;
  } else {
    cert.setIssuer(cert.subject.attributes);
  }
  cert.sign(signingKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert) + chainTail, keyPem: keys.keyPem };
}

/** The certificate served when no Secret matches: self-signed, like ingress-nginx's "Fake Certificate". */
export function createDefaultCertificate(): IssuedCertificate {
  return issueCertificate({ commonName: 'Portico Default Certificate', dnsNames: ['portico.invalid'] });
}
