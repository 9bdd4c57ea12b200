// Configuration churn under load (issue 16): a small cluster model (hosts → Services → pods, TLS
// Secrets), a seeded generator of the changes operators make, sinks that write them as manifest files
// (in-place rewrites, atomic renames, ConfigMap `..data` swaps) or through the Kubernetes API, and a
// steady keep-alive, new-connection, HTTPS and POST load that records every failed request and every
// handshake that presented the wrong certificate.
import { X509Certificate } from 'node:crypto';
import { mkdir, open, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Server as NetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { KubeObject } from '../../src/model/k8s-objects.js';
import { createCertificateAuthority, issueCertificate, type IssuedCertificate } from '../../src/tls/certificate-factory.js';
import type { FakeApiServer } from '../k8s/fake-api-server.js';
import { renderManifests, tlsSecret } from './e2e.js';
import { eventually } from './http.js';
import { endpointSlice, ingress, ingressClass, prefix, rule, service } from './objects.js';

const NS = 'churn';
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** mulberry32: the same seed gives the same churn. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A backend pod on loopback. Stopping behaves like a well-behaved app after SIGTERM: the listener
 * closes at once (new connections are refused), requests on open connections are answered with
 * `Connection: close`, and whatever is left is cut `drainMs` after `unrouted` resolves (the proxy
 * no longer routes to it: what a terminationGracePeriod longer than propagation gives in a cluster).
 */
export class ChurnPod {
  requests = 0;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  private constructor(
    readonly name: string,
    readonly service: string,
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(name: string, serviceName: string): Promise<ChurnPod> {
    let pod: ChurnPod | undefined;
    const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        pod!.requests++;
        const body = JSON.stringify({ pod: name, service: serviceName, host: req.headers.host, method: req.method, body: Buffer.concat(chunks).toString() });
        const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
        if (pod!.#stopping) headers.connection = 'close';
        res.writeHead(200, headers).end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pod = new ChurnPod(name, serviceName, server, (server.address() as AddressInfo).port);
    return pod;
  }

  stop(drainMs = 300, unrouted: () => Promise<void> = async () => undefined): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      // net.Server's close: stop accepting without http.Server's immediate idle-connection cut.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(this.server, () => resolve()));
      await unrouted();
      await sleep(drainMs);
      this.server.closeAllConnections();
      await closed;
    })();
    return this.#stopped;
  }
}

interface PodEntry {
  readonly pod: ChurnPod;
  terminating: boolean;
}

export interface ChurnOptions {
  readonly hosts: number;
  /** Hosts whose Ingress lives in the ConfigMap-style projected set (`..data` symlink swaps). */
  readonly configMapHosts: number;
  readonly services: number;
  /** Hosts that are added and removed (not under load). */
  readonly extraHosts: number;
  /** Hosts the churn leaves alone, for a propagation probe (bench); none by default. */
  readonly probeHosts?: number;
  readonly seed: number;
}

export type WriteMethod = 'in-place' | 'rename';

/** Where changes go: files in a manifest directory, or objects in an API server. */
export interface ChurnSink {
  /** Replaces the file's objects (an empty list deletes the file). */
  write(file: string, objects: readonly KubeObject[], method: WriteMethod): Promise<void>;
  /** Replaces the projected ConfigMap files all at once. */
  swapConfigMap(files: ReadonlyMap<string, readonly KubeObject[]>): Promise<void>;
}

