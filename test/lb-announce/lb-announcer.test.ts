import { describe, expect, it } from 'vitest';
import { rendezvousScore } from '../../src/lb-announce/elect.js';
import type { Peer } from '../../src/lb-announce/heartbeat.js';
import { LoadBalancerAnnouncer, underlaySubnets, type HolderLike, type MembershipLike } from '../../src/lb-announce/lb-announcer.js';
import type { SyncResult } from '../../src/lb-announce/announcer.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import type { Service } from '../../src/model/k8s-objects.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { endpointSlice, node, service } from '../helpers/objects.js';

function lbService(key: string, ips: string[], etp?: 'Local'): Service {
  const svc = service(key, [80]);
  return { ...svc, spec: { ...svc.spec, type: 'LoadBalancer', ...(etp ? { externalTrafficPolicy: etp } : {}) }, status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } };
}

class FakeMembership implements MembershipLike {
  readonly nodeName = 'node-a';
  liveSet = new Set(['node-a']);
  peers: Peer[] = [];
  log: string[];
  readonly #listeners = new Set<(live: ReadonlySet<string>) => void>();
  constructor(log: string[]) {
    this.log = log;
  }
  live() {
    return this.liveSet;
  }
  subscribe(listener: (live: ReadonlySet<string>) => void) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  setPeers(peers: readonly Peer[]) {
    this.peers = [...peers];
  }
  async stop() {
    this.log.push('membership.stop');
  }
  set(names: string[]) {
    this.liveSet = new Set(names);
    for (const l of this.#listeners) l(this.liveSet);
  }
}

class FakeHolder implements HolderLike {
  current = new Set<string>();
  syncs: string[][] = [];
  reannounced: string[][] = [];
  failNext = 0;
  constructor(readonly log: string[]) {}
  async sync(ips: readonly string[]): Promise<SyncResult> {
    this.syncs.push([...ips]);
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error('ip failed'), { code: 'PORTICO_ERR_ANNOUNCE_APPLY' });
    }
    const added = ips.filter((ip) => !this.current.has(ip));
    const removed = [...this.current].filter((ip) => !ips.includes(ip));
    this.current = new Set(ips);
    return { added, removed };
  }
  async reannounce(ips: readonly string[]) {
    this.reannounced.push([...ips].sort());
  }
  async withdrawAll() {
    this.log.push('holder.withdrawAll');
    this.current.clear();
  }
  announced() {
    return [...this.current].sort();
  }
}

/** What the agent does once its source has listed everything. */
async function begin(announcer: LoadBalancerAnnouncer): Promise<void> {
  announcer.markSynced();
  await announcer.idle();
}

const IPS = Array.from({ length: 12 }, (_, i) => `10.30.0.${100 + i}`);
const owner = (ip: string, names: string[]) => [...names].sort((a, b) => (rendezvousScore(ip, b) > rendezvousScore(ip, a) ? 1 : -1))[0];

function setup() {
  const log: string[] = [];
  const store = new ObjectStore();
  store.upsert(node('node-a', { internalIP: '10.30.0.11' }));
  store.upsert(node('node-b', { internalIP: '10.30.0.12' }));
  store.upsert(node('node-far', { internalIP: '10.99.0.1' }));
  IPS.forEach((ip, i) => store.upsert(lbService(`default/svc-${i}`, [ip])));
  const membership = new FakeMembership(log);
  const holder = new FakeHolder(log);
  const diagnostics: string[] = [];
  const announcer = new LoadBalancerAnnouncer({
    store,
    nodeName: 'node-a',
    iface: 'eth0',
    nodeAddresses: ['10.30.0.11/24'],
    membership,
    holder,
    logger: createSilentLogger(),
    onDiagnostic: (d) => diagnostics.push(d.code),
    delayMs: 0,
    retryBackoff: { initialMs: 5, jitter: 0 },
    resyncMs: 0,
  });
  return { store, membership, holder, announcer, diagnostics, log };
}

