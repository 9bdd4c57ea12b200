import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../../src/lib/cidr.js';
import { FaultPlan } from '../../src/lib/fault-plan.js';
import { FakeNft } from '../../src/nft/fake-nft.js';
import { FakeRouteHost } from '../../src/route-agent/fake-route-host.js';
import { cleanupNodeNetwork, NodeAgent, type NodeAgentOptions } from '../../src/route-agent/node-agent.js';
import { ObjectStore } from '../../src/store/object-store.js';
import type { Diagnostic } from '../../src/model/route-model.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { node } from '../helpers/objects.js';

const agents: NodeAgent[] = [];
afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop();
});

function setup(options: Partial<NodeAgentOptions> & { faults?: FaultPlan } = {}) {
  const store = new ObjectStore();
  for (const n of [1, 2, 3]) store.upsert(node(`node-${n}`, { podCIDRs: [`10.244.${n}.0/24`], internalIP: `10.250.0.1${n}` }));
  const host = new FakeRouteHost({ ...(options.faults && { faults: options.faults }) });
  const nft = new FakeNft();
  const conflists: string[] = [];
  const diagnostics: Diagnostic[] = [];
  const { logger, lines } = captureLogger();
  const agent = new NodeAgent({
    store,
    host,
    nft,
    logger,
    nodeName: 'node-1',
    mode: 'vxlan',
    clusterCIDRs: [parseCidr('10.244.0.0/16')!],
    vni: 1,
    port: 8472,
    syncPeriodMs: 3_600_000,
    delayMs: 1,
    writeConflist: async (content) => void conflists.push(content),
    onDiagnostic: (d) => diagnostics.push(d),
    ...options,
  });
  agents.push(agent);
  return { store, host, nft, agent, conflists, diagnostics, lines };
}

async function firstPass(agent: NodeAgent): Promise<boolean> {
  const pass = agent.nextPass();
  agent.markSynced();
  return pass;
}

