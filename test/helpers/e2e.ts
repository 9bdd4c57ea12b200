// End-to-end harness: a manifest directory in a temp dir, a real controller (source → store →
// compile → proxy) on port 0, real echo backends, and an in-memory log.
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../../src/compile/index.js';
import { startController, type RunningController, type StartControllerOptions } from '../../src/controller/start-controller.js';
import { startEchoServer } from '../../src/echo/echo-server.js';
import type { EndpointSlice, KubeObject, Secret, Service } from '../../src/model/k8s-objects.js';
import type { HstsOptions } from '../../src/proxy/proxy-server.js';
import { createDefaultCertificate, type IssuedCertificate } from '../../src/tls/certificate-factory.js';
import { captureLogger, type CapturedLogger } from './capture-logger.js';
import { httpRequest, type HttpRequestOptions, type HttpResponse } from './http.js';
import { endpointSlice, ingressClass, service } from './objects.js';

export type EchoPod = Awaited<ReturnType<typeof startEchoServer>>;

export interface Harness {
  readonly dir: string;
  readonly running: RunningController;
  readonly port: number;
  /** The HTTPS listener's port. */
  readonly tlsPort: number;
  readonly log: CapturedLogger;
  /** Writes one manifest file (objects as multi-document YAML, or raw text). */
  write(file: string, content: readonly KubeObject[] | string): Promise<void>;
  remove(file: string): Promise<void>;
  /** A request through the proxy. */
  get(host: string | undefined, path?: string, options?: Omit<HttpRequestOptions, 'port' | 'host' | 'path'>): Promise<HttpResponse>;
  close(): Promise<void>;
}

export function renderManifests(objects: readonly KubeObject[]): string {
  return objects.map((obj) => stringify(obj)).join('---\n');
}

/** Our IngressClass `portico`, so Ingresses can say `className: 'portico'`. */
export const PORTICO_CLASS = ingressClass('portico');

/** One self-signed fallback certificate per test file: key generation is the slow part. */
let fallbackCertificate: IssuedCertificate | undefined;

/** The data planes the end-to-end suites that take one run on. */
export const DATA_PLANES = ['node', 'engine'] as const;

export interface HarnessOptions {
  compile?: Partial<CompileOptions>;
  defaultSslCertificate?: string;
  hsts?: HstsOptions | false;
  shutdown?: Pick<StartControllerOptions, 'shutdownGracePeriodMs' | 'shutdownDrainTimeoutMs' | 'sleep'>;
  /** Default: engine, or PORTICO_TEST_DATA_PLANE (=node runs a suite on the node:http data plane). */
  dataPlane?: 'node' | 'engine';
  /** --http2 (default on). */
  http2?: boolean;
  /** --metrics-compat (default none). */
  metricsCompat?: 'nginx' | 'none';
  /** --workers N (N ≥ 2): worker processes forked as the CLI does (the built CLI: `npm run build` first). */
  workers?: StartControllerOptions['workers'];
}

export async function startHarness(files: Record<string, readonly KubeObject[] | string>, options: HarnessOptions = {}): Promise<Harness> {
  fallbackCertificate ??= createDefaultCertificate();
  const dir = await mkdtemp(join(tmpdir(), 'portico-e2e-'));
  const write = (file: string, content: readonly KubeObject[] | string) =>
    writeFile(join(dir, file), typeof content === 'string' ? content : renderManifests(content));
  for (const [file, content] of Object.entries(files)) await write(file, content);
  const log = captureLogger('info');
  const running = await startController({
    manifestsDir: dir,
    // PORTICO_TEST_DATA_PLANE=engine runs the end-to-end suites on the engine (src/engine).
    dataPlane: options.dataPlane ?? (process.env['PORTICO_TEST_DATA_PLANE'] === 'node' ? 'node' : 'engine'),
    httpPort: 0,
    httpsPort: 0,
    adminPort: 0,
    bindAddress: '127.0.0.1',
    compile: { ...DEFAULT_COMPILE_OPTIONS, ...options.compile },
    logger: log.logger,
    fallbackCertificate,
    ...(options.defaultSslCertificate !== undefined && { defaultSslCertificate: options.defaultSslCertificate }),
    ...(options.hsts !== undefined && { hsts: options.hsts }),
    ...(options.http2 !== undefined && { http2: options.http2 }),
    ...(options.metricsCompat !== undefined && { metricsCompat: options.metricsCompat }),
    ...(options.workers !== undefined && { workers: options.workers }),
    ...options.shutdown,
  });
  const port = running.http.port;
  return {
    dir,
    running,
    port,
    tlsPort: running.https?.port ?? 0,
    log,
    write,
    remove: (file) => unlink(join(dir, file)),
    get: (host, path = '/', rest = {}) => httpRequest({ ...rest, port, ...(host !== undefined && { host }), path }),
    async close() {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `count` echo pods `<service>-<i>` on 127.0.0.1, port 0. */
export async function startEchoPods(serviceName: string, count: number): Promise<EchoPod[]> {
  const pods: EchoPod[] = [];
  for (let i = 0; i < count; i++) {
    pods.push(await startEchoServer({ port: 0, host: '127.0.0.1', podName: `${serviceName}-${i}`, serviceName }));
  }
  return pods;
}

export async function closePods(pods: readonly EchoPod[]): Promise<void> {
  await Promise.all(pods.map((pod) => pod.close()));
}

/**
 * A Service `namespace/name` with one port (80, named `portName` when given) and one EndpointSlice
 * per pod (loopback addresses differ only by port, so each pod needs its own slice port).
 */
export function serviceFor(
  key: string,
  pods: readonly EchoPod[],
  options: { portName?: string; servicePort?: number; ready?: boolean } = {},
): [Service, ...EndpointSlice[]] {
  const name = key.split('/')[1] ?? key;
  const portName = options.portName;
  const svc = service(key, [{ port: options.servicePort ?? 80, ...(portName !== undefined && { name: portName }) }]);
  const slices = pods.map((pod, i) =>
    endpointSlice(`${key}-${i}`, {
      service: name,
      ports: [{ port: pod.port, ...(portName !== undefined && { name: portName }) }],
      endpoints: [{ addresses: ['127.0.0.1'], pod: `${name}-${i}`, ...(options.ready === false && { ready: false }) }],
    }),
  );
  return [svc, ...slices];
}

/** A kubernetes.io/tls Secret holding `certificate` (PEM chain + key). */
export function tlsSecret(key: string, certificate: IssuedCertificate): Secret {
  const [namespace = 'default', name = key] = key.split('/');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(certificate.certPem).toString('base64'),
      'tls.key': Buffer.from(certificate.keyPem).toString('base64'),
    },
  };
}
