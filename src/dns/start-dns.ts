// Wires `portico dns`: source (manifest directory or Kubernetes API) → store → zone (rebuilt after
// each burst of changes) → UDP/TCP listeners, with the forwarder for everything outside the zone
// and the metrics listener.
import { close, serveEndpoints, type EndpointReply } from '../lib/http-endpoints.js';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { DNS_API_ACCESS } from '../k8s/api-access.js';
import { PorticoError } from '../lib/errors.js';
import { Holdoff } from '../lib/holdoff.js';
import type { Logger } from '../lib/logger.js';
import type { ObjectKind } from '../model/k8s-objects.js';
import { ManifestSource } from '../source/manifest-source.js';
import { ObjectStore } from '../store/object-store.js';
// Types only: the Kubernetes client is imported lazily (manifest mode never loads it).
import type { KubernetesSource } from '../k8s/kubernetes-source.js';
import type { AnswerOptions } from './answer.js';
import { Forwarder, type Upstream } from './forwarder.js';
import { handleQuery } from './handler.js';
import { DnsMetrics } from './metrics.js';
import { buildDnsZone, type DnsZone, type PodMode } from './records.js';
import { DnsServer } from './server.js';

export interface StartDnsOptions {
  readonly manifestsDir?: string;
  readonly kubeconfigPath?: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly zone: string;
  readonly ttl: number;
  readonly upstreams: readonly Upstream[];
  readonly pods: PodMode;
  /** undefined: no metrics listener; 0 picks a free port. */
  readonly metricsPort?: number;
  readonly logger: Logger;
  /** Forwarder timing (tests shorten it). */
  readonly upstreamTimeoutMs?: number;
  /** Quiet period after an object change before the zone is rebuilt (default 20 ms, at most 200 ms). */
  readonly rebuildDelayMs?: number;
}

export interface RunningDns {
  readonly server: DnsServer;
  readonly store: ObjectStore;
  readonly metrics: DnsMetrics;
  readonly metricsAddress: AddressInfo | undefined;
  /** The zone now served. */
  zone(): DnsZone;
  /** Whether the source has delivered its first complete state. */
  ready(): boolean;
  close(): Promise<void>;
}

/** `nameserver` lines of a resolv.conf, as upstreams on port 53. */
export function parseResolvConf(text: string): Upstream[] {
  const upstreams: Upstream[] = [];
  for (const line of text.split('\n')) {
    const [keyword, address] = line.trim().split(/\s+/);
    if (keyword !== 'nameserver' || address === undefined) continue;
    const host = address.split('%', 1)[0]!; // drop a zone index (fe80::1%eth0)
    if (isIP(host) !== 0) upstreams.push({ host, port: 53 });
  }
  return upstreams;
}

