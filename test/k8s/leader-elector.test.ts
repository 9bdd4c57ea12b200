import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../src/k8s/kube-client.js';
import { LeaderElector, type LeaderElectorOptions } from '../../src/k8s/leader-elector.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import { FakeApiServer } from './fake-api-server.js';

const TIMING = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };

interface Candidate {
  elector: LeaderElector;
  transitions: string[];
  /** Cuts this candidate off the API server (a network partition or a frozen process). */
  partition(on: boolean): void;
}

// Every candidate runs on one virtual clock: durations below are virtual milliseconds.
describe('LeaderElector', () => {
  const cleanups: Array<() => Promise<void>> = [];
  let clock = new VirtualClock();
  afterEach(async () => {
    clock = new VirtualClock();
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
      now: clock.now,
      sleep: clock.sleep,
      ...options,
    });
    cleanups.push(() => elector.stop());
    elector.start();
    return { elector, transitions, partition: (on) => (cut = on) };
  }

  const holder = (api: FakeApiServer) => (api.get('Lease', 'portico/portico-leader')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;

  /** Runs the candidates' loops on virtual time until `done()`. */
  const until = (done: () => boolean, participants: number, what: string, limitMs = 5_000) => clock.runUntil(done, { participants, limitMs, what });

  it('creates the Lease and leads, renewing it', async () => {
    const api = await startApi();
    const a = candidate(api, 'a');
    await until(() => a.elector.isLeader, 1, 'leader');
    expect(holder(api)).toBe('a');
    const lease = api.get('Lease', 'portico/portico-leader')!;
    expect(lease.spec).toMatchObject({ leaseDurationSeconds: 1, leaseTransitions: 0, renewTime: expect.stringMatching(/\.\d{6}Z$/) });
    const rv = lease.metadata.resourceVersion;
    const renewedAfter = await until(() => api.get('Lease', 'portico/portico-leader')!.metadata.resourceVersion !== rv, 1, 'renewed');
    expect(renewedAfter).toBe(TIMING.retryPeriodMs);
    expect(a.transitions).toEqual(['start']);
  });

  it('elects exactly one of two candidates and hands over fast when the leader stops', async () => {
    const api = await startApi();
    const a = candidate(api, 'a');
    const b = candidate(api, 'b');
    await until(() => a.elector.isLeader || b.elector.isLeader, 2, 'a leader');
    await clock.runFor(TIMING.leaseDurationMs * 2, 2);
    expect([a.elector.isLeader, b.elector.isLeader].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.elector.isLeader ? [a, b] : [b, a];
    expect(follower.elector.leader).toBe(leader.elector.identity);

    await leader.elector.stop(); // releases the lease
    expect(leader.transitions).toEqual(['start', 'stop']);
    expect(holder(api)).toBe('');
    const handover = await until(() => follower.elector.isLeader, 1, 'handover');
    // Released: the follower takes it on its next attempt, with no wait for expiry.
    expect(handover).toBeLessThanOrEqual(TIMING.retryPeriodMs * 1.2);
    expect(holder(api)).toBe(follower.elector.identity);
    expect((api.get('Lease', 'portico/portico-leader')!.spec as { leaseTransitions: number }).leaseTransitions).toBe(1);
  });

  it('takes over within the lease duration when the leader vanishes without releasing', async () => {
    const api = await startApi();
    const a = candidate(api, 'a');
    await until(() => a.elector.isLeader, 1, 'a leads');
    const b = candidate(api, 'b');
    await clock.runFor(TIMING.leaseDurationMs, 2);
    expect(b.elector.isLeader).toBe(false);

    a.partition(true);
    // a must step down (renew deadline) before b can take over (lease duration): never two leaders.
    let overlap = false;
    let aSteppedDownAfter: number | undefined;
    const cut = clock.now();
    const elapsed = await until(
      () => {
        overlap ||= a.elector.isLeader && b.elector.isLeader;
        if (!a.elector.isLeader) aSteppedDownAfter ??= clock.now() - cut;
        return b.elector.isLeader;
      },
      2,
      'b takes over',
    );
    // The last renewal was at most one retry period before the cut.
    expect(aSteppedDownAfter).toBeGreaterThanOrEqual(TIMING.renewDeadlineMs - TIMING.retryPeriodMs);
    expect(aSteppedDownAfter).toBeLessThan(TIMING.leaseDurationMs);
    expect(elapsed).toBeGreaterThanOrEqual(TIMING.leaseDurationMs - TIMING.retryPeriodMs * 1.2);
    expect(elapsed).toBeLessThanOrEqual(TIMING.leaseDurationMs + TIMING.retryPeriodMs * 1.2 * 2);
    expect(a.transitions).toEqual(['start', 'stop']);
    expect(overlap).toBe(false);

    a.partition(false); // a comes back as a follower
    await clock.runFor(TIMING.leaseDurationMs, 2);
    expect(a.elector.isLeader).toBe(false);
    expect(holder(api)).toBe('b');
  });

  it('keeps campaigning through API errors and an API server restart', async () => {
    const api = await startApi();
    await api.stop();
    const a = candidate(api, 'a');
    await clock.runFor(TIMING.leaseDurationMs, 1);
    expect(a.elector.isLeader).toBe(false);
    await api.restart();
    await until(() => a.elector.isLeader, 1, 'leads after restart');
  });

  it('loses to a concurrent update (409) and does not lead on a stale lease', async () => {
    const api = await startApi();
    api.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'portico-leader', namespace: 'portico' }, spec: { holderIdentity: 'ghost', leaseDurationSeconds: 1 } });
    api.failNext(1, { status: 409, match: (r) => r.verb === 'update' });
    const started = clock.now();
    const a = candidate(api, 'a');
    await clock.runFor(TIMING.leaseDurationMs / 2, 1);
    expect(a.elector.isLeader).toBe(false); // ghost's lease is still valid from a's point of view
    await until(() => a.elector.isLeader, 1, 'a leads after the ghost lease expires');
    expect(clock.now() - started).toBeGreaterThanOrEqual(TIMING.leaseDurationMs);
    expect(api.requests.some((r) => r.verb === 'update' && r.status === 409)).toBe(true);
  });
});
