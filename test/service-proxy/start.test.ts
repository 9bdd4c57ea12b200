import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCidrList } from '../../src/cmd/service-proxy-command.js';
import { parseDurationFlag } from '../../src/cmd/flags.js';
import { parseCidr } from '../../src/lib/cidr.js';
import { FakeNft } from '../../src/nft/fake-nft.js';
import { startServiceProxy, type RunningServiceProxy } from '../../src/service-proxy/start-service-proxy.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { RecordingConntrack } from './fixture.js';

const REPO = join(import.meta.dirname, '..', '..');
const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.40
  externalTrafficPolicy: Local
  healthCheckNodePort: 0
  ports: [{name: http, port: 80, nodePort: 30040}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, namespace: default, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.244.1.5], nodeName: node-a}
`;

let running: RunningServiceProxy | undefined;
let dir: string | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('portico service-proxy wiring', () => {
  it('programs the manifests, answers /healthz 200 after the first sync and /metrics with sync metrics', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-sp-'));
    writeFileSync(join(dir, 'svc.yaml'), MANIFESTS.replace('healthCheckNodePort: 0', 'healthCheckNodePort: 70000'));
    const nft = new FakeNft();
    running = await startServiceProxy({
      manifestsDir: dir,
      nodeName: 'node-a',
      clusterCIDRs: [parseCidr('10.244.0.0/16')!],
      minSyncPeriodMs: 1000,
      syncPeriodMs: 30_000,
      healthzPort: 0,
      metricsPort: 0,
      bindAddress: '127.0.0.1',
      logger: captureLogger('info').logger,
      nft,
      conntrack: new RecordingConntrack(),
      families: [4],
    });
    await running.proxier.syncNow();
    expect(nft.dump()).toContain('10.96.0.40 . tcp . 80 : goto service-');
    expect(nft.dump()).toContain('tcp . 30040 : goto external-');
    expect(running.healthChecks.ports).toEqual([]); // the bad healthCheckNodePort alone is dropped
    const healthz = await fetch(`http://127.0.0.1:${running.healthz!.port}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toMatchObject({ lastUpdated: expect.stringMatching(/^\d{4}-/) });
    const metrics = await (await fetch(`http://127.0.0.1:${running.metrics!.port}/metrics`)).text();
    expect(metrics).toMatch(/portico_service_proxy_syncs_total\{mode="full"\} [1-9]/);
    expect(metrics).toMatch(/portico_service_proxy_rules [1-9]/);
    expect(metrics).toMatch(/portico_service_proxy_map_elements [1-9]/);
    expect(metrics).toContain('portico_service_proxy_sync_failures_total');
    expect(metrics).toContain('portico_service_proxy_last_sync_timestamp_seconds');
  });

  it('serves healthCheckNodePort: 200 with the local endpoint count, 503 when none is local', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-sp-'));
    // A free port for the health check: bind 0, read it, close it.
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    writeFileSync(join(dir, 'svc.yaml'), MANIFESTS.replace('healthCheckNodePort: 0', `healthCheckNodePort: ${port}`));
    running = await startServiceProxy({
      manifestsDir: dir,
      nodeName: 'node-a',
      clusterCIDRs: [],
      minSyncPeriodMs: 1000,
      syncPeriodMs: 30_000,
      bindAddress: '127.0.0.1',
      logger: captureLogger('info').logger,
      nft: new FakeNft(),
      conntrack: new RecordingConntrack(),
      families: [4],
    });
    await running.proxier.syncNow();
    const ok = await fetch(`http://127.0.0.1:${port}/any/path`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ service: { namespace: 'default', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
    writeFileSync(join(dir, 'svc.yaml'), MANIFESTS.replace('healthCheckNodePort: 0', `healthCheckNodePort: ${port}`).replace('nodeName: node-a', 'nodeName: node-b'));
    await running.proxier.syncNow(); // the source re-reads on its own; sync until the count changes
    let status = 0;
    for (let attempt = 0; attempt < 100 && status !== 503; attempt++) {
      await new Promise((r) => setTimeout(r, 20));
      await running.proxier.syncNow();
      status = (await fetch(`http://127.0.0.1:${port}/`)).status;
    }
    expect(status).toBe(503);
  });
});

