import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../src/k8s/kube-client.js';
import { LeaderElector, type LeaderElectorOptions } from '../../src/k8s/leader-elector.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import { eventually } from '../helpers/http.js';
import { FakeApiServer } from './fake-api-server.js';

const TIMING = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };

interface Candidate {
  elector: LeaderElector;
  transitions: string[];
  /** Cuts this candidate off the API server (a network partition or a frozen process). */
  partition(on: boolean): void;
}

describe('LeaderElector', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startApi() {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    return api;
  }

  function candidate(api: FakeApiServer, identity: string, options: Partial<LeaderElectorOptions> = {}): Candidate {
    let cut = false;
    const client = new KubeClient(api.kubeConfig(), {
      onCall: () => {
        if (cut) throw new KubeApiError('partitioned', 0, 'Unreachable');
      },
    });
    const transitions: string[] = [];
    const elector = new LeaderElector({
      client,
      logger: createSilentLogger(),
      namespace: 'portico',
      name: 'portico-leader',
      identity,
      ...TIMING,
      onStartedLeading: () => transitions.push('start'),
      onStoppedLeading: () => transitions.push('stop'),
      ...options,
    });
    cleanups.push(() => elector.stop());
    elector.start();
    return { elector, transitions, partition: (on) => (cut = on) };
  }

  const holder = (api: FakeApiServer) => (api.get('Lease', 'portico/portico-leader')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;

  it('creates the Lease and leads, renewing it', async () => {
    const api = await startApi();
    const a = candidate(api, 'a');
    await eventually(async () => a.elector.isLeader, 2000, 'leader');
    expect(holder(api)).toBe('a');
    const lease = api.get('Lease', 'portico/portico-leader')!;
    expect(lease.spec).toMatchObject({ leaseDurationSeconds: 1, leaseTransitions: 0, renewTime: expect.stringMatching(/\.\d{6}Z$/) });
    const rv = lease.metadata.resourceVersion;
    await eventually(async () => api.get('Lease', 'portico/portico-leader')!.metadata.resourceVersion !== rv, 1000, 'renewed');
    expect(a.transitions).toEqual(['start']);
  });

  it('elects exactly one of two candidates and hands over fast when the leader stops', async () => {
    const api = await startApi();
    const a = candidate(api, 'a');
    const b = candidate(api, 'b');
    await eventually(async () => a.elector.isLeader || b.elector.isLeader, 2000, 'a leader');
    await new Promise((r) => setTimeout(r, 300));
    expect([a.elector.isLeader, b.elector.isLeader].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.elector.isLeader ? [a, b] : [b, a];
    expect(follower.elector.leader).toBe(leader.elector.identity);

    const stopped = Date.now();
    await leader.elector.stop(); // releases the lease
    expect(leader.transitions).toEqual(['start', 'stop']);
    await eventually(async () => follower.elector.isLeader, 2000, 'handover');
    expect(Date.now() - stopped).toBeLessThan(TIMING.leaseDurationMs); // released: no need to wait for expiry
    expect(holder(api)).toBe(follower.elector.identity);
    expect((api.get('Lease', 'portico/portico-leader')!.spec as { leaseTransitions: number }).leaseTransitions).toBe(1);
  });

  it('takes over within the lease duration when the leader vanishes without releasing', async () => {
    const api = await startApi();
    const a = candidate(api, 'a');
    await eventually(async () => a.elector.isLeader, 2000, 'a leads');
    const b = candidate(api, 'b');
    await new Promise((r) => setTimeout(r, 200));
    expect(b.elector.isLeader).toBe(false);

    const cut = Date.now();
    a.partition(true);
    // a must step down (renew deadline) before b can take over (lease duration): never two leaders.
    let overlap = false;
    const watch = setInterval(() => (overlap ||= a.elector.isLeader && b.elector.isLeader), 5);
    await eventually(async () => b.elector.isLeader, 3000, 'b takes over');
    clearInterval(watch);
    const elapsed = Date.now() - cut;
    expect(elapsed).toBeGreaterThanOrEqual(TIMING.leaseDurationMs - TIMING.retryPeriodMs * 2);
    expect(elapsed).toBeLessThan(TIMING.leaseDurationMs + TIMING.retryPeriodMs * 3 + 500);
    expect(a.transitions).toEqual(['start', 'stop']);
    expect(overlap).toBe(false);

    a.partition(false); // a comes back as a follower
    await new Promise((r) => setTimeout(r, 300));
    expect(a.elector.isLeader).toBe(false);
    expect(holder(api)).toBe('b');
  });

  it('keeps campaigning through API errors and an API server restart', async () => {
    const api = await startApi();
    await api.stop();
    const a = candidate(api, 'a');
    await new Promise((r) => setTimeout(r, 250));
    expect(a.elector.isLeader).toBe(false);
    await api.restart();
    await eventually(async () => a.elector.isLeader, 2000, 'leads after restart');
  });

  it('loses to a concurrent update (409) and does not lead on a stale lease', async () => {
    const api = await startApi();
    api.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'portico-leader', namespace: 'portico' }, spec: { holderIdentity: 'ghost', leaseDurationSeconds: 1 } });
    api.failNext(1, { status: 409, match: (r) => r.verb === 'update' });
    const a = candidate(api, 'a');
    await new Promise((r) => setTimeout(r, 300));
    expect(a.elector.isLeader).toBe(false); // ghost's lease is still valid from a's point of view
    await eventually(async () => a.elector.isLeader, 2000, 'a leads after the ghost lease expires');
    expect(api.requests.some((r) => r.verb === 'update' && r.status === 409)).toBe(true);
  });
});
