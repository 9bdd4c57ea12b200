import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, ipJson, mustExec, tcpProbe } from './helpers.js';
import { Cluster, CLIENT_IP, CLUSTER_SKIP_REASON, pollUntil, type ClusterNode, type RunningCommand } from './cluster-harness.js';

// `portico node-agent` end to end, as users run it: three node namespaces on an underlay bridge
// with no routes between their pod subnets, an outside client, the agent running inside each
// node from a directory of manifests (Nodes), and pods wired by portico-cni from the conflist the
// agent wrote. Waits are polls with a bounded number of attempts, never timing assertions.

const skipTitle = (title: string) => (CLUSTER_SKIP_REASON ? `${title} (skipped: ${CLUSTER_SKIP_REASON})` : title);

let cluster: Cluster;
const agents = new Map<string, RunningCommand>();
const confDirs = new Map<string, string>();

function agentArgs(node: ClusterNode, mode: 'host-gw' | 'vxlan'): string[] {
  return ['node-agent', '--manifests', cluster.manifestsDir, '--node-name', node.name, '--mode', mode, '--cluster-cidr', '10.244.0.0/16', '--cni-conf-dir', confDirs.get(node.name)!, '--sync-period', '1s'];
}

async function startAgents(mode: 'host-gw' | 'vxlan'): Promise<void> {
  for (const node of cluster.nodes) agents.set(node.name, cluster.startPortico(node, agentArgs(node, mode)));
}

async function stopAgents(): Promise<number[]> {
  const codes = await Promise.all([...agents.values()].map((agent) => agent.stop()));
  agents.clear();
  return codes;
}

/** The agent's routes on a node, as `dst via gw dev d`. */
async function agentRoutes(node: ClusterNode): Promise<string[]> {
  const routes = (await ipJson(node.netns, ['route', 'show', 'proto', '80'])) as Array<{ dst: string; gateway: string; dev: string }>;
  return routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).sort();
}

async function vxlanTxPackets(node: ClusterNode): Promise<number | undefined> {
  const result = await exec('ip', ['-n', node.netns, '-j', '-s', 'link', 'show', 'dev', 'portico-vxlan']);
  if (result.code !== 0) return undefined;
  return Number(JSON.parse(result.stdout)[0].stats64.tx.packets);
}

const node = (n: number) => cluster.nodes[n - 1]!;

/** One TCP connection from pod `from` to pod `to`: the answering pod and the source address it saw. */
async function podToPod(from: string, to: string): Promise<{ pod?: string; remote?: string; error?: string }> {
  const [attempt] = await cluster.tcp(cluster.pod(from).netns, cluster.pod(to).ip, 8080, { timeoutMs: 1500 });
  return attempt?.reply ? { pod: attempt.reply.pod, remote: attempt.reply.remote } : { error: attempt?.error ?? 'no answer' };
}

async function allPairsAnswer(): Promise<boolean> {
  for (const from of ['web-1', 'web-2', 'web-3']) {
    for (const to of ['web-1', 'web-2', 'web-3']) {
      if (from === to) continue;
      const answer = await podToPod(from, to);
      if (answer.pod !== to || answer.remote !== cluster.pod(from).ip) return false;
    }
  }
  return true;
}