describe('portico service-proxy flags', () => {
  it('parses durations and CIDR lists, naming the bad value', () => {
    expect(parseDurationFlag('min-sync-period', '1s')).toBe(1000);
    expect(parseDurationFlag('min-sync-period', '250ms')).toBe(250);
    expect(parseDurationFlag('sync-period', '2m')).toBe(120_000);
    expect(parseDurationFlag('sync-period', '30')).toBe(30_000);
    expect(() => parseDurationFlag('sync-period', 'soon')).toThrow(/--sync-period must be a duration/);
    expect(parseCidrList('cluster-cidr', '10.244.1.7/16, fd00::/48').map((c) => `${c.ip.family}/${c.prefix}`)).toEqual(['4/16', '6/48']);
    expect(() => parseCidrList('cluster-cidr', '10.244.0.0/16,10.300.0.0/16')).toThrow(/--cluster-cidr: "10.300.0.0\/16" is not a CIDR/);
  });

  it('without nft on PATH: a clear message naming the fix and exit 1, no stack trace', () => {
    const result = spawnSync(process.execPath, [join(REPO, 'dist', 'cmd', 'portico.js'), 'service-proxy', '--cleanup'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: '/nonexistent' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/portico service-proxy: cannot use nft: .*install nftables.*\[PORTICO_ERR_SERVICE_PROXY_NFT\]/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('help lists the contract flags', () => {
    const result = spawnSync(process.execPath, [join(REPO, 'dist', 'cmd', 'portico.js'), 'help', 'service-proxy'], { encoding: 'utf8' });
    for (const flag of ['--manifests', '--kubeconfig', '--node-name', '--cluster-cidr', '--nodeport-addresses', '--min-sync-period', '--sync-period', '--healthz-port', '--metrics-port', '--cleanup']) {
      expect(result.stdout).toContain(flag);
    }
  });
});

describe('portico service-proxy over the Kubernetes API', () => {
  it('programs Services from the API once both kinds listed, and reports a broken Service as a Warning Event', async () => {
    const { FakeApiServer } = await import('../k8s/fake-api-server.js');
    const api = await FakeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'portico-sp-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeconfigYaml());
    try {
      api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'good', namespace: 'shop' }, spec: { clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 80 }] } });
      api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'broken', namespace: 'shop' }, spec: { clusterIP: '10.96.0.999', ports: [{ port: 80 }] } });
      api.create({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'good-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'good' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.244.1.5'] }] });
      const nft = new FakeNft();
      running = await startServiceProxy({
        kubeconfigPath: kubeconfig,
        nodeName: 'node-a',
        clusterCIDRs: [],
        minSyncPeriodMs: 0,
        syncPeriodMs: 30_000,
        logger: captureLogger('info').logger,
        nft,
        conntrack: new RecordingConntrack(),
        families: [4],
      });
      for (let attempt = 0; attempt < 200 && !nft.dump().includes(': 10.244.1.5 . 8080'); attempt++) await new Promise((r) => setTimeout(r, 25));
      expect(nft.dump()).toContain(': 10.244.1.5 . 8080');
      expect(nft.dump()).not.toContain('10.96.0.999');
      type Event = { type?: string; reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } };
      let events: Event[] = [];
      for (let attempt = 0; attempt < 200 && events.length === 0; attempt++) {
        await new Promise((r) => setTimeout(r, 25));
        events = (api.list('Event', 'shop') as Event[]).filter((e) => e.involvedObject?.name === 'broken');
      }
      expect(events).toEqual([
        expect.objectContaining({ type: 'Warning', reason: 'ServiceProxyObject', involvedObject: expect.objectContaining({ kind: 'Service', name: 'broken' }), message: expect.stringContaining('spec.clusterIP: "10.96.0.999" is not an IP address') }),
      ]);
    } finally {
      await running?.close();
      running = undefined;
      await api.close();
    }
  });
});
