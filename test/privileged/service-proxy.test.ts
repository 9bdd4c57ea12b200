import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from './helpers.js';
import { Cluster, CLUSTER_SKIP_REASON, pollUntil, tally, type Attempt, type ClusterNode, type Pod, type RunningCommand } from './cluster-harness.js';

// `portico service-proxy` end to end, as users run it: two node namespaces on an underlay bridge,
// pods wired by portico-cni, host-gw routes set here, an outside client on the underlay, and the
// service proxy running inside each node namespace from a directory of manifests (Services,
// EndpointSlices, Nodes) that the tests rewrite. Endpoint choice is random, so "reaches every
// endpoint" sends enough connections that missing one by chance is below 1e-4; waits are polls
// with a bounded number of attempts, never timing assertions.

const skipTitle = (title: string) => (CLUSTER_SKIP_REASON ? `${title} (skipped: ${CLUSTER_SKIP_REASON})` : title);

const WEB_PODS = ['web-1a', 'web-2a', 'web-2b'];
const HEALTHZ_PORT = 10256;
const METRICS_PORT = 10249;

let cluster: Cluster;

interface PortSpec {
  name: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
  nodePort?: number;
}

function service(name: string, clusterIP: string, ports: PortSpec[], spec: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type: ports.some((p) => p.nodePort) ? 'NodePort' : 'ClusterIP',
      clusterIP,
      clusterIPs: [clusterIP],
      ipFamilies: ['IPv4'],
      selector: { app: name },
      ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: 8080, protocol: p.protocol ?? 'TCP', ...(p.nodePort ? { nodePort: p.nodePort } : {}) })),
      ...spec,
    },
  };
}

