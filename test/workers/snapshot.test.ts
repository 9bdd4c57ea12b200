import { describe, expect, it } from 'vitest';
import type { BackendEndpoints, RouteModel, RoutePolicies, UpstreamTlsPolicy } from '../../src/model/route-model.js';
import { createDefaultCertificate } from '../../src/tls/certificate-factory.js';
import { parseTlsSecret } from '../../src/tls/parse-tls-secret.js';
import type { TlsPlan } from '../../src/tls/compile-tls.js';
import { parsePrimaryMessage, parseWorkerMessage, renderConfigSnapshot, renderPrimaryMessage, renderWorkerMessage, WORKER_PROTOCOL_VERSION } from '../../src/workers/snapshot.js';
import { tlsSecret } from '../helpers/e2e.js';

const web = { key: 'shop/web/80', namespace: 'shop', service: 'web', port: 80 };
const api = { key: 'shop/api/http', namespace: 'shop', service: 'api', port: 'http' };

// Every upstreamTls field (Required: a field added to UpstreamTlsPolicy must be added here, and to the parser).
const everyUpstreamTls: Required<UpstreamTlsPolicy> = {
  serverName: 'pod.internal',
  verify: { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', name: 'web.shop.svc', depth: 2 },
  clientCertificate: { cert: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n' },
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:!aNULL',
  refused: 'proxy-ssl-secret: Secret shop/ca does not exist',
};

// Every policy field (Required: a field added to RoutePolicies must be added here, and to the parser).
const everyPolicy: Required<RoutePolicies> = {
  sourceRange: { allow: ['10.0.0.0/8', '192.168.1.1/32'], deny: ['10.1.0.0/16'] },
  upstreamVhost: 'internal.shop',
  forwardedPrefix: '/shop',
  redirect: { url: 'https://new.example.com$request_uri', status: 308 },
  appRoot: '/app',
  grpc: true,
  rewriteTarget: '/$1',
  maxBodySize: 8 * 1024 * 1024,
  accessLog: false,
  nextUpstream: { off: false, tries: 3, timeoutMs: 10_000 },
  externalAuth: { url: 'http://auth.svc/check?u=$escaped_request_uri', method: 'GET', responseHeaders: ['x-auth-request-user'], signin: 'https://$host/oauth2/start', signinParam: 'rd' },
  basicAuth: { realm: 'Shop', users: [['alice', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=']] },
  upstreamTls: everyUpstreamTls,
  affinity: { cookie: 'route', mode: 'persistent', path: '/app', domain: 'shop.example', sameSite: 'Lax', secure: true, maxAge: 3600, expires: 7200 },
  timeouts: { connectMs: 2000, readMs: 120_000, sendMs: 30_000 },
  rateLimit: { rps: 10, rpm: 300, burstMultiplier: 3, exempt: ['10.0.0.0/8'], status: 429 },
  canary: { backend: { key: 'shop/web-canary/80', namespace: 'shop', service: 'web-canary', port: 80 }, ingress: 'shop/canary', header: 'x-canary', headerPattern: '^yes', cookie: 'c', weight: 10, weightTotal: 100 },
  cors: { origins: ['https://*.shop.example', 'https://shop.example'], methods: 'GET, POST', headers: 'Content-Type', expose: 'X-Total', credentials: false, maxAge: 600 },
  upstreamHashBy: '$host$request_uri',
  loadBalance: 'ewma',
  connectionLimit: { max: 4, exempt: ['10.0.0.0/8'], status: 429 },
  defaultBackend: { key: 'shop/errors/*#service-upstream', namespace: 'shop', service: 'errors', port: '*', serviceUpstream: true },
  customHttpErrors: [404, 503],
  mirror: { url: 'http://mirror.shop.svc$request_uri', body: false, host: 'mirror.internal' },
  responseHeaders: [['X-Frame-Options', 'DENY']],
  upstreamHeaders: [['X-Team', 'shop'], ['X-Zone', 'a']],
};

const model: RouteModel = {
  virtualHosts: [
    {
      host: 'shop.example.com',
      routes: [
        { pathType: 'Prefix', path: '/admin', backend: web, ingress: 'shop/admin', policies: everyPolicy },
        { pathType: 'Prefix', path: '/', backend: web, ingress: 'shop/web', sslRedirect: true, policies: { sourceRange: { allow: [] } } },
      ],
    },
    { host: '*.example.com', routes: [{ pathType: 'Exact', path: '/api', backend: api, ingress: 'shop/api' }] },
    { host: 'regex.example.com', regex: true, routes: [{ pathType: 'Prefix', path: '/v[0-9]+/(.*)', backend: api, ingress: 'shop/api', policies: { rewriteTarget: '/$1' } }] },
  ],
  hostless: [{ pathType: 'Prefix', path: '/health', backend: web, ingress: 'shop/web' }],
  hostlessRegex: true,
  hsts: 'max-age=600; preload',
  defaultBackend: { backend: web, ingress: 'shop/web' },
  backends: [api, web],
  tls: [{ host: 'shop.example.com', secret: 'shop/tls', ingress: 'shop/web' }, { host: '*.example.com', ingress: 'shop/api' }],
  ownedIngresses: ['shop/api', 'shop/web'],
  diagnostics: [{ severity: 'warning', code: 'PORTICO_ERR_INGRESS_CONFLICT', object: { kind: 'Ingress', namespace: 'shop', name: 'x' }, message: 'only for the primary' }],
};

const endpoints: BackendEndpoints[] = [
  {
    backend: web,
    endpoints: [
      { key: '10.0.0.1:8080', address: '10.0.0.1', port: 8080, ready: true, serving: true, terminating: false, podName: 'web-0' },
      { key: '10.0.0.2:8080', address: '10.0.0.2', port: 8080, ready: false, serving: true, terminating: true },
    ],
  },
  { backend: api, endpoints: [], problem: { code: 'PORTICO_ERR_BACKEND_NO_ENDPOINTS', message: 'no endpoints' } },
];

const issued = createDefaultCertificate();
const parsed = parseTlsSecret(tlsSecret('shop/tls', issued));
if (!parsed.ok) throw new Error(parsed.reason);
const plan: TlsPlan = {
  hosts: [{ host: '*.example.com' }, { host: 'shop.example.com', secret: 'shop/tls' }],
  certificates: new Map([['shop/tls', parsed.certificate]]),
  defaultCertificate: parsed.certificate,
  diagnostics: [],
};

/** Through the IPC channel: JSON, as child_process serialises it. */
const wire = (message: unknown): unknown => JSON.parse(JSON.stringify(message));

describe('configuration snapshot', () => {
  it('round-trips routes, endpoints and certificates through JSON (diagnostics and parsed X509 objects stay in the primary)', () => {
    const message = parsePrimaryMessage(wire(renderConfigSnapshot({ generation: 7, full: true, tls: plan, endpoints: new Map(endpoints.map((e) => [e.backend.key, e])), routes: model })));
    expect(message.type).toBe('config');
    if (message.type !== 'config') return;
    expect(message.generation).toBe(7);
    expect(message.full).toBe(true);
    expect(message.routes).toEqual({ ...model, diagnostics: [] });
    expect(message.endpoints).toEqual(endpoints);
    expect(message.tls?.hosts).toEqual(plan.hosts);
    const certificate = message.tls?.certificates.get('shop/tls');
    expect(certificate).toEqual({ id: parsed.certificate.id, certPem: issued.certPem, keyPem: issued.keyPem, notAfter: parsed.certificate.notAfter });
    expect(message.tls?.defaultCertificate?.id).toBe(parsed.certificate.id);
  });

  it('names the certificates the worker already holds by id alone', () => {
    const message = parsePrimaryMessage(wire(renderConfigSnapshot({ generation: 9, full: false, tls: plan, knownCertificates: new Set([parsed.certificate.id]) })));
    if (message.type !== 'config') throw new Error('not a config message');
    expect(message.tls?.certificates.get('shop/tls')).toEqual({ id: parsed.certificate.id });
    expect(message.tls?.defaultCertificate).toEqual({ id: parsed.certificate.id });
    expect(JSON.stringify(wire(renderConfigSnapshot({ generation: 9, full: false, tls: plan, knownCertificates: new Set([parsed.certificate.id]) })))).not.toContain('BEGIN');
  });

  it('carries only the parts a build changed', () => {
    const message = parsePrimaryMessage(wire(renderConfigSnapshot({ generation: 8, full: false, endpoints })));
    expect(message).toEqual({ type: 'config', generation: 8, full: false, endpoints });
  });

  it('round-trips the other messages both ways', () => {
    for (const m of [
      { type: 'start', http: 8080, https: 8443, fallbackCertificate: issued, ticketKeys: Buffer.alloc(48, 1), waitForConfig: true },
      { type: 'collect', id: 3 },
      { type: 'shutdown', grace: true },
    ] as const) {
      expect(parsePrimaryMessage(wire(renderPrimaryMessage(m)))).toEqual(m);
    }
    for (const m of [
      { type: 'listening', http: 8080, https: 8443 },
      { type: 'applied', generation: 4 },
      { type: 'failed', message: 'listen EADDRINUSE', code: 'EADDRINUSE' },
      {
        type: 'report',
        id: 3,
        requests: 12,
        handshakeFailures: { client_reset: 2 },
        metrics: [{ name: 'portico_requests_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value: 12, labels: { ingress: 'web', status_class: '2xx' } }] }],
      },
    ] as const) {
      expect(parseWorkerMessage(wire(renderWorkerMessage(m)))).toEqual(m);
    }
  });

  it('rejects malformed messages whole, with PORTICO_ERR_WORKER_MESSAGE naming what is wrong', () => {
    const good = wire(renderConfigSnapshot({ generation: 1, full: true, tls: plan, endpoints, routes: model })) as Record<string, any>;
    const cases: Array<[unknown, string]> = [
      [null, 'primary: not an object'],
      [{ ...good, version: WORKER_PROTOCOL_VERSION + 1 }, `protocol version ${WORKER_PROTOCOL_VERSION + 1}`],
      [{ ...good, version: undefined }, 'primary.version'],
      [{ ...good, type: 'reload' }, 'unknown message type "reload"'],
      [{ ...good, generation: -1 }, 'config.generation: not a whole number'],
      [{ ...good, endpoints: undefined }, 'a full snapshot needs tls, endpoints and routes'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], pathType: 'Regex' }] }] } }, 'config.routes.virtualHosts[0].routes[0].pathType: not Exact or Prefix'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { enableCors: true } }] }] } }, 'config.routes.virtualHosts[0].routes[0].policies.enableCors: not a route policy this worker knows'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { sourceRange: { allow: '10.0.0.0/8' } } }] }] } }, 'config.routes.virtualHosts[0].routes[0].policies.sourceRange.allow: not an array'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { upstreamTls: { verify: { ca: 'x', depth: 1 }, insecure: true } } }] }] } }, 'policies.upstreamTls.insecure: not an upstreamTls field'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { upstreamTls: { verify: { depth: 1 } } } }] }] } }, 'policies.upstreamTls.verify.ca: not a string'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { upstreamTls: { verify: { ca: 'x', depth: -1 } } } }] }] } }, 'policies.upstreamTls.verify.depth: not a whole number'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { upstreamTls: { minVersion: 'SSLv3' } } }] }] } }, 'policies.upstreamTls.minVersion: not TLSv1'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { upstreamTls: { clientCertificate: { cert: 'x' } } } }] }] } }, 'policies.upstreamTls.clientCertificate.key: not a string'],
      [{ ...good, routes: { ...good.routes, virtualHosts: [{ host: 'a', routes: [{ ...good.routes.virtualHosts[0].routes[0], policies: { upstreamTls: { refused: true } } }] }] } }, 'policies.upstreamTls.refused: not a string'],
      [{ ...good, endpoints: [{ ...good.endpoints[0], endpoints: [{ ...good.endpoints[0].endpoints[0], port: 70000 }] }] }, 'config.endpoints[0].endpoints[0].port: not a port'],
      [{ ...good, tls: { ...good.tls, certificates: [['shop/tls', { ...good.tls.certificates[0][1], keyPem: 'nope' }]] } }, 'config.tls.certificates[0][1].keyPem: holds no PEM private key'],
      [{ ...good, tls: { ...good.tls, defaultCertificate: { ...good.tls.defaultCertificate, notAfter: 'soon' } } }, 'config.tls.defaultCertificate.notAfter: not a date'],
      [{ type: 'shutdown', version: WORKER_PROTOCOL_VERSION }, 'shutdown.grace: not a boolean'],
      [{ type: 'start', version: WORKER_PROTOCOL_VERSION, http: 80, fallbackCertificate: issued, ticketKeys: Buffer.alloc(32).toString('base64'), waitForConfig: false }, 'start.ticketKeys: not 48 bytes of base64'],
    ];
    for (const [message, text] of cases) {
      expect(() => parsePrimaryMessage(message), text).toThrow(expect.objectContaining({ code: 'PORTICO_ERR_WORKER_MESSAGE', message: expect.stringContaining(text) }));
    }
    expect(() => parseWorkerMessage({ type: 'listening', version: WORKER_PROTOCOL_VERSION, http: 'x' })).toThrow(expect.objectContaining({ code: 'PORTICO_ERR_WORKER_MESSAGE', message: expect.stringContaining('listening.http: not a port') }));
    // NaN (an unset gauge) arrives as null and stays NaN; anything else that is not a number is rejected.
    const report = (value: unknown) => ({ type: 'report', version: WORKER_PROTOCOL_VERSION, id: 1, requests: 1, handshakeFailures: {}, metrics: [{ name: 'x', help: 'h', type: 'gauge', aggregator: 'sum', values: [{ value, labels: {} }] }] });
    const nan = parseWorkerMessage(wire(report(Number.NaN)));
    expect(nan.type === 'report' && nan.metrics[0]?.values[0]?.value).toBeNaN();
    expect(() => parseWorkerMessage(report('7'))).toThrow(expect.objectContaining({ message: expect.stringContaining('report.metrics[0].values[0].value: not a number') }));
    expect(() => parseWorkerMessage({ type: 'report', version: WORKER_PROTOCOL_VERSION, id: 1, requests: 1, handshakeFailures: {}, metrics: [{ name: 'x' }] })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('report.metrics[0].help: not a string') }),
    );
  });
});