/** The cluster state the churn drives; files() renders it. */
export class ChurnCluster {
  readonly options: ChurnOptions;
  readonly random: () => number;
  /** host index → Service name. */
  readonly backendOf: string[] = [];
  /** Every Service a host has pointed at (a response from any of them is correct during churn). */
  readonly everServices: Array<Set<string>> = [];
  readonly secretVersion: number[] = [];
  /** host index → [v0, v1] certificates and their SHA-256 fingerprints. */
  readonly certificates: Array<[IssuedCertificate, IssuedCertificate]> = [];
  readonly fingerprints: Array<[string, string]> = [];
  readonly pods = new Map<string, PodEntry[]>();
  readonly extraPresent: boolean[] = [];
  /** probe host index → Service name. */
  readonly probeBackendOf: string[] = [];
  readonly stopping: Array<Promise<void>> = [];
  /** Resolves once the proxy no longer routes to `pod`; a stopping pod cuts its connections after. */
  untilUnrouted: ((pod: ChurnPod) => Promise<void>) | undefined;
  readonly allPods: ChurnPod[] = [];
  #podSerial = 0;
  readonly stats = { switches: 0, rotations: 0, scaleUps: 0, terminations: 0, removals: 0, extraToggles: 0, touches: 0, configMapSwaps: 0, writes: 0 };

  private constructor(options: ChurnOptions) {
    this.options = options;
    this.random = seededRandom(options.seed);
  }

  static async create(options: ChurnOptions): Promise<ChurnCluster> {
    const cluster = new ChurnCluster(options);
    const ca = createCertificateAuthority({ commonName: 'Churn Test CA' });
    for (let s = 0; s < options.services; s++) {
      const name = `svc-${s}`;
      cluster.pods.set(name, []);
      for (let p = 0; p < 2; p++) await cluster.#addPod(name);
    }
    for (let h = 0; h < options.hosts; h++) {
      const backend = `svc-${h % options.services}`;
      cluster.backendOf.push(backend);
      cluster.everServices.push(new Set([backend]));
      cluster.secretVersion.push(0);
      const host = ChurnCluster.host(h);
      const pair: [IssuedCertificate, IssuedCertificate] = [
        issueCertificate({ commonName: host, issuer: ca }),
        issueCertificate({ commonName: host, issuer: ca }),
      ];
      cluster.certificates.push(pair);
      cluster.fingerprints.push([fingerprintOf(pair[0]), fingerprintOf(pair[1])]);
    }
    for (let x = 0; x < options.extraHosts; x++) cluster.extraPresent.push(x % 2 === 0);
    for (let p = 0; p < (options.probeHosts ?? 0); p++) cluster.probeBackendOf.push('svc-0');
    return cluster;
  }

  static host(index: number): string {
    return `h${index}.churn.test`;
  }

  static extraHost(index: number): string {
    return `x${index}.churn.test`;
  }

  static probeHost(index: number): string {
    return `p${index}.churn.test`;
  }

  probeObjects(p: number): KubeObject[] {
    return [
      ingress(`${NS}/probe-${p}`, {
        className: 'portico',
        annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' },
        rules: [rule(ChurnCluster.probeHost(p), [prefix('/', this.probeBackendOf[p]!, 80)])],
      }),
    ];
  }

