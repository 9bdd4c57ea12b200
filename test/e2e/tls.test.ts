import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type IssuedCertificate } from '../../src/tls/certificate-factory.js';
import { ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, DATA_PLANES, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, tlsSecret, type EchoPod, type Harness } from '../helpers/e2e.js';
import { eventually } from '../helpers/http.js';
import { httpsRequest, sansOf, tlsHandshake } from '../helpers/tls-client.js';

const DAY = 86_400_000;
const DEFAULT_CN = 'Portico Default Certificate';

describe.each(DATA_PLANES)('TLS termination (data plane: %s)', (dataPlane) => {
  let ca: CertificateAuthority;
  let certs: Record<string, IssuedCertificate>;
  let pods: EchoPod[];
  let harness: Harness;

  const tlsIngress = (name: string, host: string, secretName: string | undefined, annotations?: Record<string, string>) =>
    ingress(`shop/${name}`, {
      className: 'portico',
      ...(annotations && { annotations }),
      tls: [{ hosts: [host], ...(secretName && { secretName }) }],
      rules: [rule(host, [prefix('/', name === 'api' ? 'api' : 'web', 80)])],
    });

  beforeAll(async () => {
    ca = createCertificateAuthority({ commonName: 'Test CA' });
    const leaf = (dnsNames: string[], extra: Partial<Parameters<typeof issueCertificate>[0]> = {}) =>
      issueCertificate({ commonName: dnsNames[0]!, dnsNames, issuer: ca, ...extra });
    certs = {
      web: leaf(['web.example.com']),
      apps: leaf(['*.apps.example.com']),
      api: leaf(['api.example.com']),
      other: leaf(['other.example.com']),
      expired: leaf(['expired.example.com'], { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }),
      future: leaf(['future.example.com'], { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) }),
      late: leaf(['late.example.com']),
    };
    pods = [...(await startEchoPods('web', 1)), ...(await startEchoPods('api', 1))];
    const badKey = { certPem: certs.web!.certPem, keyPem: certs.api!.keyPem };
    const garbage = tlsSecret('shop/garbage-tls', certs.web!);
    garbage.data = { 'tls.crt': Buffer.from('-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n').toString('base64'), 'tls.key': garbage.data!['tls.key']! };
    harness = await startHarness({
      '00-base.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', [pods[0]!]), ...serviceFor('shop/api', [pods[1]!])],
      'ingresses.yaml': [
        tlsIngress('web', 'web.example.com', 'web-tls'),
        tlsIngress('apps', '*.apps.example.com', 'apps-tls'),
        tlsIngress('api', 'api.example.com', 'api-tls', { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' }),
        tlsIngress('expired', 'expired.example.com', 'expired-tls'),
        tlsIngress('future', 'future.example.com', 'future-tls'),
        tlsIngress('mismatch', 'mismatch.example.com', 'other-tls'),
        tlsIngress('badkey', 'badkey.example.com', 'badkey-tls'),
        tlsIngress('garbage', 'garbage.example.com', 'garbage-tls'),
        tlsIngress('late', 'late.example.com', 'late-tls'),
        tlsIngress('nosecret', 'nosecret.example.com', undefined),
        ingress('shop/force', { className: 'portico', annotations: { 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' }, rules: [rule('force.example.com', [prefix('/', 'web', 80)])] }),
        ingress('shop/plain', { className: 'portico', rules: [rule('plain.example.com', [prefix('/', 'web', 80)])] }),
      ],
      'secrets.yaml': [
        tlsSecret('shop/web-tls', certs.web!),
        tlsSecret('shop/apps-tls', certs.apps!),
        tlsSecret('shop/api-tls', certs.api!),
        tlsSecret('shop/expired-tls', certs.expired!),
        tlsSecret('shop/future-tls', certs.future!),
        tlsSecret('shop/other-tls', certs.other!),
        tlsSecret('shop/badkey-tls', badKey),
        garbage,
      ],
    }, { dataPlane });
  });
  afterAll(async () => {
    await harness.close();
    await closePods(pods);
  });

  it('serves the right certificate per SNI, three Secrets on one port, wildcard included', async () => {
    for (const [servername, san] of [
      ['web.example.com', 'DNS:web.example.com'],
      ['api.example.com', 'DNS:api.example.com'],
      ['shop.apps.example.com', 'DNS:*.apps.example.com'],
      ['WEB.Example.COM', 'DNS:web.example.com'],
    ] as const) {
      const res = await httpsRequest({ port: harness.tlsPort, servername, ca: ca.certPem });
      expect(res.status, servername).toBe(200);
      expect(sansOf(res.certificate), servername).toEqual([san]);
    }
  });

  it('answers unknown SNI and no SNI with the default certificate', async () => {
    const unknown = await tlsHandshake({ port: harness.tlsPort, servername: 'unknown.example.com' });
    expect(unknown.getPeerCertificate().subject.CN).toBe(DEFAULT_CN);
    unknown.destroy();
    const noSni = await tlsHandshake({ port: harness.tlsPort }); // an IP address: Node sends no SNI
    expect(noSni.getPeerCertificate().subject.CN).toBe(DEFAULT_CN);
    noSni.destroy();
  });

  it('routes by Host, not by SNI, when the two differ', async () => {
    const res = await httpsRequest({ port: harness.tlsPort, servername: 'web.example.com', host: 'api.example.com', ca: ca.certPem });
    expect(sansOf(res.certificate)).toEqual(['DNS:web.example.com']);
    expect(res.status).toBe(200);
    expect(res.json?.service).toBe('api');
  });

  it.each([
    ['expired.example.com', 'PORTICO_ERR_TLS_CERT_EXPIRED', 'Secret shop/expired-tls'],
    ['future.example.com', 'PORTICO_ERR_TLS_CERT_EXPIRED', 'Secret shop/future-tls'],
    ['mismatch.example.com', 'PORTICO_ERR_TLS_CERT_HOST_MISMATCH', 'Secret shop/other-tls'],
    ['badkey.example.com', 'PORTICO_ERR_TLS_SECRET_INVALID', 'Secret shop/badkey-tls'],
    ['garbage.example.com', 'PORTICO_ERR_TLS_SECRET_INVALID', 'Secret shop/garbage-tls'],
    ['late.example.com', 'PORTICO_ERR_TLS_SECRET_MISSING', 'Ingress shop/late'],
  ])('%s: default certificate and a %s diagnostic, no crash', async (host, code, object) => {
    const socket = await tlsHandshake({ port: harness.tlsPort, servername: host });
    expect(socket.getPeerCertificate().subject.CN).toBe(DEFAULT_CN);
    socket.destroy();
    const line = harness.log.lines.find((l) => l.code === code && l.object === object);
    expect(line, `${code} on ${object}`).toBeDefined();
    // The host is still routed (over the default certificate).
    expect((await httpsRequest({ port: harness.tlsPort, servername: host })).status).toBe(200);
  });

  it('serves TLS without a secretName with the default certificate', async () => {
    const socket = await tlsHandshake({ port: harness.tlsPort, servername: 'nosecret.example.com' });
    expect(socket.getPeerCertificate().subject.CN).toBe(DEFAULT_CN);
    socket.destroy();
  });

  it('rotates certificates without a restart, keeping established connections', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
    const before = await httpsRequest({ port: harness.tlsPort, servername: 'web.example.com', agent, ca: ca.certPem });
    const rotated = issueCertificate({ commonName: 'web.example.com', dnsNames: ['web.example.com'], issuer: ca });
    // Created late: late.example.com gets its certificate once the Secret appears.
    await harness.write('secrets-2.yaml', [tlsSecret('shop/late-tls', certs.late!)]);
    // Updated in place: shop/web-tls now holds the rotated pair.
    await harness.write('secrets.yaml', [
      tlsSecret('shop/web-tls', rotated),
      tlsSecret('shop/apps-tls', certs.apps!),
      tlsSecret('shop/api-tls', certs.api!),
    ]);
    const fresh = await eventually(async () => {
      const res = await httpsRequest({ port: harness.tlsPort, servername: 'web.example.com', ca: ca.certPem });
      return res.certificate.fingerprint256 !== before.certificate.fingerprint256 ? res : undefined;
    }, 3000, 'new handshakes get the rotated certificate');
    expect(sansOf(fresh.certificate)).toEqual(['DNS:web.example.com']);
    // The keep-alive connection opened before the rotation still works, on its old certificate.
    const after = await httpsRequest({ port: harness.tlsPort, servername: 'web.example.com', agent, ca: ca.certPem });
    expect(after.status).toBe(200);
    expect(after.socket).toBe(before.socket);
    expect(after.certificate.fingerprint256).toBe(before.certificate.fingerprint256);
    agent.destroy();
    const late = await eventually(async () => {
      const res = await httpsRequest({ port: harness.tlsPort, servername: 'late.example.com', ca: ca.certPem }).catch(() => undefined);
      return res && sansOf(res.certificate)[0] === 'DNS:late.example.com' ? res : undefined;
    }, 3000, 'a Secret created late is picked up');
    expect(late.status).toBe(200);
    // Deleted: the Secret goes away, the host falls back to the default certificate.
    await harness.remove('secrets-2.yaml');
    await eventually(async () => {
      const socket = await tlsHandshake({ port: harness.tlsPort, servername: 'late.example.com' });
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      return cn === DEFAULT_CN;
    }, 3000, 'a deleted Secret falls back to the default certificate');
  });

  it('keeps serving the last valid certificate of a Secret updated into one that does not parse', async () => {
    const keep = issueCertificate({ commonName: 'keep.example.com', dnsNames: ['keep.example.com'], issuer: ca });
    const keepIngress = ingress('shop/keep', { className: 'portico', tls: [{ hosts: ['keep.example.com'], secretName: 'keep-tls' }], rules: [rule('keep.example.com', [prefix('/', 'web', 80)])] });
    await harness.write('keep.yaml', [keepIngress, tlsSecret('shop/keep-tls', keep)]);
    const servedName = async () => {
      const socket = await tlsHandshake({ port: harness.tlsPort, servername: 'keep.example.com' });
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      return cn;
    };
    await eventually(async () => (await servedName()) === 'keep.example.com', 3000, 'the valid certificate served');
    const broken = tlsSecret('shop/keep-tls', keep);
    broken.data = { ...broken.data, 'tls.crt': broken.data!['tls.crt']!.slice(0, 200) };
    await harness.write('keep.yaml', [keepIngress, broken]);
    await eventually(async () => harness.log.lines.some((l) => l.code === 'PORTICO_ERR_TLS_SECRET_INVALID' && l.object === 'Secret shop/keep-tls'), 3000, 'the broken Secret reported');
    expect(harness.log.lines.find((l) => l.object === 'Secret shop/keep-tls')?.msg).toMatch(/last valid certificate .* keeps serving/);
    expect(await servedName()).toBe('keep.example.com');
    await harness.remove('keep.yaml');
  });

  it('redirects plain HTTP to HTTPS with 308 for TLS hosts, keeping path and query, without a port', async () => {
    const res = await harness.get('web.example.com:8080', '/a/b?c=1&d=%2F');
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://web.example.com/a/b?c=1&d=%2F');
    expect((await harness.get('shop.apps.example.com', '/x')).headers.location).toBe('https://shop.apps.example.com/x');
    // ssl-redirect: "false" turns it off; force-ssl-redirect forces it without TLS; no TLS, no redirect.
    expect((await harness.get('api.example.com', '/')).status).toBe(200);
    expect((await harness.get('force.example.com', '/p?q')).headers.location).toBe('https://force.example.com/p?q');
    expect((await harness.get('plain.example.com', '/')).status).toBe(200);
    // Over HTTPS there is no redirect.
    expect((await httpsRequest({ port: harness.tlsPort, servername: 'web.example.com', ca: ca.certPem })).status).toBe(200);
  });

  it('adds HSTS (1 year, includeSubDomains) on HTTPS responses only', async () => {
    const tls = await httpsRequest({ port: harness.tlsPort, servername: 'api.example.com', ca: ca.certPem });
    expect(tls.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    const plain = await harness.get('api.example.com', '/');
    expect(plain.headers['strict-transport-security']).toBeUndefined();
    // Error replies over HTTPS carry it too.
    const notFound = await httpsRequest({ port: harness.tlsPort, servername: 'web.example.com', host: 'nowhere.example.com', ca: ca.certPem });
    expect(notFound.status).toBe(404);
    expect(notFound.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  it('negotiates TLS 1.2+ only, ALPN h2 on the engine (http/1.1 on the node plane), and resumes sessions', async () => {
    await expect(tlsHandshake({ port: harness.tlsPort, servername: 'web.example.com', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
    await eventually(async () => [...harness.running.handshakeFailures.keys()].length > 0, 2000, 'handshake failure counted');
    const first = await tlsHandshake({ port: harness.tlsPort, servername: 'web.example.com', ALPNProtocols: ['h2', 'http/1.1'], maxVersion: 'TLSv1.2' });
    expect(first.alpnProtocol).toBe(dataPlane === 'engine' ? 'h2' : 'http/1.1');
    expect(first.getProtocol()).toBe('TLSv1.2');
    const session = first.getSession();
    first.destroy();
    const second = await tlsHandshake({ port: harness.tlsPort, servername: 'web.example.com', maxVersion: 'TLSv1.2', ...(session && { session }) });
    expect(second.isSessionReused()).toBe(true);
    second.destroy();
  });

  it('exports certificate expiry per host and handshake failures by reason', async () => {
    const { httpRequest } = await import('../helpers/http.js');
    const metrics = (await httpRequest({ port: harness.running.admin.port, path: '/metrics' })).body;
    const notAfter = Math.floor(new Date(harness.running.sni.hosts.find((h) => h.host === 'api.example.com')!.notAfter!).getTime() / 1000);
    expect(metrics).toContain(`portico_ssl_certificate_expiry_timestamp_seconds{host="api.example.com",secret="shop/api-tls"} ${notAfter}`);
    expect(metrics).toMatch(/portico_ssl_certificate_expiry_timestamp_seconds\{host="expired.example.com",secret=""\} \d+/);
    expect(metrics).toMatch(/portico_tls_handshake_failures_total\{reason="[a-z_]+"\} [1-9]/);
  });

  it('works with curl', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-curl-'));
    try {
      await writeFile(join(dir, 'ca.crt'), ca.certPem);
      const { stdout } = await promisify(execFile)('curl', [
        '-s', '--cacert', join(dir, 'ca.crt'), '--resolve', `api.example.com:${harness.tlsPort}:127.0.0.1`,
        '-w', '\n%{http_code} %{ssl_verify_result}', `https://api.example.com:${harness.tlsPort}/hello?x=1`,
      ]);
      const [body, status] = stdout.split('\n');
      expect(status).toBe('200 0');
      expect(JSON.parse(body!)).toMatchObject({ service: 'api', path: '/hello?x=1' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('TLS options', () => {
  it('honours custom HSTS settings and --default-ssl-certificate', async () => {
    const ca = createCertificateAuthority({ commonName: 'Test CA 2' });
    const fallback = issueCertificate({ commonName: 'fallback.example.com', dnsNames: ['fallback.example.com'], issuer: ca });
    const pods = await startEchoPods('web', 1);
    const harness = await startHarness(
      {
        'all.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', pods), tlsSecret('portico/default-cert', fallback), ingress('shop/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80)])] })],
      },
      { hsts: { maxAge: 600, includeSubDomains: false }, defaultSslCertificate: 'portico/default-cert' },
    );
    try {
      const res = await httpsRequest({ port: harness.tlsPort, servername: 'unknown.example.com', host: 'web.example.com' });
      expect(res.status).toBe(200);
      expect(sansOf(res.certificate)).toEqual(['DNS:fallback.example.com']);
      expect(res.headers['strict-transport-security']).toBe('max-age=600');
      // No SNI at all: the listener's own context follows the default certificate too.
      const noSni = await tlsHandshake({ port: harness.tlsPort });
      expect(noSni.getPeerCertificate().subject.CN).toBe('fallback.example.com');
      noSni.destroy();
    } finally {
      await harness.close();
      await closePods(pods);
    }
  });
});