function slice(serviceName: string, pods: readonly Pod[], ports: PortSpec[]): unknown {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${serviceName}-x1`, namespace: 'default', labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ name: p.name, port: 8080, protocol: p.protocol ?? 'TCP' })),
    endpoints: pods.map((pod) => ({
      addresses: [pod.ip],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: pod.node.name,
      targetRef: { kind: 'Pod', namespace: 'default', name: pod.name },
    })),
  };
}

const TCP80: PortSpec[] = [{ name: 'http', port: 80 }];
const WEB_PORTS: PortSpec[] = [
  { name: 'tcp', port: 80, protocol: 'TCP', nodePort: 30080 },
  { name: 'udp', port: 80, protocol: 'UDP', nodePort: 30080 },
];
const UDP53: PortSpec[] = [{ name: 'dns', port: 53, protocol: 'UDP' }];

const pods = (...names: string[]) => names.map((n) => cluster.pod(n));

/** The whole manifest directory, one file per slice so a test can rewrite one. */
async function writeManifests(): Promise<void> {
  await cluster.writeManifest('00-nodes.json', cluster.nodeObjects());
  await cluster.writeManifest('10-services.json', [
    service('web', '10.96.0.10', WEB_PORTS),
    service('empty', '10.96.0.11', [{ name: 'http', port: 80, nodePort: 30081 }]),
    service('sticky', '10.96.0.12', TCP80, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }),
    // healthCheckNodePort exists for LoadBalancer Services with externalTrafficPolicy Local (no
    // load balancer here: its NodePort is what the test uses).
    service('local', '10.96.0.13', [{ name: 'http', port: 80, nodePort: 30082 }], { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30300 }),
    service('solo', '10.96.0.14', TCP80),
    service('shrink', '10.96.0.15', TCP80),
    service('dns', '10.96.0.16', UDP53),
    service('broken', '10.96.0.300', TCP80),
  ]);
  await cluster.writeManifest('20-slice-broken.json', [slice('broken', pods('web-1a'), TCP80)]);
  await cluster.writeManifest('20-slice-web.json', [slice('web', pods(...WEB_PODS), WEB_PORTS)]);
  await cluster.writeManifest('20-slice-empty.json', [slice('empty', [], [{ name: 'http', port: 80 }])]);
  await cluster.writeManifest('20-slice-sticky.json', [slice('sticky', pods(...WEB_PODS), TCP80)]);
  await cluster.writeManifest('20-slice-local.json', [slice('local', pods('web-2a'), [{ name: 'http', port: 80 }])]);
  await cluster.writeManifest('20-slice-solo.json', [slice('solo', pods('web-1a'), TCP80)]);
  await cluster.writeManifest('20-slice-shrink.json', [slice('shrink', pods(...WEB_PODS), TCP80)]);
  await cluster.writeManifest('20-slice-dns.json', [slice('dns', pods(...WEB_PODS), UDP53)]);
}

function proxyArgs(node: ClusterNode): string[] {
  return [
    'service-proxy',
    '--manifests', cluster.manifestsDir,
    '--node-name', node.name,
    '--cluster-cidr', '10.244.0.0/16',
    '--min-sync-period', '1s',
    '--sync-period', '30s',
    '--healthz-port', String(HEALTHZ_PORT),
    '--metrics-port', String(METRICS_PORT),
  ];
}

/** Another tool's table on each node: the proxy must neither touch it nor remove it on --cleanup. */
const BYSTANDER = `table inet bystander {
  set blocked { type ipv4_addr; elements = { 192.0.2.1 } }
  chain input { type filter hook input priority 0; policy accept; ip saddr @blocked drop; }
}
`;

/** The ruleset without counters and named-set contents (affinity sets change on their own). */
const proxyRules = (node: ClusterNode) => cluster.nft(node, ['-t', '-s', 'list', 'table', 'ip', 'portico-proxy']);

const replies = (attempts: Attempt[]) => attempts.map((a) => a.reply?.remote ?? `!${a.error}`);

describe.skipIf(CLUSTER_SKIP_REASON !== undefined)(skipTitle('service proxy on a two-node cluster in namespaces'), () => {
  beforeAll(async () => {
    cluster = await Cluster.create({ pods: [['web-1a', 'client-1'], ['web-2a', 'web-2b']] });
  }, 120_000);

  afterAll(async () => {
    await cluster?.teardown();
  });

  it('pods reach each other by pod IP on one node and across nodes, source IP preserved (TCP and UDP)', async () => {
    const client = cluster.pod('client-1');
    for (const target of WEB_PODS) {
      const pod = cluster.pod(target);
      expect(await cluster.tcp(client.netns, pod.ip, 8080), `TCP client-1 → ${target}`).toEqual([{ reply: { pod: target, remote: client.ip, port: 8080 } }]);
      expect(await cluster.udp(client.netns, pod.ip, 8080), `UDP client-1 → ${target}`).toEqual([{ reply: { pod: target, remote: client.ip, port: 8080 } }]);
    }
    const back = cluster.pod('web-2a');
    expect(await cluster.tcp(back.netns, client.ip, 8080)).toEqual([{ reply: { pod: 'client-1', remote: back.ip, port: 8080 } }]);
    // The outside client reaches nodes, not pods (it has no route to 10.244.0.0/16).
    expect(tally(await cluster.tcp(cluster.client, client.ip, 8080, { timeoutMs: 300 }))).not.toHaveProperty('client-1');
  });

  describe('portico service-proxy in each node namespace', () => {
    const proxies = new Map<string, RunningCommand>();
    /** `nft list ruleset` of each node before the proxy first ran. */
    const before = new Map<string, string>();
    const bystander = new Map<string, string>();
    const output = () => [...proxies].map(([name, p]) => `--- ${name}:\n${p.output.slice(-4000)}`).join('\n');

    beforeAll(async () => {
      const help = await cluster.portico(cluster.nodes[0]!, ['help', 'service-proxy']);
      if (help.code !== 0 || !help.stdout.includes('--cluster-cidr')) {
        throw new Error(`portico service-proxy is not built (node dist/cmd/portico.js help service-proxy exited ${help.code}: ${help.stdout}${help.stderr})`);
      }
      await writeManifests();
      for (const node of cluster.nodes) {
        await cluster.nft(node, ['-f', '-'], BYSTANDER);
        before.set(node.name, await cluster.nft(node, ['list', 'ruleset']));
        bystander.set(node.name, await cluster.nft(node, ['list', 'table', 'inet', 'bystander']));
      }
      for (const node of cluster.nodes) proxies.set(node.name, cluster.startPortico(node, proxyArgs(node)));
      for (const node of cluster.nodes) await waitHealthy(node);
    }, 60_000);

    /** /healthz answers 200 once the first sync is applied; fails early if the proxy exited. */
    async function waitHealthy(node: ClusterNode): Promise<void> {
      const healthz = await pollUntil(
        () => cluster.http(node.netns, `http://${node.ip}:${HEALTHZ_PORT}/healthz`, 1000),
        (r) => r.status === 200 || proxies.get(node.name)!.exitCode !== undefined,
        { attempts: 150, pauseMs: 200 },
      );
      if (healthz.status !== 200) throw new Error(`service proxy on ${node.name} never became healthy (last /healthz: ${JSON.stringify(healthz)})\n${output()}`);
    }

    /** The proxy's structured log lines on a node. */
    const logLines = (node: ClusterNode) =>
      proxies.get(node.name)!.output.split('\n').flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });

    afterAll(async () => {
      for (const proxy of proxies.values()) await proxy.stop();
    });

    it('creates its own table per family, leaves other tables alone and serves /metrics', async () => {
      for (const node of cluster.nodes) {
        const tables = (await cluster.nft(node, ['list', 'tables'])).split('\n').filter(Boolean).sort();
        expect(tables, node.name).toEqual(['table inet bystander', 'table ip portico-proxy', 'table ip6 portico-proxy']);
        expect(await cluster.nft(node, ['list', 'table', 'inet', 'bystander']), node.name).toBe(bystander.get(node.name));
        const metrics = await cluster.http(node.netns, `http://${node.ip}:${METRICS_PORT}/metrics`);
        expect(metrics.status, output()).toBe(200);
        expect(metrics.body).toMatch(/^# TYPE \S+ (counter|gauge|histogram)$/m);
        // The broken Service is reported by object and field (and skipped: every test here uses the others).
        const reports = logLines(node).filter((l) => String(l['object']).includes('default/broken'));
        expect(reports.length, node.name).toBeGreaterThan(0);
        for (const report of reports) {
          expect(report, node.name).toMatchObject({ code: 'PORTICO_ERR_SERVICE_PROXY_OBJECT', field: expect.stringMatching(/^spec\.clusterIPs?\b/) });
        }
      }
    });

    it('a ClusterIP reaches every endpoint from a pod (source IP preserved, TCP and UDP) and from both nodes', async () => {
      const client = cluster.pod('client-1');
      const tcp = await cluster.tcp(client.netns, '10.96.0.10', 80, { count: 30 });
      expect(Object.keys(tally(tcp)), JSON.stringify(tally(tcp))).toEqual(WEB_PODS);
      // pod → ClusterIP → pod on the same node (web-1a) and across nodes (web-2a, web-2b): no SNAT.
      expect(new Set(replies(tcp))).toEqual(new Set([client.ip]));
      const udp = await cluster.udp(client.netns, '10.96.0.10', 80, { count: 30 });
      expect(Object.keys(tally(udp)), JSON.stringify(tally(udp))).toEqual(WEB_PODS);
      expect(new Set(replies(udp))).toEqual(new Set([client.ip]));
      for (const node of cluster.nodes) {
        const fromNode = await cluster.tcp(node.netns, '10.96.0.10', 80, { count: 30 });
        expect(Object.keys(tally(fromNode)), `${node.name}: ${JSON.stringify(tally(fromNode))}`).toEqual(WEB_PODS);
      }
    });

    it('every NodePort (both nodes, TCP and UDP) reaches every endpoint from outside the cluster', async () => {
      for (const node of cluster.nodes) {
        const tcp = await cluster.tcp(cluster.client, node.ip, 30080, { count: 30 });
        expect(Object.keys(tally(tcp)), `TCP ${node.ip}:30080 ${JSON.stringify(tally(tcp))}`).toEqual(WEB_PODS);
        // externalTrafficPolicy Cluster: masqueraded, so replies come back through this node.
        expect(replies(tcp)).not.toContain(cluster.clientIp);
        const udp = await cluster.udp(cluster.client, node.ip, 30080, { count: 30 });
        expect(Object.keys(tally(udp)), `UDP ${node.ip}:30080 ${JSON.stringify(tally(udp))}`).toEqual(WEB_PODS);
      }
    });

    it('a Service without endpoints refuses connections at once (ClusterIP from a pod and a node, NodePort from outside), as does an undefined ClusterIP port', async () => {
      // REJECT answers the first SYN; DROP, or a refusal that only comes on a retransmitted SYN,
      // would show as `timeout` or as more SYNs than connections.
      const targets: Array<[string, string, string, number]> = [
        ['pod client-1 → ClusterIP', cluster.pod('client-1').netns, '10.96.0.11', 80],
        ['node-2 → ClusterIP', cluster.nodes[1]!.netns, '10.96.0.11', 80],
        ...cluster.nodes.map((node): [string, string, string, number] => [`outside → ${node.name} NodePort`, cluster.client, node.ip, 30081]),
        // A port the ClusterIP does not define is refused the same way (kube-proxy's cluster-ips-check).
        // Another pod than above: the kernel lets a node send one host 6 ICMP errors at once, then 1/s.
        ['pod web-2b → ClusterIP, undefined port', cluster.pod('web-2b').netns, '10.96.0.10', 81],
        ['node-1 → ClusterIP, undefined port', cluster.nodes[0]!.netns, '10.96.0.10', 81],
      ];
      for (const [what, from, host, port] of targets) {
        const { result, syns } = await cluster.countSyns(from, host, port, () => cluster.tcp(from, host, port, { count: 3, timeoutMs: 5000 }));
        expect({ what, outcomes: tally(result), syns }).toEqual({ what, outcomes: { '!ECONNREFUSED': 3 }, syns: 3 });
      }
    });

    it('sessionAffinity ClientIP sends every connection of a client to one endpoint', async () => {
      for (const from of [cluster.pod('client-1').netns, cluster.pod('web-2b').netns, cluster.nodes[1]!.netns]) {
        const counts = tally(await cluster.tcp(from, '10.96.0.12', 80, { count: 20 }));
        expect(Object.values(counts), `${from}: ${JSON.stringify(counts)}`).toEqual([20]);
        expect(WEB_PODS).toContain(Object.keys(counts)[0]);
      }
    });

    it('a pod reaches itself through its own Service (hairpin)', async () => {
      const pod = cluster.pod('web-1a');
      expect(tally(await cluster.tcp(pod.netns, '10.96.0.14', 80, { count: 5 }))).toEqual({ 'web-1a': 5 });
    });

    it('externalTrafficPolicy Local: the node with the endpoint keeps the client source IP, the other drops; pods are short-circuited', async () => {
      const [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
      const local = await cluster.tcp(cluster.client, node2.ip, 30082, { count: 10 });
      expect(tally(local)).toEqual({ 'web-2a': 10 });
      expect(new Set(replies(local))).toEqual(new Set([cluster.clientIp]));
      // No local endpoint on node-1: dropped (not rejected, not forwarded).
      expect(tally(await cluster.tcp(cluster.client, node1.ip, 30082, { count: 2, timeoutMs: 1000 }))).toEqual({ '!timeout': 2 });
      // Pod-sourced traffic goes to the cluster-wide endpoints even on node-1.
      expect(tally(await cluster.tcp(cluster.pod('client-1').netns, node1.ip, 30082, { count: 5 }))).toEqual({ 'web-2a': 5 });
    });

    it('healthCheckNodePort answers 200 on the node with a local endpoint and 503 on the other', async () => {
      const [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
      const healthy = await cluster.http(cluster.client, `http://${node2.ip}:30300/`);
      expect(healthy.status, JSON.stringify(healthy)).toBe(200);
      expect(healthy.body).toMatch(/localEndpoints"?\s*:\s*1\b/);
      const unhealthy = await cluster.http(cluster.client, `http://${node1.ip}:30300/healthz`);
      expect(unhealthy.status, JSON.stringify(unhealthy)).toBe(503);
      expect(unhealthy.body).toMatch(/localEndpoints"?\s*:\s*0\b/);
    });

    it('when the Local endpoint moves to the other node, health checks and source-preserving traffic follow it', { timeout: 60_000 }, async () => {
      const [node1, node2] = cluster.nodes as [ClusterNode, ClusterNode];
      await cluster.writeManifest('20-slice-local.json', [slice('local', pods('web-1a'), [{ name: 'http', port: 80 }])]);
      const status = (node: ClusterNode) => cluster.http(cluster.client, `http://${node.ip}:30300/`).then((r) => r.status);
      expect(await pollUntil(() => status(node1), (s) => s === 200, { attempts: 100, pauseMs: 200 }), 'node-1 after the move').toBe(200);
      expect(await pollUntil(() => status(node2), (s) => s === 503, { attempts: 100, pauseMs: 200 }), 'node-2 after the move').toBe(503);
      const local = await cluster.tcp(cluster.client, node1.ip, 30082, { count: 10 });
      expect(tally(local)).toEqual({ 'web-1a': 10 });
      expect(new Set(replies(local))).toEqual(new Set([cluster.clientIp]));
      expect(tally(await cluster.tcp(cluster.client, node2.ip, 30082, { count: 2, timeoutMs: 1000 }))).toEqual({ '!timeout': 2 });
    });

    it('an endpoint removed from its slice stops receiving new connections after the next sync', { timeout: 60_000 }, async () => {
      const client = cluster.pod('client-1');
      const start = await cluster.tcp(client.netns, '10.96.0.15', 80, { count: 30 });
      expect(Object.keys(tally(start))).toEqual(WEB_PODS);
      const rules = new Map<string, string>();
      for (const node of cluster.nodes) rules.set(node.name, await proxyRules(node));

      await cluster.writeManifest('20-slice-shrink.json', [slice('shrink', pods('web-1a', 'web-2a'), TCP80)]);
      for (const node of cluster.nodes) {
        const after = await pollUntil(() => proxyRules(node), (r) => r !== rules.get(node.name), { attempts: 100, pauseMs: 200 });
        expect(after, `${node.name} never rewrote its rules after the slice changed\n${output()}`).not.toBe(rules.get(node.name));
      }
      for (const from of [client.netns, cluster.nodes[1]!.netns]) {
        const counts = tally(await cluster.tcp(from, '10.96.0.15', 80, { count: 30 }));
        expect(Object.keys(counts), `${from}: ${JSON.stringify(counts)}`).toEqual(['web-1a', 'web-2a']);
      }
    });

    it('UDP survives an endpoint change: the removed endpoint’s conntrack entries are cleared', { timeout: 60_000 }, async () => {
      const client = cluster.pod('client-1');
      const sourcePort = 40053;
      const first = await cluster.udp(client.netns, '10.96.0.16', 53, { count: 3, sourcePort });
      const counts = tally(first);
      expect(Object.values(counts), JSON.stringify(counts)).toEqual([3]); // one flow, one endpoint
      const victim = Object.keys(counts)[0]!;
      expect(WEB_PODS).toContain(victim);
      const node1 = cluster.nodes[0]!;
      const flows = () => mustConntrack(node1, ['-L', '-p', 'udp', '--orig-dst', '10.96.0.16']);
      expect(await flows()).toContain(`src=${cluster.pod(victim).ip}`);

      // The victim keeps running and would keep answering this flow if its entry stayed.
      const survivors = WEB_PODS.filter((p) => p !== victim);
      await cluster.writeManifest('20-slice-dns.json', [slice('dns', pods(...survivors), UDP53)]);
      const moved = await pollUntil(
        () => cluster.udp(client.netns, '10.96.0.16', 53, { count: 1, sourcePort, timeoutMs: 1000 }),
        (a) => a[0]?.reply !== undefined && a[0].reply.pod !== victim,
        { attempts: 60, pauseMs: 250 },
      );
      expect(moved[0]?.reply?.pod, `the flow from :${sourcePort} still goes to ${victim}\n${await flows()}`).not.toBe(victim);
      expect(survivors).toContain(moved[0]?.reply?.pod);
      const later = tally(await cluster.udp(client.netns, '10.96.0.16', 53, { count: 5, sourcePort }));
      expect(later).toEqual({ [moved[0]!.reply!.pod]: 5 });
      expect(await flows()).not.toContain(`src=${cluster.pod(victim).ip}`);
      // New flows (fresh source ports) go to the survivors only, and to both of them.
      const fresh = tally(await cluster.udp(client.netns, '10.96.0.16', 53, { count: 30 }));
      expect(Object.keys(fresh), JSON.stringify(fresh)).toEqual(survivors);
    });

    it('a deleted Service stops answering and answers again when re-created', { timeout: 60_000 }, async () => {
      const pod = cluster.pod('client-1');
      const all = JSON.parse(await readFile(join(cluster.manifestsDir, '10-services.json'), 'utf8')) as { items: Array<{ metadata: { name: string } }> };
      const answered = async () => (await cluster.tcp(pod.netns, '10.96.0.14', 80, { count: 1, timeoutMs: 500 }))[0]?.reply?.pod;
      expect(await answered()).toBe('web-1a');
      await cluster.writeManifest('10-services.json', all.items.filter((item) => item.metadata.name !== 'solo'));
      // Gone from every chain, map and set (the full listing, elements included), then unanswered.
      for (const node of cluster.nodes) {
        const listing = () => cluster.nft(node, ['list', 'table', 'ip', 'portico-proxy']);
        expect(await pollUntil(listing, (l) => !l.includes('10.96.0.14'), { attempts: 100, pauseMs: 200 }), node.name).not.toContain('10.96.0.14');
      }
      expect(await answered(), 'after the delete').toBeUndefined();
      await cluster.writeManifest('10-services.json', all.items);
      expect(await pollUntil(answered, (p) => p === 'web-1a', { attempts: 40, pauseMs: 250 }), 'after re-creating').toBe('web-1a');
    });

    // A new process finds the previous one's table: its first full sync must rewrite every chain.
    it('a restarted proxy takes over its rules: unchanged they stay the same, changed they are applied', { timeout: 90_000 }, async () => {
      const node = cluster.nodes[0]!;
      const restart = async () => {
        expect([0, 143]).toContain(await proxies.get(node.name)!.stop());
        proxies.set(node.name, cluster.startPortico(node, proxyArgs(node)));
        await waitHealthy(node);
        // The first sync of the new process found the old table and applied without a failure.
        expect(logLines(node).filter((l) => l['code'] === 'PORTICO_ERR_SERVICE_PROXY_SYNC'), output()).toEqual([]);
      };
      const rules = await proxyRules(node);
      await restart();
      expect(await proxyRules(node)).toBe(rules);

      await proxies.get(node.name)!.stop();
      await cluster.writeManifest('20-slice-shrink.json', [slice('shrink', pods('web-2b'), TCP80)]);
      await restart();
      // client-1 is on node-1: its connections follow node-1's rules only.
      expect(tally(await cluster.tcp(cluster.pod('client-1').netns, '10.96.0.15', 80, { count: 10 }))).toEqual({ 'web-2b': 10 });
      const web = tally(await cluster.tcp(cluster.pod('client-1').netns, '10.96.0.10', 80, { count: 30 }));
      expect(Object.keys(web), JSON.stringify(web)).toEqual(WEB_PODS);
    });

    it('--cleanup removes everything it created: the ruleset is as before', async () => {
      for (const node of cluster.nodes) {
        const code = await proxies.get(node.name)!.stop();
        expect([0, 143], `${node.name} exit`).toContain(code);
        const cleanup = await cluster.portico(node, ['service-proxy', '--cleanup']);
        expect(cleanup.code, cleanup.stdout + cleanup.stderr).toBe(0);
        expect(await cluster.nft(node, ['list', 'ruleset']), node.name).toBe(before.get(node.name));
        // Twice is fine: nothing left to remove.
        expect((await cluster.portico(node, ['service-proxy', '--cleanup'])).code).toBe(0);
      }
      // Nothing answers the ClusterIP any more.
      const [gone] = await cluster.tcp(cluster.pod('client-1').netns, '10.96.0.10', 80, { count: 1, timeoutMs: 500 });
      expect(gone?.reply).toBeUndefined();
    });
  });
});

async function mustConntrack(node: ClusterNode, args: string[]): Promise<string> {
  const result = await exec('ip', ['netns', 'exec', node.netns, 'conntrack', ...args]);
  // conntrack prints the entries on stdout and a summary line on stderr.
  if (result.code !== 0) throw new Error(`conntrack ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}