describe('NodeAgent', () => {
  it('programs nothing before the source has synced, then the whole vxlan state in one pass', async () => {
    const { host, nft, agent, conflists } = setup();
    expect(host.applied).toEqual([]);
    expect(await firstPass(agent)).toBe(true);
    expect(host.applied).toEqual([
      'create vxlan portico-vxlan id 1 local 10.250.0.11 dev eth0 dstport 8472',
      'set fdb 02:70:0a:fa:00:0c dst 10.250.0.12 dev portico-vxlan',
      'set fdb 02:70:0a:fa:00:0d dst 10.250.0.13 dev portico-vxlan',
      'set neighbour 10.244.2.0 lladdr 02:70:0a:fa:00:0c dev portico-vxlan',
      'set neighbour 10.244.3.0 lladdr 02:70:0a:fa:00:0d dev portico-vxlan',
      'set route 10.244.2.0/24 via 10.244.2.0 dev portico-vxlan onlink',
      'set route 10.244.3.0/24 via 10.244.3.0 dev portico-vxlan onlink',
    ]);
    expect([...host.forwarding]).toEqual([4]);
    expect(nft.dump()).toMatchInlineSnapshot(`
      "table ip portico-node {
      	comment "portico node-agent: masquerade pod traffic leaving the cluster"
      	set cluster-cidrs {
      		type ipv4_addr
      		flags interval
      		comment "--cluster-cidr"
      		element 10.244.0.0/16
      	}
      	chain postrouting {
      		type nat hook postrouting priority srcnat; policy accept;
      		ip saddr @cluster-cidrs ip daddr @cluster-cidrs return comment "pod to pod: source kept"
      		ip saddr @cluster-cidrs ip daddr != 224.0.0.0/4 masquerade comment "pod to outside the cluster"
      	}
      }
      "
    `);
    expect(conflists).toHaveLength(1);
    const conflist = JSON.parse(conflists[0]!);
    expect(conflist.plugins[0]).toMatchObject({ type: 'portico-cni', ipMasq: false, mtu: 1450, ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]] } });
  });

  it('a deleted Node loses its route, neighbour and FDB entry; the others stay', async () => {
    const { store, host, agent } = setup();
    await firstPass(agent);
    const pass = agent.nextPass();
    store.remove('Node', 'node-3');
    expect(await pass).toBe(true);
    expect(host.routes.map((r) => r.dst)).toEqual(['10.244.2.0/24']);
    expect(host.neighbours.map((n) => n.address)).toEqual(['10.244.2.0']);
    expect(host.fdb.map((f) => f.dst)).toEqual(['10.250.0.12']);
  });

  it('the periodic full reconcile restores a route deleted by hand, and re-applies the nft table', async () => {
    const { host, nft, agent } = setup();
    await firstPass(agent);
    host.deleteRoute('10.244.2.0/24');
    const applied = nft.history.length;
    const pass = agent.nextPass();
    agent.resync();
    expect(await pass).toBe(true);
    expect(host.routes.map((r) => r.dst).sort()).toEqual(['10.244.2.0/24', '10.244.3.0/24']);
    expect(nft.history.length).toBe(applied + 1);
  });

  it('a change the kernel refuses fails the pass (the rest applied); the retry completes it', async () => {
    const faults = new FaultPlan();
    const { host, agent, lines } = setup({ faults });
    faults.arm(2); // observe, create device, then the first FDB entry fails
    expect(await firstPass(agent)).toBe(false);
    expect(host.routes).toHaveLength(2);
    expect(host.fdb).toHaveLength(1);
    expect(lines.some((l) => l['code'] === 'PORTICO_ERR_NODE_AGENT_APPLY')).toBe(true);
    expect(await agent.nextPass()).toBe(true);
    expect(host.fdb).toHaveLength(2);
    expect(agent.status.failedPasses).toBe(1);
  });

  it('reports a bad Node once and keeps routing to the others', async () => {
    const { store, host, agent, diagnostics } = setup();
    store.upsert(node('node-4', { podCIDRs: ['10.99.0.0/24'], internalIP: '10.250.0.14' }));
    await firstPass(agent);
    expect(diagnostics.map((d) => [d.code, d.object.name])).toEqual([['PORTICO_ERR_NODE_AGENT_POD_CIDR', 'node-4']]);
    const pass = agent.nextPass();
    agent.resync();
    await pass;
    expect(diagnostics).toHaveLength(1);
    expect(host.routes.map((r) => r.dst)).toEqual(['10.244.2.0/24', '10.244.3.0/24']);
  });

  it('a read-only /proc/sys (unprivileged container) is reported, and the routes are still programmed', async () => {
    const { host, agent, diagnostics } = setup();
    host.ensureForwarding = async () => {
      throw new Error('EROFS: read-only file system');
    };
    expect(await firstPass(agent)).toBe(true);
    expect(diagnostics.map((d) => d.message)).toEqual([expect.stringContaining('cannot turn IP forwarding on: EROFS')]);
    expect(host.routes).toHaveLength(2);
  });

  it("this node's Node turning unusable (podCIDR dropped by a bad edit) keeps the device and routes", async () => {
    // --iface given: the pass goes on without this node's address, so only the kept state saves the device.
    const { store, host, agent, diagnostics } = setup({ iface: 'eth0' });
    await firstPass(agent);
    const pass = agent.nextPass();
    store.upsert(node('node-1', { internalIP: '10.250.0.11' }));
    await pass;
    expect(diagnostics.map((d) => [d.code, d.object.name])).toContainEqual(['PORTICO_ERR_NODE_AGENT_NODE', 'node-1']);
    expect([...host.devices.keys()]).toEqual(['portico-vxlan']);
    expect(host.routes).toHaveLength(2);
  });

  it('no underlay interface: reported, nothing programmed, retried', async () => {
    const { host, agent, diagnostics } = setup({ iface: 'eth9' });
    expect(await firstPass(agent)).toBe(false);
    expect(diagnostics.map((d) => d.code)).toEqual(['PORTICO_ERR_NODE_AGENT_IFACE']);
    expect(host.applied).toEqual([]);
  });

  it('host-gw after vxlan (a restart with the other mode) removes the device and routes via the underlay', async () => {
    const first = setup();
    await firstPass(first.agent);
    await first.agent.stop();
    const second = setup({ mode: 'host-gw' });
    // The second agent sees the first one's kernel state.
    second.host.devices = first.host.devices;
    second.host.routes = first.host.routes;
    second.host.neighbours = first.host.neighbours;
    second.host.fdb = first.host.fdb;
    await firstPass(second.agent);
    expect([...second.host.devices.keys()]).toEqual([]);
    expect(second.host.routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`)).toEqual(['10.244.2.0/24 via 10.250.0.12 dev eth0', '10.244.3.0/24 via 10.250.0.13 dev eth0']);
    expect(second.host.fdb).toEqual([]);
  });

  it('stop() leaves the routes in place; cleanup removes devices, routes and the table', async () => {
    const { host, nft, agent } = setup();
    await firstPass(agent);
    await agent.stop();
    expect(host.routes).toHaveLength(2);
    const removed = await cleanupNodeNetwork({ host, nft });
    expect(removed).toEqual(['remove device portico-vxlan', 'remove nft table ip portico-node']);
    expect(host.devices.size + host.routes.length + host.neighbours.length + host.fdb.length).toBe(0);
    expect(nft.dump()).toBe('');
  });
});