describe.skipIf(CLUSTER_SKIP_REASON !== undefined)(skipTitle('node agent on a three-node cluster in namespaces'), () => {
  beforeAll(async () => {
    cluster = await Cluster.create({ pods: [[], [], []], staticRoutes: false });
    await cluster.writeManifest('00-nodes.json', cluster.nodeObjects());
    for (const n of cluster.nodes) confDirs.set(n.name, await cluster.dataPath(`cni-${n.name}`));
    await startAgents('vxlan');
    for (const [i, n] of cluster.nodes.entries()) {
      const conflist = join(confDirs.get(n.name)!, '10-portico.conflist');
      await pollUntil(async () => existsSync(conflist), (found) => found, { attempts: 100, pauseMs: 100 });
      await cluster.addPodFromConflist(`web-${i + 1}`, n, conflist);
    }
  }, 120_000);

  afterAll(async () => {
    await stopAgents().catch(() => undefined);
    await cluster?.teardown();
  });

  it('vxlan: pods reach pods on the other nodes with their own source address, through the VXLAN device', async () => {
    expect(await agentRoutes(node(1))).toEqual(['10.244.2.0/24 via 10.244.2.0 dev portico-vxlan', '10.244.3.0/24 via 10.244.3.0 dev portico-vxlan']);
    const before = (await vxlanTxPackets(node(1)))!;
    expect(await pollUntil(allPairsAnswer, (ok) => ok, { attempts: 20, pauseMs: 250 })).toBe(true);
    // Each connection from web-1 is at least SYN, ACK, data, FIN through node-1's VXLAN device.
    expect((await vxlanTxPackets(node(1)))! - before).toBeGreaterThanOrEqual(8);
    const link = (await ipJson(node(1).netns, ['-d', 'link', 'show', 'dev', 'portico-vxlan']))[0];
    expect(link.address).toBe('02:70:0a:1e:00:0b'); // 02:70 + 10.30.0.11
    expect(link.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, local: node(1).ip, learning: false });
    const conflist = JSON.parse(await mustExec('cat', [join(confDirs.get('node-1')!, '10-portico.conflist')]));
    expect(conflist.plugins[0]).toMatchObject({ mtu: 1450, ipMasq: false, ipam: { ranges: [[{ subnet: '10.244.1.0/24' }]] } });
  });

  it('a LoadBalancer IP in the node subnet is answered by exactly one node, and by another once that agent stops', async () => {
    const LB = '10.30.0.200';
    await cluster.writeManifest('10-lb.json', [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: 'default' }, spec: { type: 'LoadBalancer', clusterIP: '10.96.0.50', ports: [{ port: 80, protocol: 'TCP' }] }, status: { loadBalancer: { ingress: [{ ip: LB }] } } },
    ]);
    const macs = new Map<string, string>();
    for (const n of cluster.nodes) macs.set((await ipJson(n.netns, ['link', 'show', 'dev', 'eth0']))[0].address, n.name);
    const answering = async () => {
      const arping = await exec('ip', ['netns', 'exec', cluster.client, 'arping', '-c', '2', '-w', '2', '-I', 'eth0', LB]);
      return [...new Set([...arping.stdout.matchAll(/\[([0-9A-F:]+)\]/gi)].map((m) => macs.get(m[1]!.toLowerCase()) ?? m[1]!))];
    };
    const first = await pollUntil(answering, (owners) => owners.length > 0, { attempts: 20, pauseMs: 250 });
    expect(first).toHaveLength(1);
    const owner = cluster.node(first[0]!);
    expect(await agents.get(owner.name)!.stop()).toBe(0);
    const next = await pollUntil(answering, (owners) => owners.length === 1 && owners[0] !== owner.name, { attempts: 20, pauseMs: 250 });
    expect(next).toHaveLength(1);
    expect(next[0]).not.toBe(owner.name);
    agents.set(owner.name, cluster.startPortico(owner, agentArgs(owner, 'vxlan')));
  });

  it('pod traffic leaving the cluster is masqueraded to the node address; pod ↔ pod is not', async () => {
    await cluster.sandbox.listen(cluster.client, '0.0.0.0', 9090);
    expect(await tcpProbe(cluster.pod('web-2').netns, CLIENT_IP, 9090)).toBe(node(2).ip);
    expect((await podToPod('web-2', 'web-3')).remote).toBe(cluster.pod('web-2').ip);
  });

  it('a route deleted by hand comes back within the sync period', async () => {
    await mustExec('ip', ['-n', node(1).netns, 'route', 'del', '10.244.2.0/24']);
    const routes = await pollUntil(() => agentRoutes(node(1)), (r) => r.length === 2, { attempts: 40, pauseMs: 250 });
    expect(routes, agents.get('node-1')!.output.slice(-3000)).toContain('10.244.2.0/24 via 10.244.2.0 dev portico-vxlan');
    expect((await podToPod('web-1', 'web-2')).pod).toBe('web-2');
  });

  it('a removed Node loses its route, neighbour and FDB entry on the others; it comes back when the Node does', async () => {
    await cluster.writeManifest('00-nodes.json', cluster.nodeObjects().filter((n: any) => n.metadata.name !== 'node-3'));
    // The route goes first, then (a moment later, in the same pass) the neighbour and FDB entry.
    const entries = async () => ({
      routes: await agentRoutes(node(1)),
      fdb: await mustExec('bridge', ['-n', node(1).netns, 'fdb', 'show', 'dev', 'portico-vxlan']),
      neigh: await mustExec('ip', ['-n', node(1).netns, 'neigh', 'show', 'dev', 'portico-vxlan']),
    });
    const gone = await pollUntil(entries, (e) => e.routes.length === 1 && !e.fdb.includes(node(3).ip) && !e.neigh.includes('10.244.3.0'), { attempts: 40, pauseMs: 100 });
    expect(gone.routes).toEqual(['10.244.2.0/24 via 10.244.2.0 dev portico-vxlan']);
    expect(gone.fdb).not.toContain(node(3).ip);
    expect(gone.neigh).not.toContain('10.244.3.0');
    expect((await podToPod('web-1', 'web-3')).pod).toBeUndefined();
    await cluster.writeManifest('00-nodes.json', cluster.nodeObjects());
    await pollUntil(() => agentRoutes(node(1)), (r) => r.length === 2, { attempts: 40, pauseMs: 100 });
    expect(await pollUntil(allPairsAnswer, (ok) => ok, { attempts: 20, pauseMs: 250 })).toBe(true);
  });

  it('a stopped agent leaves the routes (pods keep talking); restarted in host-gw mode it removes the VXLAN state', async () => {
    expect(await stopAgents()).toEqual([0, 0, 0]);
    expect(await allPairsAnswer()).toBe(true);
    await startAgents('host-gw');
    const routes = await pollUntil(() => agentRoutes(node(1)), (r) => r.length === 2 && r.every((line) => line.endsWith('dev eth0')), { attempts: 40, pauseMs: 100 });
    expect(routes).toEqual([`10.244.2.0/24 via ${node(2).ip} dev eth0`, `10.244.3.0/24 via ${node(3).ip} dev eth0`]);
    expect(await pollUntil(() => vxlanTxPackets(node(1)), (n) => n === undefined, { attempts: 40, pauseMs: 100 })).toBeUndefined();
    expect(await pollUntil(allPairsAnswer, (ok) => ok, { attempts: 20, pauseMs: 250 })).toBe(true);
  });

  it('--cleanup (after the agent stopped) removes its routes, device, nft table and conflist, and nothing else', async () => {
    await stopAgents();
    for (const n of cluster.nodes) {
      const result = await cluster.portico(n, ['node-agent', '--cleanup', '--cni-conf-dir', confDirs.get(n.name)!]);
      expect(result.code, result.stderr).toBe(0);
      expect(await agentRoutes(n)).toEqual([]);
      expect((await exec('ip', ['-n', n.netns, 'link', 'show', 'dev', 'portico-vxlan'])).code).not.toBe(0);
      expect((await exec('ip', ['netns', 'exec', n.netns, 'nft', 'list', 'table', 'ip', 'portico-node'])).code).not.toBe(0);
      expect(existsSync(join(confDirs.get(n.name)!, '10-portico.conflist'))).toBe(false);
      // The CNI plugin's bridge and the pod behind it are not the agent's to remove.
      expect((await exec('ip', ['-n', n.netns, 'link', 'show', 'dev', 'cni0'])).code).toBe(0);
    }
  });
});
