// Shared helpers for proxy tests: hand-built routes and endpoints, a proxy on port 0 over real echo
// servers, a plain HTTP client, raw-socket requests and an in-memory pino capture.
import { afterEach } from 'vitest';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, Agent } from 'node:http';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Pool } from 'undici';
import { BackendRegistry } from '../../src/balancer/backend-registry.js';
import type { BackendRegistryOptions, PoolFactory, UpstreamPool, UpstreamPoolOptions } from '../../src/balancer/backend-registry.js';
import { startEchoServer } from '../../src/echo/echo-server.js';
import type { EchoServer } from '../../src/echo/echo-server.js';
import type { Logger } from '../../src/lib/logger.js';
import type { BackendEndpoints, BackendRef, Endpoint, RouteLookup, RouteMatch } from '../../src/model/route-model.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import type { ProxyServerOptions } from '../../src/proxy/proxy-server.js';
import { EngineServer } from '../../src/engine/engine-server.js';
import type { PipelineMatch } from '../../src/proxy/policies/pipeline.js';

/**
 * Which data plane the proxy tests run on: the README's "Proxy behaviour" is the contract of both.
 * vitest.config.ts runs test/proxy once per plane (PORTICO_TEST_DATA_PLANE).
 */
export const TEST_DATA_PLANE: 'node' | 'engine' = process.env.PORTICO_TEST_DATA_PLANE === 'node' ? 'node' : 'engine';

/** What the proxy tests use of a data plane. */
export interface TestProxy {
  setRoutes(routes: RouteLookup<PipelineMatch>): void;
  readonly routes: RouteLookup<PipelineMatch> | undefined;
  close(): Promise<void>;
  endKeepAlive(): void;
}

export function backendRef(key = 'default/echo/80'): BackendRef {
  const [namespace = 'default', service = 'echo', port = '80'] = key.split('/');
  return { key, namespace, service, port: Number.isNaN(Number(port)) ? port : Number(port) };
}

export function endpoint(port: number, podName?: string, address = '127.0.0.1'): Endpoint {
  return { key: `${address}:${port}`, address, port, ready: true, serving: true, terminating: false, ...(podName && { podName }) };
}

export function endpointOf(echo: EchoServer, podName?: string): Endpoint {
  return endpoint(echo.port, podName);
}

export function backendEndpoints(ref: BackendRef, endpoints: readonly Endpoint[], problem?: BackendEndpoints['problem']): BackendEndpoints {
  const sorted = [...endpoints].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return problem === undefined ? { backend: ref, endpoints: sorted } : { backend: ref, endpoints: sorted, problem };
}

/** A lookup that sends every host and path to one backend. */
export function routeAll(ref: BackendRef, ingress = 'default/echo'): RouteLookup & { calls: Array<[string | undefined, string]> } {
  const match: RouteMatch = { backend: ref, ingress };
  const calls: Array<[string | undefined, string]> = [];
  return {
    calls,
    lookup(host, path) {
      calls.push([host, path]);
      return match;
    },
  };
}

/** A lookup by exact host header value (no match → undefined). */
export function routeByHost(table: Record<string, BackendRef>, ingress = 'default/by-host'): RouteLookup {
  const matches = new Map(Object.entries(table).map(([host, ref]) => [host, { backend: ref, ingress } satisfies RouteMatch]));
  return { lookup: (host) => (host === undefined ? undefined : matches.get(host)) };
}

export const noRoutes: RouteLookup = { lookup: () => undefined };

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown>>;
  /** The first line (already written or still to come) matching; no timeout of its own (the test's applies). */
  waitFor(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** A pino logger writing parsed JSON lines into memory (synchronously). */
export function captureLog(level: 'debug' | 'info' | 'warn' = 'info'): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  const logger = pino(
    { level, base: null },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s) as Record<string, unknown>);
        for (const wake of [...waiters]) wake();
      },
    },
  );
  const waitFor = (predicate: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const check = () => {
        const found = lines.find(predicate);
        if (!found) return;
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      check();
    });
  return { logger, lines, waitFor };
}

export async function startEchos(n: number, service = 'echo'): Promise<EchoServer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => startEchoServer({ podName: `${service}-${i}`, serviceName: service })));
}

/** A port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ProxyHarness {
  readonly proxy: TestProxy;
  /** The node data plane's server, when the tests run on it (node-only tests use it). */
  readonly nodeProxy: ProxyServer | undefined;
  readonly registry: BackendRegistry;
  readonly port: number;
  readonly ref: BackendRef;
  readonly accessLog: CapturedLog;
  readonly log: CapturedLog;
  close(): Promise<void>;
}

export interface HarnessOptions {
  endpoints: readonly Endpoint[];
  routes?: RouteLookup;
  pool?: Partial<UpstreamPoolOptions>;
  registry?: Omit<BackendRegistryOptions, 'pool'>;
  proxy?: Partial<Omit<ProxyServerOptions, 'backends' | 'logger' | 'accessLog' | 'routes'>>;
  /** Default: TEST_DATA_PLANE. */
  plane?: 'node' | 'engine';
}

/** Registry with one backend (`default/echo/80`) over `endpoints`, a proxy routing everything to it. */
/**
 * Echo servers and proxies that close themselves after each test (registers an afterEach); extra
 * teardown goes into `cleanups`, run in reverse order.
 */
