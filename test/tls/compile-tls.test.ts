import { beforeAll, describe, expect, it } from 'vitest';
import type { Secret } from '../../src/model/k8s-objects.js';
import type { TlsHost } from '../../src/model/route-model.js';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type IssuedCertificate } from '../../src/tls/certificate-factory.js';
import { compileTls } from '../../src/tls/compile-tls.js';
import { certificateCoversHost, parseTlsSecret } from '../../src/tls/parse-tls-secret.js';
import { tlsSecret } from '../helpers/e2e.js';

const NOW = new Date('2026-11-23T00:00:00Z');
const DAY = 86_400_000;

describe('TLS secrets and plans', () => {
  let ca: CertificateAuthority;
  let web: IssuedCertificate;
  let wildcard: IssuedCertificate;
  beforeAll(() => {
    ca = createCertificateAuthority({ commonName: 'Unit CA' });
    web = issueCertificate({ commonName: 'web.example.com', dnsNames: ['web.example.com', 'www.example.com'], issuer: ca, notBefore: new Date(NOW.getTime() - DAY), notAfter: new Date(NOW.getTime() + DAY) });
    wildcard = issueCertificate({ commonName: '*.apps.example.com', dnsNames: ['*.apps.example.com'], issuer: ca, notBefore: new Date(NOW.getTime() - DAY), notAfter: new Date(NOW.getTime() + DAY) });
  });

  describe('parseTlsSecret', () => {
    it('parses a chain and a matching key, with its names and validity', () => {
      const result = parseTlsSecret(tlsSecret('ns/web', web));
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.certificate.dnsNames).toEqual(['web.example.com', 'www.example.com']);
      expect(result.certificate.notAfter.getTime()).toBe(Math.floor((NOW.getTime() + DAY) / 1000) * 1000);
      expect(result.certificate.certPem).toContain(ca.certPem.trim()); // the chain is kept
    });

    it.each([
      ['no tls.crt', (s: Secret) => ({ ...s, data: { 'tls.key': s.data!['tls.key']! } }), 'Secret has no tls.crt'],
      ['no tls.key', (s: Secret) => ({ ...s, data: { 'tls.crt': s.data!['tls.crt']! } }), 'Secret has no tls.key'],
      ['text that is not PEM', (s: Secret) => ({ ...s, data: { ...s.data, 'tls.crt': Buffer.from('hello').toString('base64') } }), 'tls.crt holds no PEM certificate'],
      ['a corrupt certificate', (s: Secret) => ({ ...s, data: { ...s.data, 'tls.crt': Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----').toString('base64') } }), 'tls.crt is not a valid PEM certificate chain'],
      ['a corrupt key', (s: Secret) => ({ ...s, data: { ...s.data, 'tls.key': Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----').toString('base64') } }), 'tls.key is not a valid PEM private key'],
      ['a key of another certificate', (s: Secret) => ({ ...s, data: { ...s.data, 'tls.key': Buffer.from(wildcard.keyPem).toString('base64') } }), 'tls.key does not match the certificate in tls.crt'],
    ])('rejects %s', (_name, mutate, reason) => {
      const result = parseTlsSecret(mutate(tlsSecret('ns/web', web)));
      expect(result).toMatchObject({ ok: false, code: 'PORTICO_ERR_TLS_SECRET_INVALID' });
      expect(!result.ok && result.reason).toContain(reason);
    });
  });

  it.each([
    [['web.example.com'], 'web.example.com', true],
    [['web.example.com'], 'WEB.example.com', true],
    [['web.example.com'], 'api.example.com', false],
    [['*.example.com'], 'a.example.com', true],
    [['*.example.com'], 'a.b.example.com', false],
    [['*.example.com'], 'example.com', false],
    [['*.example.com'], '*.example.com', true],
    [['a.example.com'], '*.example.com', false],
  ])('certificateCoversHost(%j, %s) = %s', (names, host, covered) => {
    expect(certificateCoversHost(names, host)).toBe(covered);
  });

  describe('compileTls', () => {
    const hosts = (...entries: Array<[string, string | undefined]>): TlsHost[] =>
      entries.map(([host, secret]) => ({ host, ingress: 'ns/ing', ...(secret !== undefined && { secret }) }));

    it('maps hosts to valid certificates and others to the default, with one diagnostic per problem', () => {
      const secrets = new Map<string, Secret>([
        ['ns/web', tlsSecret('ns/web', web)],
        ['ns/apps', tlsSecret('ns/apps', wildcard)],
      ]);
      const plan = compileTls(
        hosts(['www.example.com', 'ns/web'], ['web.example.com', 'ns/web'], ['*.apps.example.com', 'ns/apps'], ['x.apps.example.com', 'ns/apps'], ['api.example.com', 'ns/web'], ['gone.example.com', 'ns/gone'], ['plain.example.com', undefined]),
        secrets,
        { now: NOW },
      );
      expect(plan.hosts).toEqual([
        { host: '*.apps.example.com', secret: 'ns/apps' },
        { host: 'api.example.com' },
        { host: 'gone.example.com' },
        { host: 'plain.example.com' },
        { host: 'web.example.com', secret: 'ns/web' },
        { host: 'www.example.com', secret: 'ns/web' },
        { host: 'x.apps.example.com', secret: 'ns/apps' },
      ]);
      expect([...plan.certificates.keys()].sort()).toEqual(['ns/apps', 'ns/web']);
      expect(plan.diagnostics.map((d) => [d.code, d.object.kind, d.object.name])).toEqual([
        ['PORTICO_ERR_TLS_CERT_HOST_MISMATCH', 'Secret', 'web'],
        ['PORTICO_ERR_TLS_SECRET_MISSING', 'Ingress', 'ing'],
      ]);
    });

    it('treats expired and not-yet-valid certificates as unusable, by the given clock', () => {
      const secrets = new Map([['ns/web', tlsSecret('ns/web', web)]]);
      const later = compileTls(hosts(['web.example.com', 'ns/web']), secrets, { now: new Date(NOW.getTime() + 2 * DAY) });
      expect(later.hosts).toEqual([{ host: 'web.example.com' }]);
      expect(later.diagnostics[0]?.message).toMatch(/expired at/);
      const earlier = compileTls(hosts(['web.example.com', 'ns/web']), secrets, { now: new Date(NOW.getTime() - 2 * DAY) });
      expect(earlier.diagnostics[0]).toMatchObject({ code: 'PORTICO_ERR_TLS_CERT_EXPIRED', message: expect.stringMatching(/not valid before/) });
    });

    it('parses each Secret object once', () => {
      const secret = tlsSecret('ns/web', web);
      const secrets = new Map([['ns/web', secret]]);
      const a = compileTls(hosts(['web.example.com', 'ns/web']), secrets, { now: NOW });
      const b = compileTls(hosts(['web.example.com', 'ns/web']), secrets, { now: NOW });
      expect(a.certificates.get('ns/web')).toBe(b.certificates.get('ns/web'));
    });

    it('keeps serving the last valid certificate of a Secret that stops parsing, not of one deleted or expired', () => {
      const good = compileTls(hosts(['web.example.com', 'ns/web']), new Map([['ns/web', tlsSecret('ns/web', web)]]), { now: NOW });
      // Caught half-written: the certificate's base64 cut in the middle.
      const whole = tlsSecret('ns/web', web);
      const torn = { ...whole, data: { ...whole.data, 'tls.crt': whole.data!['tls.crt']!.slice(0, 300) } };
      const broken = new Map([['ns/web', torn]]);
      const kept = compileTls(hosts(['web.example.com', 'ns/web']), broken, { now: NOW, lastValid: good.certificates });
      expect(kept.hosts).toEqual([{ host: 'web.example.com', secret: 'ns/web' }]);
      expect(kept.certificates.get('ns/web')).toBe(good.certificates.get('ns/web'));
      expect(kept.diagnostics).toEqual([expect.objectContaining({ object: expect.objectContaining({ kind: 'Secret', name: 'web' }), message: expect.stringContaining('last valid certificate (names: web.example.com, www.example.com) keeps serving') })]);
      // It carries on from plan to plan while the Secret stays broken.
      const again = compileTls(hosts(['web.example.com', 'ns/web']), broken, { now: NOW, lastValid: kept.certificates });
      expect(again.certificates.get('ns/web')).toBe(good.certificates.get('ns/web'));
      // No previous plan, a deleted Secret, or a kept certificate that has since expired: the default.
      expect(compileTls(hosts(['web.example.com', 'ns/web']), broken, { now: NOW }).hosts).toEqual([{ host: 'web.example.com' }]);
      expect(compileTls(hosts(['web.example.com', 'ns/web']), new Map(), { now: NOW, lastValid: good.certificates }).hosts).toEqual([{ host: 'web.example.com' }]);
      const expired = compileTls(hosts(['web.example.com', 'ns/web']), broken, { now: new Date(NOW.getTime() + 2 * DAY), lastValid: good.certificates });
      expect(expired.hosts).toEqual([{ host: 'web.example.com' }]);
    });

    it('uses --default-ssl-certificate when valid and reports it when not', () => {
      const secrets = new Map([['portico/default', tlsSecret('portico/default', web)]]);
      expect(compileTls([], secrets, { now: NOW, defaultSecret: 'portico/default' }).defaultCertificate?.dnsNames).toEqual(['web.example.com', 'www.example.com']);
      const missing = compileTls([], secrets, { now: NOW, defaultSecret: 'portico/nope' });
      expect(missing.defaultCertificate).toBeUndefined();
      expect(missing.diagnostics).toEqual([expect.objectContaining({ code: 'PORTICO_ERR_TLS_DEFAULT_CERT', message: expect.stringContaining('--default-ssl-certificate portico/nope') })]);
    });
  });
});