export async function readResolvConf(path: string): Promise<Upstream[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PorticoError('PORTICO_ERR_DNS_RESOLV_CONF', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  const upstreams = parseResolvConf(text);
  if (upstreams.length === 0) throw new PorticoError('PORTICO_ERR_DNS_RESOLV_CONF', `${path} names no nameserver; give --upstream ADDR`);
  return upstreams;
}

export async function startDns(options: StartDnsOptions): Promise<RunningDns> {
  const { logger } = options;
  const store = new ObjectStore();
  const metrics = new DnsMetrics();
  let serial = 1;
  const build = (): DnsZone => {
    const snapshot = store.snapshot();
    const zone = buildDnsZone(
      { services: snapshot.services.values(), endpointSlices: snapshot.endpointSlices.values(), ...(options.pods === 'verified' && { pods: snapshot.pods.values() }) },
      { zone: options.zone },
    );
    for (const diagnostic of zone.diagnostics) {
      logger.warn({ code: diagnostic.code, object: diagnostic.object, field: diagnostic.field }, `dns: ${diagnostic.object.namespace}/${diagnostic.object.name}: ${diagnostic.message}`);
    }
    metrics.zoneBuilt(zone.names.size, zone.diagnostics.length);
    return zone;
  };
  let zone = build();
  const rebuild = new Holdoff({
    delayMs: options.rebuildDelayMs ?? 20,
    maxDelayMs: Math.max(200, options.rebuildDelayMs ?? 20),
    run: () => {
      zone = build();
      serial = (serial + 1) >>> 0 || 1;
    },
  });
  const kinds: ObjectKind[] = ['Service', 'EndpointSlice', ...(options.pods === 'verified' ? (['Pod'] as const) : [])];
  const unsubscribe = store.subscribe((change) => {
    if (kinds.includes(change.kind)) rebuild.trigger();
  });
  const loggedAt = new Map<string, number>();
  const forwarder = options.upstreams.length > 0 ? new Forwarder({
          upstreams: options.upstreams,
          observer: {
            cacheHit: () => metrics.cacheHit(),
            cacheMiss: () => metrics.cacheMiss(),
            // Every failure is counted; at most one log line per upstream every 10 s.
            upstreamFailure: (upstream, reason) => {
              metrics.upstreamFailure(upstream, reason);
              const key = `${upstream.host}:${upstream.port}`;
              const now = Date.now();
              if (now - (loggedAt.get(key) ?? -Infinity) < 10_000) return;
              loggedAt.set(key, now);
              logger.warn({ code: 'PORTICO_ERR_DNS_UPSTREAM', upstream: `${upstream.host}:${upstream.port}`, reason }, `dns: upstream ${upstream.host}:${upstream.port} failed: ${reason}`);
            },
          }, ...(options.upstreamTimeoutMs !== undefined && { timeoutMs: options.upstreamTimeoutMs }) }) : undefined;
  const answerOptions: AnswerOptions = { ttl: options.ttl, pods: options.pods, serial: 0 };
  const server = new DnsServer({
    host: options.host,
    port: options.port,
    logger,
    handler: (bytes, transport) =>
      handleQuery(bytes, transport, { zone: () => zone, answerOptions: () => ({ ...answerOptions, serial }), forwarder, observer: metrics }),
  });

  // /readyz: 200 once the source has listed every kind once (CoreDNS's ready plugin).
  let ready = false;
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
    closers.length = 0;
  };
  closers.push(async () => {
    unsubscribe();
    rebuild.cancel();
    forwarder?.close();
  });
  try {
    let source: { stop(): Promise<void> };
    if (options.manifestsDir !== undefined) {
      const manifests = new ManifestSource({ dir: options.manifestsDir, store, logger });
      await manifests.start();
      source = manifests;
      ready = true;
    } else {
      const [{ KubernetesSource: Source }, { loadKubeConfig, KubeClient }] = await Promise.all([import('../k8s/kubernetes-source.js'), import('../k8s/kube-client.js')]);
      const client = new KubeClient(loadKubeConfig(options.kubeconfigPath !== undefined ? { kubeconfigPath: options.kubeconfigPath } : {}), { access: DNS_API_ACCESS });
      const kube: KubernetesSource = new Source({ client, store, logger, kinds });
      kube.start();
      source = kube;
      void kube.synced.then(() => {
        ready = true;
        rebuild.flush();
      });
    }
    closers.push(() => source.stop());
    rebuild.flush();
    await server.listen();
    closers.push(() => server.close());
    const metricsServer = options.metricsPort !== undefined ? await serveMetrics(options.metricsPort, metrics, () => ready) : undefined;
    if (metricsServer) closers.push(() => close(metricsServer.server));
    const metricsAddress = metricsServer?.address;
    logger.info(
      { listen: `${options.host}:${server.port}`, zone: options.zone, upstreams: options.upstreams.map((u) => `${u.host}:${u.port}`), pods: options.pods, metrics: metricsAddress?.port },
      `portico dns on ${options.host}:${server.port} (udp, tcp) for ${options.zone}`,
    );
    return { server, store, metrics, metricsAddress, zone: () => zone, ready: () => ready, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** /metrics, plus /healthz (the process answers) and /readyz (the first state has arrived). */
function serveMetrics(port: number, metrics: DnsMetrics, ready: () => boolean) {
  return serveEndpoints(port, undefined, async (path): Promise<EndpointReply> => {
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' || ready();
      return { status: ok ? 200 : 503, type: 'text/plain', body: ok ? 'ok\n' : 'not synced\n' };
    }
    if (path !== '/metrics') return { status: 404, type: 'text/plain', body: 'not found\n' };
    return { status: 200, type: metrics.contentType, body: await metrics.render() };
  });
}