  async #addPod(serviceName: string): Promise<ChurnPod> {
    const pod = await ChurnPod.start(`${serviceName}-pod-${this.#podSerial++}`, serviceName);
    this.pods.get(serviceName)!.push({ pod, terminating: false });
    this.allPods.push(pod);
    return pod;
  }

  ingressFile(h: number): string {
    return h < this.options.configMapHosts ? `cm-ing-${h}.yaml` : `ing-${h}.yaml`;
  }

  ingressObjects(h: number): KubeObject[] {
    const host = ChurnCluster.host(h);
    return [
      ingress(`${NS}/ing-${h}`, {
        className: 'portico',
        // Plain HTTP is load too: no redirect to HTTPS.
        annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' },
        rules: [rule(host, [prefix('/', this.backendOf[h]!, 80)])],
        tls: [{ hosts: [host], secretName: `tls-${h}` }],
      }),
    ];
  }

  serviceObjects(serviceName: string): KubeObject[] {
    const entries = this.pods.get(serviceName)!;
    return [
      service(`${NS}/${serviceName}`, [80]),
      ...entries.map((entry) =>
        endpointSlice(`${NS}/${entry.pod.name}`, {
          service: serviceName,
          ports: [{ port: entry.pod.port }],
          endpoints: [
            entry.terminating
              ? { addresses: ['127.0.0.1'], pod: entry.pod.name, ready: false, serving: true, terminating: true }
              : { addresses: ['127.0.0.1'], pod: entry.pod.name },
          ],
        }),
      ),
    ];
  }

  secretObjects(h: number): KubeObject[] {
    return [tlsSecret(`${NS}/tls-${h}`, this.certificates[h]![this.secretVersion[h]!]!)];
  }

  extraObjects(x: number): KubeObject[] {
    if (!this.extraPresent[x]) return [];
    return [ingress(`${NS}/extra-${x}`, { className: 'portico', rules: [rule(ChurnCluster.extraHost(x), [prefix('/', 'svc-0', 80)])] })];
  }

  configMapFiles(): Map<string, KubeObject[]> {
    const files = new Map<string, KubeObject[]>();
    for (let h = 0; h < this.options.configMapHosts; h++) files.set(this.ingressFile(h), this.ingressObjects(h));
    return files;
  }

  /** Every file but the ConfigMap set. */
  plainFiles(): Map<string, KubeObject[]> {
    const files = new Map<string, KubeObject[]>();
    files.set('00-class.yaml', [ingressClass('portico')]);
    for (let h = this.options.configMapHosts; h < this.options.hosts; h++) files.set(this.ingressFile(h), this.ingressObjects(h));
    for (let h = 0; h < this.options.hosts; h++) files.set(`tls-${h}.yaml`, this.secretObjects(h));
    for (const name of this.pods.keys()) files.set(`${name}.yaml`, this.serviceObjects(name));
    for (let x = 0; x < this.options.extraHosts; x++) if (this.extraPresent[x]) files.set(`extra-${x}.yaml`, this.extraObjects(x));
    for (let p = 0; p < this.probeBackendOf.length; p++) files.set(`probe-${p}.yaml`, this.probeObjects(p));
    return files;
  }

  /** Ready pods of a Service (what a converged proxy round-robins over). */
  readyPods(serviceName: string): string[] {
    return this.pods.get(serviceName)!.filter((e) => !e.terminating).map((e) => e.pod.name).sort();
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  #method(): WriteMethod {
    return this.random() < 0.6 ? 'in-place' : 'rename';
  }

  /** One random change, written through `sink`. Pod stops are scheduled, not awaited. */
  async step(sink: ChurnSink): Promise<void> {
    const r = this.random();
    const { hosts, services } = this.options;
    this.stats.writes++;
    if (r < 0.22) {
      const h = Math.floor(this.random() * hosts);
      const next = `svc-${(Number(this.backendOf[h]!.slice(4)) + 1 + Math.floor(this.random() * (services - 1))) % services}`;
      this.backendOf[h] = next;
      this.everServices[h]!.add(next);
      this.stats.switches++;
      if (h < this.options.configMapHosts) {
        this.stats.configMapSwaps++;
        await sink.swapConfigMap(this.configMapFiles());
      } else await sink.write(this.ingressFile(h), this.ingressObjects(h), this.#method());
    } else if (r < 0.32) {
      const h = Math.floor(this.random() * hosts);
      this.secretVersion[h] = 1 - this.secretVersion[h]!;
      this.stats.rotations++;
      await sink.write(`tls-${h}.yaml`, this.secretObjects(h), this.#method());
    } else if (r < 0.47) {
      const name = this.#pick([...this.pods.keys()]);
      if (this.pods.get(name)!.length >= 4) return;
      await this.#addPod(name);
      this.stats.scaleUps++;
      await sink.write(`${name}.yaml`, this.serviceObjects(name), this.#method());
    } else if (r < 0.57) {
      const name = this.#pick([...this.pods.keys()]);
      const ready = this.pods.get(name)!.filter((e) => !e.terminating);
      if (ready.length < 2) return;
      this.#pick(ready).terminating = true;
      this.stats.terminations++;
      await sink.write(`${name}.yaml`, this.serviceObjects(name), this.#method());
    } else if (r < 0.72) {
      const name = this.#pick([...this.pods.keys()]);
      const entries = this.pods.get(name)!;
      const ready = entries.filter((e) => !e.terminating);
      const removable = entries.filter((e) => e.terminating || ready.length >= 2);
      if (removable.length === 0) return;
      const victim = this.#pick(removable);
      entries.splice(entries.indexOf(victim), 1);
      this.stats.removals++;
      await sink.write(`${name}.yaml`, this.serviceObjects(name), this.#method());
      // The pod stops right after its endpoint is removed, whether or not the proxy has caught up.
      const delay = Math.floor(this.random() * 20);
      const unrouted = this.untilUnrouted;
      this.stopping.push(sleep(delay).then(() => victim.pod.stop(300, unrouted && (() => unrouted(victim.pod)))));
    } else if (r < 0.8) {
      const x = Math.floor(this.random() * this.options.extraHosts);
      this.extraPresent[x] = !this.extraPresent[x];
      this.stats.extraToggles++;
      await sink.write(`extra-${x}.yaml`, this.extraObjects(x), this.#method());
    } else {
      // Rewrite a file with the same content (a config-management run): must change nothing.
      this.stats.touches++;
      const files = this.plainFiles();
      const file = this.#pick([...files.keys()].filter((name) => !name.startsWith('probe-')));
      await sink.write(file, files.get(file)!, this.#method());
    }
  }

  /** `steps` changes with burst gaps under 10 ms and occasional pauses (or until `until()`). */
  async churn(sink: ChurnSink, steps: number, until: () => boolean = () => false): Promise<void> {
    for (let i = 0; i < steps && !until(); i++) {
      await this.step(sink);
      const gap = this.random() < 0.85 ? Math.floor(this.random() * 10) : 20 + Math.floor(this.random() * 40);
      if (gap > 0) await sleep(gap);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.stopping);
    await Promise.all(this.allPods.map((pod) => pod.stop(0)));
  }
}

/** Resolves once the controller's admin /debug/backends lists no endpoint on the pod's port. */
export function unroutedVia(adminPort: number): (pod: ChurnPod) => Promise<void> {
  return async (pod) => {
    await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${adminPort}/debug/backends`);
        const view = (await res.json()) as { backends: Array<{ endpoints: Array<{ port: number }> }> };
        return view.backends.every((backend) => backend.endpoints.every((endpoint) => endpoint.port !== pod.port));
      },
      30_000,
      `no backend routes to ${pod.name} (port ${pod.port})`,
    );
  };
}

export function fingerprintOf(certificate: IssuedCertificate): string {
  return new X509Certificate(certificate.certPem).fingerprint256;
}

/** Writes files the ways editors, config management and kubelet do. */
export class ManifestDirSink implements ChurnSink {
  #serial = 0;
  #projection: string | undefined;
  constructor(
    readonly dir: string,
    readonly random: () => number,
  ) {}

  /** Optional trace of every write (bench diagnostics). */
  trace: string[] | undefined;

  async write(file: string, objects: readonly KubeObject[], method: WriteMethod): Promise<void> {
    this.trace?.push(`${new Date().toISOString()} ${method} ${file} ${objects.length}`);
    const path = join(this.dir, file);
    if (objects.length === 0) {
      await unlink(path).catch(() => undefined);
      return;
    }
    const text = renderManifests(objects);
    if (method === 'rename') {
      const temp = join(this.dir, `.${file}.${this.#serial++}.tmp`);
      await writeFile(temp, text);
      await rename(temp, path);
      return;
    }
    // In place: truncate, then write in two parts with a pause — a slow writer's torn states.
    const handle = await open(path, 'w');
    try {
      const half = Math.floor(text.length / 2);
      if (this.random() < 0.5) await sleep(Math.floor(this.random() * 3));
      await handle.write(text.slice(0, half));
      if (this.random() < 0.5) await sleep(Math.floor(this.random() * 3));
      await handle.write(text.slice(half));
    } finally {
      await handle.close();
    }
  }

  /** kubelet's atomic writer: a new timestamped dir, `..data_tmp` → it, renamed over `..data`. */
  async swapConfigMap(files: ReadonlyMap<string, readonly KubeObject[]>): Promise<void> {
    const version = `..churn_${this.#serial++}`;
    await mkdir(join(this.dir, version));
    for (const [file, objects] of files) await writeFile(join(this.dir, version, file), renderManifests(objects));
    await symlink(version, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const file of files.keys()) await symlink(join('..data', file), join(this.dir, file)).catch(() => undefined);
    if (this.#projection !== undefined) await rm(join(this.dir, this.#projection), { recursive: true, force: true });
    this.#projection = version;
  }

  async writeAll(files: ReadonlyMap<string, readonly KubeObject[]>): Promise<void> {
    for (const [file, objects] of files) await this.write(file, objects, 'rename');
  }
}

/** Applies each file's objects to the API server (delete what left the file, apply the rest). */
export class ApiSink implements ChurnSink {
  readonly #files = new Map<string, readonly KubeObject[]>();
  constructor(readonly api: FakeApiServer) {}

  async write(file: string, objects: readonly KubeObject[]): Promise<void> {
    const id = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
    const keep = new Set(objects.map(id));
    for (const old of this.#files.get(file) ?? []) {
      if (!keep.has(id(old))) this.api.delete(old.kind, `${old.metadata.namespace ? `${old.metadata.namespace}/` : ''}${old.metadata.name}`);
    }
    for (const obj of objects) this.api.apply(obj);
    this.#files.set(file, objects);
  }

  async swapConfigMap(files: ReadonlyMap<string, readonly KubeObject[]>): Promise<void> {
    for (const [file, objects] of files) await this.write(file, objects);
  }
}

export interface LoadTargets {
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly cluster: ChurnCluster;
}

export interface LoadResult {
  ok: number;
  handshakes: number;
  failures: string[];
  wrongCertificates: string[];
}

/**
 * Steady load over the hosts until `stop()`: keep-alive GETs, new-connection GETs, HTTPS with a
 * handshake per request (certificate checked), keep-alive POSTs with bodies (echo checked).
 */
export function startLoad(t: LoadTargets, options: { keepAlive: number; newConnection: number; https: number; post: number }): { stop(): Promise<LoadResult> } {
  const result: LoadResult = { ok: 0, handshakes: 0, failures: [], wrongCertificates: [] };
  let stopped = false;
  let serial = 0;
  const { cluster } = t;
  // Its own sequence, so the load's pace does not change which changes the churn makes.
  const random = seededRandom(cluster.options.seed + 1);
  const keepAliveAgent = new Agent({ keepAlive: true, maxSockets: options.keepAlive + options.post });
  const check = (h: number, kind: string, status: number, text: string, body?: string): void => {
    const host = ChurnCluster.host(h);
    let json: { service?: string; host?: string; body?: string } = {};
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      // reported below
    }
    if (status !== 200 || json.host !== host || !cluster.everServices[h]!.has(json.service ?? '') || (body !== undefined && json.body !== body)) {
      result.failures.push(`${kind} ${host}: ${status} ${text.slice(0, 120)}`);
    } else result.ok++;
  };
  const one = (kind: 'keep-alive' | 'new' | 'post' | 'https'): Promise<void> =>
    new Promise<void>((resolve) => {
      const h = Math.floor(random() * cluster.options.hosts);
      const host = ChurnCluster.host(h);
      const body = kind === 'post' ? `payload-${serial++}-${'x'.repeat(200)}` : undefined;
      const common = {
        host: '127.0.0.1',
        path: `/${kind}`,
        method: body === undefined ? 'GET' : 'POST',
        headers: { host, ...(body !== undefined && { 'content-length': String(body.length) }) },
      };
      const onResponse = (res: import('node:http').IncomingMessage): void => {
        const chunks: Buffer[] = [];
        if (kind === 'https') {
          result.handshakes++;
          const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
          if (!cluster.fingerprints[h]!.includes(fingerprint)) result.wrongCertificates.push(`${host}: ${fingerprint}`);
        }
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          check(h, kind, res.statusCode ?? 0, Buffer.concat(chunks).toString(), body);
          resolve();
        });
        res.on('error', (error) => {
          result.failures.push(`${kind} ${host}: response ${error.message}`);
          resolve();
        });
      };
      const req =
        kind === 'https'
          ? httpsRequest({ ...common, port: t.httpsPort, servername: host, agent: false, rejectUnauthorized: false }, onResponse)
          : httpRequest({ ...common, port: t.httpPort, agent: kind === 'new' ? false : keepAliveAgent }, onResponse);
      req.on('error', (error) => {
        result.failures.push(`${kind} ${host}: ${error.message}`);
        resolve();
      });
      req.end(body);
    });
  const worker = async (kind: 'keep-alive' | 'new' | 'post' | 'https'): Promise<void> => {
    while (!stopped) await one(kind);
  };
  const workers = [
    ...Array.from({ length: options.keepAlive }, () => worker('keep-alive')),
    ...Array.from({ length: options.newConnection }, () => worker('new')),
    ...Array.from({ length: options.https }, () => worker('https')),
    ...Array.from({ length: options.post }, () => worker('post')),
  ];
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      keepAliveAgent.destroy();
      return result;
    },
  };
}

/** One GET through the proxy: status and parsed echo. */
export function getOnce(port: number, host: string): Promise<{ status: number; pod?: string; service?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/final', headers: { host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let json: { pod?: string; service?: string } = {};
        try {
          json = JSON.parse(Buffer.concat(chunks).toString()) as typeof json;
        } catch {
          // not an echo (404 from the proxy)
        }
        resolve({ status: res.statusCode ?? 0, ...json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The certificate fingerprint served for `host` (fresh handshake). */
export function certificateFor(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', servername: host, headers: { host }, agent: false, rejectUnauthorized: false }, (res) => {
      resolve((res.socket as TLSSocket).getPeerCertificate().fingerprint256);
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Differences between what the proxy serves and the cluster model, empty when they agree: every
 * host is served by exactly the ready pods of its Service with its current certificate, extra hosts
 * exist exactly when their Ingress does.
 */
export async function servedDifferences(cluster: ChurnCluster, httpPort: number, httpsPort: number): Promise<string[]> {
  const problems: string[] = [];
  for (let h = 0; h < cluster.options.hosts; h++) {
    const host = ChurnCluster.host(h);
    const expected = cluster.readyPods(cluster.backendOf[h]!);
    const seen = new Set<string>();
    for (let i = 0; i < expected.length * 2; i++) {
      const reply = await getOnce(httpPort, host);
      if (reply.status !== 200 || reply.service !== cluster.backendOf[h]) problems.push(`${host}: ${reply.status} from ${reply.service ?? '-'}, want ${cluster.backendOf[h]}`);
      if (reply.pod !== undefined) seen.add(reply.pod);
    }
    const pods = [...seen].sort();
    if (pods.join() !== expected.join()) problems.push(`${host}: pods ${pods.join()} want ${expected.join()}`);
    const fingerprint = await certificateFor(httpsPort, host);
    if (fingerprint !== cluster.fingerprints[h]![cluster.secretVersion[h]!]) problems.push(`${host}: certificate v${1 - cluster.secretVersion[h]!} served, want v${cluster.secretVersion[h]}`);
  }
  for (let x = 0; x < cluster.options.extraHosts; x++) {
    const status = (await getOnce(httpPort, ChurnCluster.extraHost(x))).status;
    if ((status === 200) !== cluster.extraPresent[x]) problems.push(`${ChurnCluster.extraHost(x)}: ${status}, present=${cluster.extraPresent[x]}`);
  }
  return problems;
}