export function trackedFixtures(): {
  cleanups: Array<() => Promise<void>>;
  echos(n: number, service?: string): Promise<EchoServer[]>;
  proxy(options: HarnessOptions): Promise<ProxyHarness>;
} {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    cleanups,
    async echos(n, service) {
      const list = await startEchos(n, service);
      cleanups.push(async () => void (await Promise.all(list.map((e) => e.close()))));
      return list;
    },
    async proxy(options) {
      const h = await startProxy(options);
      cleanups.push(() => h.close());
      return h;
    },
  };
}

export async function startProxy(options: HarnessOptions): Promise<ProxyHarness> {
  const ref = backendRef();
  const accessLog = captureLog();
  const log = captureLog('debug');
  const registry = new BackendRegistry({ ...options.registry, pool: { connectTimeout: 1_000, ...options.pool } });
  registry.sync(new Map([[ref.key, backendEndpoints(ref, options.endpoints)]]));
  const routes = options.routes ?? routeAll(ref);
  if ((options.plane ?? TEST_DATA_PLANE) === 'engine') {
    const p = options.proxy ?? {};
    const drainTimeout = p.drainTimeout ?? 2_000;
    const engine = new EngineServer({
      backends: registry,
      routes,
      logger: log.logger,
      accessLog: accessLog.logger,
      pool: { connectTimeoutMs: options.pool?.connectTimeout ?? 1_000, ...(options.pool?.keepAliveTimeout !== undefined && { idleMs: options.pool.keepAliveTimeout }) },
      ...(options.pool?.headersTimeout !== undefined && { upstreamTimeoutMs: options.pool.headersTimeout }),
      ...(p.maxHeaderSize !== undefined && { maxHeaderSize: p.maxHeaderSize }),
      ...(p.endpointWaitMs !== undefined && { endpointWaitMs: p.endpointWaitMs }),
      ...(p.accessLogFields !== undefined && { accessLogFields: p.accessLogFields }),
      ...(p.headersTimeout !== undefined && { clientTimeoutMs: p.headersTimeout }),
      ...(p.keepAliveTimeout !== undefined && { keepAliveTimeoutMs: p.keepAliveTimeout }),
      ...(p.observer !== undefined && { observer: p.observer }),
    });
    const address = await engine.listen({ port: 0, host: '127.0.0.1' });
    const proxy: TestProxy = {
      setRoutes: (r) => engine.setRoutes(r),
      get routes() {
        return engine.routes;
      },
      close: async () => {
        await engine.close(drainTimeout);
        await registry.close();
      },
      endKeepAlive: () => engine.endKeepAlive(),
    };
    return { proxy, nodeProxy: undefined, registry, port: address.port, ref, accessLog, log, close: () => proxy.close() };
  }
  const proxy = new ProxyServer({
    backends: registry,
    routes,
    logger: log.logger,
    accessLog: accessLog.logger,
    drainTimeout: 2_000,
    ...options.proxy,
  });
  const address = await proxy.listen({ port: 0, host: '127.0.0.1' });
  return { proxy, nodeProxy: proxy, registry, port: address.port, ref, accessLog, log, close: () => proxy.close() };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: Buffer;
  json<T = EchoJson>(): T;
}

export interface EchoJson {
  pod: string;
  service: string;
  method: string;
  path: string;
  host: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders | string[];
  body?: Buffer | string;
  /** Write the body without content-length (chunked). */
  chunked?: boolean;
  agent?: Agent | false;
}

/** One request with node:http (no keep-alive unless an agent is given). */
export function send(port: number, options: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = options.headers ?? {};
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers,
        agent: options.agent ?? false,
        setHost: !(Array.isArray(headers) ? headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host') : 'host' in headers || 'Host' in headers),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            json: <T>() => JSON.parse(body.toString('utf8')) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined && !options.chunked && !Array.isArray(headers) && headers['content-length'] === undefined) {
      req.setHeader('content-length', Buffer.byteLength(options.body));
    }
    if (options.body !== undefined && options.chunked) {
      req.write(options.body);
      req.end();
    } else if (options.body !== undefined) {
      req.end(options.body);
    } else {
      req.end();
    }
  });
}

/** Writes `text` on a fresh TCP connection and collects everything until the server closes it. */
export function rawExchange(port: number, text: string | Buffer, waitMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(text);
  });
}

export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) out.push(rawHeaders[i + 1]!);
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface PoolTracker {
  readonly factory: PoolFactory;
  /** Origins of pools created / closed, in order. */
  readonly opened: string[];
  readonly closed: string[];
}

/** A pool factory making real undici Pools and recording opens and closes. */
export function trackPools(): PoolTracker {
  const opened: string[] = [];
  const closed: string[] = [];
  const factory: PoolFactory = (origin, options) => {
    opened.push(origin);
    const pool = new Pool(origin, options);
    const wrapper = {
      dispatch: (opts: Parameters<Pool['dispatch']>[0], handler: Parameters<Pool['dispatch']>[1]) => pool.dispatch(opts, handler),
      close: () => {
        closed.push(origin);
        return pool.close();
      },
      destroy: () => pool.destroy(),
    };
    return wrapper as unknown as UpstreamPool;
  };
  return { factory, opened, closed };
}