describe('LoadBalancerAnnouncer', () => {
  it('announces what this node wins among the live nodes, and takes over when a peer dies or comes back', async () => {
    const { announcer, membership } = setup();
    membership.liveSet = new Set(['node-a', 'node-b']);
    await begin(announcer);
    const mine = IPS.filter((ip) => owner(ip, ['node-a', 'node-b']) === 'node-a');
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.length).toBeLessThan(IPS.length);
    expect(announcer.announced()).toEqual([...mine].sort());
    membership.set(['node-a']);
    await announcer.idle();
    expect(announcer.announced()).toEqual([...IPS].sort());
    membership.set(['node-a', 'node-b']);
    await announcer.idle();
    expect(announcer.announced()).toEqual([...mine].sort());
    expect(announcer.elections().map((e) => e.ip)).toEqual(IPS);
  });

  it('advertises again the addresses it kept when a node comes back (it may have held them meanwhile)', async () => {
    const { announcer, membership, holder } = setup();
    membership.liveSet = new Set(['node-a']);
    await begin(announcer);
    expect(holder.reannounced).toEqual([]);
    membership.set(['node-a', 'node-b']); // node-b back: node-a keeps what it wins against node-b
    await announcer.idle();
    const kept = IPS.filter((ip) => owner(ip, ['node-a', 'node-b']) === 'node-a');
    expect(holder.reannounced).toEqual([[...kept].sort()]);
    membership.set(['node-a', 'node-b']);
    announcer.resync();
    await announcer.idle();
    expect(holder.reannounced.length).toBe(1); // nothing came back this time
  });

  it('follows the store: a deleted Service is withdrawn, a Node object going away hands its addresses over', async () => {
    const { announcer, membership, store } = setup();
    membership.liveSet = new Set(['node-a', 'node-b']);
    await begin(announcer);
    store.remove('Service', 'default/svc-0');
    store.remove('Node', 'node-b'); // its agent still beats, but without a Node object it is no candidate
    await announcer.idle();
    expect(announcer.announced()).toEqual(IPS.slice(1).sort());
  });

  it('eTP Local: a ready endpoint on this node wins the address', async () => {
    const { announcer, membership, store } = setup();
    membership.liveSet = new Set(['node-a', 'node-b']);
    const ip = IPS.find((i) => owner(i, ['node-a', 'node-b']) === 'node-b')!;
    store.upsert(lbService('default/local', [ip], 'Local'));
    await begin(announcer);
    IPS.forEach((_, i) => store.remove('Service', `default/svc-${i}`));
    await announcer.idle();
    expect(announcer.announced()).toEqual([]);
    store.upsert(endpointSlice('default/local-1', { service: 'local', ports: [{ port: 80 }], endpoints: [{ addresses: ['10.244.0.5'], nodeName: 'node-a' }] }));
    await announcer.idle();
    expect(announcer.announced()).toEqual([ip]);
  });

  it('gives the membership every other Node as a peer, at its underlay InternalIP, before it is synced too', async () => {
    const { membership, store } = setup();
    expect(membership.peers.map((p) => p.name)).toEqual(['node-b', 'node-far']);
    store.upsert({ ...node('node-c'), status: { addresses: [{ type: 'InternalIP', address: '2001:db8::13' }, { type: 'InternalIP', address: '10.30.0.13' }] } });
    expect(membership.peers).toEqual([
      { name: 'node-b', address: '10.30.0.12' },
      { name: 'node-c', address: '10.30.0.13' },
      { name: 'node-far', address: '10.99.0.1' },
    ]);
  });

  it('stop withdraws first, then leaves the membership, and ignores later changes', async () => {
    const { announcer, membership, holder, log, store } = setup();
    await begin(announcer);
    expect(announcer.announced().length).toBe(IPS.length);
    await announcer.stop();
    expect(log).toEqual(['holder.withdrawAll', 'membership.stop', 'holder.withdrawAll']);
    expect(announcer.announced()).toEqual([]);
    const syncs = holder.syncs.length;
    store.upsert(lbService('default/late', ['10.30.0.200']));
    membership.set(['node-a']);
    await announcer.idle();
    expect(holder.syncs.length).toBe(syncs);
  });

  it('does nothing before markSynced (a half-listed store would withdraw what it has not seen yet)', async () => {
    const { announcer, holder, membership } = setup();
    membership.set(['node-a']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(holder.syncs).toEqual([]);
    await begin(announcer);
    expect(holder.syncs.length).toBe(1);
  });

  it('a failed pass is reported and retried', async () => {
    const { announcer, holder, diagnostics } = setup();
    holder.failNext = 1;
    const first = announcer.nextPass();
    await begin(announcer); // idle() waits for the retry too
    expect(await first).toBe(false);
    expect(diagnostics).toEqual(['PORTICO_ERR_ANNOUNCE_APPLY']);
    expect(holder.syncs.length).toBe(2);
    expect(announcer.announced().length).toBe(IPS.length);
  });

  it('coalesces a burst of store changes into one pass', async () => {
    const { announcer, holder, store } = setup();
    await begin(announcer);
    const before = holder.syncs.length;
    for (let i = 0; i < 20; i++) store.upsert(lbService(`default/burst-${i}`, [`10.30.0.${150 + i}`]));
    await announcer.idle();
    expect(holder.syncs.length).toBe(before + 1);
    expect(announcer.announced().length).toBe(IPS.length + 20);
  });

  it('resyncs every resyncMs without changes, and stops doing so on stop', async () => {
    const store = new ObjectStore();
    store.upsert(node('node-a', { internalIP: '10.30.0.11' }));
    store.upsert(lbService('default/web', ['10.30.0.100']));
    const log: string[] = [];
    const holder = new FakeHolder(log);
    const announcer = new LoadBalancerAnnouncer({ store, nodeName: 'node-a', iface: 'eth0', nodeAddresses: ['10.30.0.11/24'], membership: new FakeMembership(log), holder, logger: createSilentLogger(), delayMs: 0, resyncMs: 10 });
    await begin(announcer);
    expect(holder.syncs.length).toBe(1);
    holder.current.clear(); // drift: the address went missing
    await announcer.nextPass();
    expect(holder.syncs.length).toBe(2);
    expect(announcer.announced()).toEqual(['10.30.0.100']);
    await announcer.stop();
    const after = holder.syncs.length;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(holder.syncs.length).toBe(after);
  });

  it('underlaySubnets picks the interface CIDRs holding an InternalIP', () => {
    expect(underlaySubnets(['10.30.0.11/24', '192.168.5.1/24', '2001:db8::11/64', 'fe80::1/64'], ['10.30.0.11', '2001:db8::11'])).toEqual(['10.30.0.11/24', '2001:db8::11/64']);
  });
});
