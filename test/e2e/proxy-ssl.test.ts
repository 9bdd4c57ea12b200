// proxy-ssl-* end to end on the engine data plane, against real HTTPS (and HTTP/2 TLS) backends on
// loopback whose certificates a test CA issued: proxy-ssl-verify against the proxy-ssl-secret's
// ca.crt, the name checked (proxy-ssl-name, else service.namespace.svc), the verify depth, the
// client certificate (mTLS), proxy-ssl-protocols, and the routes refused (502) when the Secret is
// missing. Connections with different TLS settings are never shared: the refusing routes are asked
// after the accepting ones to the same backends, while their connections sit in the pool.
// Run once in-process and once with --workers 2 (the built CLI as worker processes).
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { connect as h2connect, createSecureServer, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import { createServer as createHttpsServer, type Server, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/tls/certificate-factory.js';
import { ingress, prefix, rule, secret } from '../helpers/objects.js';
import { PORTICO_CLASS, serviceFor, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { eventually } from '../helpers/http.js';
import { rawExchange } from '../proxy/proxy-fixture.js';
import { WORKER_ID_ENV } from '../../src/workers/worker.js';

const A = 'nginx.ingress.kubernetes.io/';
const b64 = (text: string) => Buffer.from(text).toString('base64');

// The built CLI, as --workers forks it (the workers describe needs `npm run build` first).
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'portico.js');
const WORKER_ARGS = ['controller', '--workers', '2', '--data-plane', 'engine', '--bind-address', '127.0.0.1', '--disable-access-log', '--log-level', 'warn'];

describe.each([1, 2])('proxy-ssl-* (data plane: engine, workers: %i)', (workers) => {
  let harness: Harness;
  const servers: Array<Server | Http2SecureServer> = [];
  let ports: Record<'good' | 'selfSigned' | 'mtls' | 'tls12' | 'deep' | 'grpc', number>;
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let clientCa: CertificateAuthority;

  const listen = async (server: Server | Http2SecureServer): Promise<number> => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };
  // Answers what it saw of the TLS connection.
  const httpsBackend = (options: ServerOptions) => {
    const server = createHttpsServer({ keepAliveTimeout: 30_000, ...options }, (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, servername: (socket as TLSSocket & { servername?: string | false }).servername || null, client: peer?.subject?.CN ?? null, protocol: socket.getProtocol(), cipher: socket.getCipher().name }));
    });
    server.on('upgrade', (_req, socket: TLSSocket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    return server;
  };

  const tlsIngress = (name: string, service: string, annotations: Record<string, string>) =>
    ingress(`shop/${name}`, { className: 'portico', annotations: { [`${A}backend-protocol`]: 'HTTPS', ...annotations }, rules: [rule(`${name}.example`, [prefix('/', service, 80)])] });
  const verifyWith = (caSecret: string, extra: Record<string, string> = {}) => ({ [`${A}proxy-ssl-verify`]: 'on', [`${A}proxy-ssl-secret`]: `shop/${caSecret}`, ...extra });

  const objects = (): KubeObject[] => [
    ...serviceFor('shop/secure', [{ port: ports.good } as EchoPod]),
    // The same pod under another Service name, which its certificate does not carry.
    ...serviceFor('shop/elsewhere', [{ port: ports.good } as EchoPod]),
    ...serviceFor('shop/selfsigned', [{ port: ports.selfSigned } as EchoPod]),
    ...serviceFor('shop/mtls', [{ port: ports.mtls } as EchoPod]),
    ...serviceFor('shop/tls12', [{ port: ports.tls12 } as EchoPod]),
    ...serviceFor('shop/deep', [{ port: ports.deep } as EchoPod]),
    ...serviceFor('shop/grpc', [{ port: ports.grpc } as EchoPod]),
    secret('shop/ca', { 'ca.crt': b64(ca.certPem) }),
    secret('shop/other-ca', { 'ca.crt': b64(otherCa.certPem) }),
    secret('shop/client', (() => {
      const client = issueCertificate({ commonName: 'portico-client', issuer: clientCa, clientAuth: true, keyBits: 2048 });
      return { 'tls.crt': b64(client.certPem), 'tls.key': b64(client.keyPem) };
    })()),
    tlsIngress('verify-ok', 'secure', verifyWith('ca')),
    tlsIngress('verify-wrong-ca', 'secure', verifyWith('other-ca')),
    tlsIngress('verify-named', 'elsewhere', verifyWith('ca', { [`${A}proxy-ssl-name`]: 'api.internal' })),
    tlsIngress('verify-wrong-name', 'secure', verifyWith('ca', { [`${A}proxy-ssl-name`]: 'other.internal' })),
    tlsIngress('verify-service-name', 'elsewhere', verifyWith('ca')),
    tlsIngress('verify-sni', 'secure', verifyWith('ca', { [`${A}proxy-ssl-name`]: 'api.internal', [`${A}proxy-ssl-server-name`]: 'on' })),
    tlsIngress('off-selfsigned', 'selfsigned', {}),
    tlsIngress('off-with-ca', 'selfsigned', { [`${A}proxy-ssl-secret`]: 'shop/other-ca', [`${A}proxy-ssl-verify`]: 'off' }),
    tlsIngress('verify-selfsigned', 'selfsigned', verifyWith('ca')),
    tlsIngress('mtls-ok', 'mtls', { [`${A}proxy-ssl-secret`]: 'shop/client' }),
    tlsIngress('mtls-none', 'mtls', {}),
    tlsIngress('missing-secret', 'secure', { [`${A}proxy-ssl-secret`]: 'shop/nope' }),
    tlsIngress('missing-verify', 'secure', { [`${A}proxy-ssl-verify`]: 'on' }),
    tlsIngress('tls12-default', 'tls12', {}),
    tlsIngress('tls13-only', 'tls12', { [`${A}proxy-ssl-protocols`]: 'TLSv1.3' }),
    tlsIngress('cipher-one', 'tls12', { [`${A}proxy-ssl-ciphers`]: 'ECDHE-RSA-AES256-GCM-SHA384' }),
    tlsIngress('cipher-other', 'tls12', { [`${A}proxy-ssl-ciphers`]: 'ECDHE-RSA-AES128-GCM-SHA256' }),
    tlsIngress('cipher-bogus', 'tls12', { [`${A}proxy-ssl-ciphers`]: 'NO-SUCH-CIPHER' }),
    tlsIngress('deep-1', 'deep', verifyWith('ca', { [`${A}proxy-ssl-name`]: 'deep.internal' })),
    tlsIngress('deep-0', 'deep', verifyWith('ca', { [`${A}proxy-ssl-name`]: 'deep.internal', [`${A}proxy-ssl-verify-depth`]: '0' })),
    ingress('shop/grpc-ok', { className: 'portico', annotations: { [`${A}backend-protocol`]: 'GRPCS', ...verifyWith('ca', { [`${A}proxy-ssl-name`]: 'api.internal' }) }, rules: [rule('grpc-ok.example', [prefix('/', 'grpc', 80)])] }),
    ingress('shop/grpc-wrong-ca', { className: 'portico', annotations: { [`${A}backend-protocol`]: 'GRPCS', ...verifyWith('other-ca', { [`${A}proxy-ssl-name`]: 'api.internal' }) }, rules: [rule('grpc-wrong-ca.example', [prefix('/', 'grpc', 80)])] }),
    // A GRPCS session is never opened for a refused policy (a Secret that does not exist).
    ingress('shop/grpc-missing-secret', { className: 'portico', annotations: { [`${A}backend-protocol`]: 'GRPCS', [`${A}proxy-ssl-secret`]: 'shop/grpc-nope' }, rules: [rule('grpc-missing-secret.example', [prefix('/', 'grpc', 80)])] }),
  ];

  beforeAll(async () => {
    ca = createCertificateAuthority({ commonName: 'Backend CA', keyBits: 2048 });
    otherCa = createCertificateAuthority({ commonName: 'Other CA', keyBits: 2048 });
    clientCa = createCertificateAuthority({ commonName: 'Client CA', keyBits: 2048 });
    const pod = issueCertificate({ commonName: 'secure.shop.svc', dnsNames: ['secure.shop.svc', 'api.internal'], issuer: ca, keyBits: 2048 });
    const selfSigned = issueCertificate({ commonName: 'whatever', keyBits: 2048 });
    // A chain with one intermediate CA: ca → intermediate → pod.
    const intermediate = createCertificateAuthority({ commonName: 'Intermediate CA', issuer: ca, keyBits: 2048 });
    const deep = issueCertificate({ commonName: 'deep.internal', issuer: intermediate, keyBits: 2048 });
    ports = {
      good: await listen(httpsBackend({ cert: pod.certPem, key: pod.keyPem })),
      selfSigned: await listen(httpsBackend({ cert: selfSigned.certPem, key: selfSigned.keyPem })),
      mtls: await listen(httpsBackend({ cert: pod.certPem, key: pod.keyPem, requestCert: true, rejectUnauthorized: true, ca: clientCa.certPem })),
      tls12: await listen(httpsBackend({ cert: pod.certPem, key: pod.keyPem, maxVersion: 'TLSv1.2' })),
      deep: await listen(httpsBackend({ cert: deep.certPem, key: deep.keyPem })),
      grpc: await listen(
        (() => {
          const server = createSecureServer({ cert: pod.certPem, key: pod.keyPem });
          server.on('stream', (stream: ServerHttp2Stream) => {
            stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
            stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
            stream.end();
          });
          return server;
        })(),
      ),
    };
    harness = await startHarness(
      { '00-class.yaml': [PORTICO_CLASS], 'shop.yaml': objects() },
      {
        dataPlane: 'engine',
        // --workers 2: the policies (CAs, client key, versions) reach the worker processes through the snapshot.
        ...(workers > 1 && { workers: { count: workers, fork: (id: number) => fork(CLI, WORKER_ARGS, { env: { ...process.env, [WORKER_ID_ENV]: String(id) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }) } }),
      },
    );
    await eventually(async () => (await harness.get('off-selfsigned.example', '/')).status === 200, 5000, 'routes served');
  });

  afterAll(async () => {
    await harness?.close();
    for (const server of servers) server.close();
  });

  const get = async (host: string) => {
    const res = await harness.get(host, '/x');
    const body = JSON.parse(res.body) as Record<string, unknown>;
    return { status: res.status, body, code: body['code'] };
  };

  it('verify on with the right CA: 200; the name checked defaults to service.namespace.svc, else proxy-ssl-name', async () => {
    expect(await get('verify-ok.example')).toMatchObject({ status: 200, body: { path: '/x', servername: null } });
    expect((await get('verify-named.example')).status).toBe(200);
    // proxy-ssl-name is checked, and sent as SNI only with proxy-ssl-server-name on.
    expect(await get('verify-sni.example')).toMatchObject({ status: 200, body: { servername: 'api.internal' } });
  });

  it('verify on with another CA, a self-signed certificate, or a name the certificate lacks: 502 PORTICO_ERR_PROXY_UPSTREAM_TLS (never a pooled connection of another route)', async () => {
    // The accepting routes to the same pods have just left connections in the pool.
    expect((await get('verify-ok.example')).status).toBe(200);
    expect((await get('off-selfsigned.example')).status).toBe(200);
    for (const host of ['verify-wrong-ca.example', 'verify-wrong-name.example', 'verify-service-name.example', 'verify-selfsigned.example']) {
      expect(await get(host), host).toMatchObject({ status: 502, code: 'PORTICO_ERR_PROXY_UPSTREAM_TLS' });
    }
  });

  it('verify off (the default): 200 against any certificate, even with a ca.crt in proxy-ssl-secret', async () => {
    expect((await get('off-selfsigned.example')).status).toBe(200);
    expect((await get('off-with-ca.example')).status).toBe(200);
  });

  it('proxy-ssl-secret tls.crt / tls.key: the client certificate reaches a pod that requires one; without it the pod refuses', async () => {
    expect(await get('mtls-ok.example')).toMatchObject({ status: 200, body: { client: 'portico-client' } });
    // mtls-ok's connection is pooled: mtls-none must open its own, and be refused.
    expect((await get('mtls-none.example')).status).toBe(502);
  });

  it('a missing Secret, or verify on without one: an error naming annotation and Secret, and every request 502 (nothing reaches the pod unverified)', async () => {
    for (const host of ['missing-secret.example', 'missing-verify.example']) {
      expect(await get(host), host).toMatchObject({ status: 502, code: 'PORTICO_ERR_PROXY_UPSTREAM_TLS' });
    }
    const line = harness.log.lines.find((l) => l.code === 'PORTICO_ERR_INGRESS_PROXY_SSL_SECRET' && String(l.object).includes('shop/missing-secret'));
    expect(line).toMatchObject({ level: 'error', field: `metadata.annotations.${A}proxy-ssl-secret`, msg: expect.stringContaining('Secret shop/nope (proxy-ssl-secret) does not exist') });
    const verify = harness.log.lines.find((l) => l.code === 'PORTICO_ERR_INGRESS_ANNOTATION_INVALID' && String(l.object).includes('shop/missing-verify'));
    expect(verify).toMatchObject({ level: 'error', field: `metadata.annotations.${A}proxy-ssl-verify` });
  });

  it('proxy-ssl-protocols TLSv1.3 against a TLSv1.2-only pod: 502; the default range reaches it', async () => {
    expect(await get('tls12-default.example')).toMatchObject({ status: 200, body: { protocol: 'TLSv1.2' } });
    expect(await get('tls13-only.example')).toMatchObject({ status: 502, code: 'PORTICO_ERR_PROXY_UPSTREAM_TLS' });
  });

  it('proxy-ssl-ciphers: the TLSv1.2 cipher is the one listed; a list OpenSSL does not take answers 502 (never another cipher)', async () => {
    expect(await get('cipher-one.example')).toMatchObject({ status: 200, body: { cipher: 'ECDHE-RSA-AES256-GCM-SHA384' } });
    expect(await get('cipher-other.example')).toMatchObject({ status: 200, body: { cipher: 'ECDHE-RSA-AES128-GCM-SHA256' } });
    expect(await get('cipher-bogus.example')).toMatchObject({ status: 502, code: 'PORTICO_ERR_PROXY_UPSTREAM_TLS' });
  });

  it('proxy-ssl-verify-depth: one intermediate CA passes the default depth 1, not depth 0', async () => {
    expect((await get('deep-1.example')).status).toBe(200);
    expect(await get('deep-0.example')).toMatchObject({ status: 502, code: 'PORTICO_ERR_PROXY_UPSTREAM_TLS' });
  });

  it('upgrades (WebSocket) are verified alike: 101 with the right CA, 502 with another or without the Secret', async () => {
    const upgrade = (host: string) => rawExchange(harness.port, `GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    expect(await upgrade('verify-ok.example')).toMatch(/^HTTP\/1\.1 101 /);
    for (const host of ['verify-wrong-ca.example', 'missing-secret.example']) {
      const out = await upgrade(host);
      expect(out, host).toMatch(/^HTTP\/1\.1 502 /);
      expect(out, host).toContain('PORTICO_ERR_PROXY_UPSTREAM_TLS');
    }
  });

  it('HTTP/2 clients: the same verification on the HTTP/1.1 pool and on GRPCS sessions', async () => {
    const session = h2connect(`http://127.0.0.1:${harness.port}`);
    const request = (authority: string, grpc: boolean) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ':path': '/x', ':authority': authority, ...(grpc && { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' }) }, { endStream: true });
        let status = 0;
        let body = '';
        stream.on('response', (fields) => (status = Number(fields[':status'])));
        stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
        stream.on('end', () => resolve({ status, body }));
        stream.on('error', reject);
      });
    try {
      expect((await request('verify-ok.example', false)).status).toBe(200);
      const wrong = await request('verify-wrong-ca.example', false);
      expect([wrong.status, JSON.parse(wrong.body).code]).toEqual([502, 'PORTICO_ERR_PROXY_UPSTREAM_TLS']);
      expect((await request('grpc-ok.example', true)).status).toBe(200);
      const grpcWrong = await request('grpc-wrong-ca.example', true);
      expect(grpcWrong.status).toBe(502);
      expect(grpcWrong.body).toContain('PORTICO_ERR_PROXY_UPSTREAM_TLS');
      const grpcRefused = await request('grpc-missing-secret.example', true);
      expect(grpcRefused.status).toBe(502);
      expect(grpcRefused.body).toContain('PORTICO_ERR_PROXY_UPSTREAM_TLS');
    } finally {
      session.close();
    }
  });

  // Last: it heals missing-secret.example.
  it('the Secret is watched: once it exists, the refused route serves without a restart', async () => {
    expect((await get('missing-secret.example')).status).toBe(502);
    await harness.write('late-secret.yaml', [secret('shop/nope', { 'ca.crt': b64(otherCa.certPem) })]);
    await eventually(async () => (await get('missing-secret.example')).status === 200, 5000, 'the route served once its Secret exists');
  });
});
