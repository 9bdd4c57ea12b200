import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../tls/certificate-factory.js';
import { parseFlags, type FlagSpec } from './flags.js';

export const CERTS_FLAGS = {
  out: { type: 'string', default: 'certs', description: 'Directory to write into' },
  force: { type: 'boolean', description: 'Replace certificates that already exist' },
} as const satisfies Record<string, FlagSpec>;

/** The leaf certificates the demo and the tests use; file name → DNS names. */
export const DEV_CERTIFICATES: Readonly<Record<string, readonly string[]>> = {
  'web.example.com': ['web.example.com'],
  'wildcard.apps.example.com': ['*.apps.example.com'],
  'api.example.com': ['api.example.com'],
  localhost: ['localhost'],
};

export interface DevCertificates {
  readonly dir: string;
  readonly written: string[];
}

/**
 * Writes a dev CA (ca.crt/ca.key) and one leaf per DEV_CERTIFICATES entry (<name>.crt with the CA
 * appended as chain, <name>.key). Existing files are kept unless `force`, so reruns are cheap.
 */
export function writeDevCertificates(options: { dir: string; force?: boolean }): DevCertificates {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const caCrt = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  let ca: CertificateAuthority;
  const fresh = options.force === true || !existsSync(caCrt) || !existsSync(caKey);
  if (fresh) {
    ca = createCertificateAuthority({ commonName: 'Portico Dev CA' });
    writeFileSync(caCrt, ca.certPem);
    writeFileSync(caKey, ca.keyPem, { mode: 0o600 });
    written.push('ca.crt', 'ca.key');
  } else {
    ca = { certPem: readFileSync(caCrt, 'utf8'), keyPem: readFileSync(caKey, 'utf8') };
  }
  for (const [name, dnsNames] of Object.entries(DEV_CERTIFICATES)) {
    const crt = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    if (!fresh && existsSync(crt) && existsSync(key)) continue;
    const leaf = issueCertificate({ commonName: dnsNames[0] ?? name, dnsNames, issuer: ca, ...(name === 'localhost' && { ipAddresses: ['127.0.0.1'] }) });
    writeFileSync(crt, leaf.certPem);
    writeFileSync(key, leaf.keyPem, { mode: 0o600 });
    written.push(`${name}.crt`, `${name}.key`);
  }
  return { dir, written };
}

export async function runCertsCommand(argv: readonly string[]) {
  const flags = parseFlags(argv, CERTS_FLAGS);
  const result = writeDevCertificates({ dir: flags.out ?? 'certs', force: flags.force });
  process.stdout.write(
    result.written.length === 0
      ? `${result.dir}: certificates already present (use --force to replace them)\n`
      : `${result.dir}: wrote ${result.written.join(', ')}\nTrust ${join(result.dir, 'ca.crt')} in clients, e.g. curl --cacert ${join(result.dir, 'ca.crt')}\n`,
  );
  return { close: async () => undefined, done: true as const };
}
