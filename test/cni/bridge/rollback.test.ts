import { describe, expect, it } from 'vitest';
import { FaultPlan } from '../../../src/lib/fault-plan.js';
import { bridgeConfig, env, harness, POD_NETNS } from '../harness.js';

// A fault injected at every step of ADD (each OS change, read, IPAM store operation and nft
// transaction, through the fakes' FaultPlan) must leave no trace: no veth, no reservation, no
// last_reserved_ip move, no nft rule, no container change.

const OTHER = '/run/netns/other';

const scenarios: Array<[string, Record<string, unknown>, Record<string, string>]> = [
  [
    'dual-stack gateway with ipMasq, default route and extra routes',
    bridgeConfig({ ipMasq: true, isDefaultGateway: true, hairpinMode: true }, { ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:1::/64' }]], routes: [{ dst: '10.96.0.0/12' }] }),
    {},
  ],
  ['a requested address', bridgeConfig({ ipMasq: true }), { CNI_ARGS: 'IgnoreUnknown=1;IP=10.244.1.77' }],
  ['an L2-only attachment', { cniVersion: '1.0.0', name: 'podnet', type: 'portico-cni', bridge: 'cni0' }, {}],
];

async function prepared(config: Record<string, unknown>, existingPod: boolean) {
  const faults = new FaultPlan();
  const h = harness({ faults, namespaces: [POD_NETNS, OTHER] });
  if (existingPod) expect((await h.run({ env: env('ADD', { CNI_CONTAINERID: 'other', CNI_NETNS: OTHER }), config })).code).toBe(0);
  return { faults, h };
}

function state(h: ReturnType<typeof harness>) {
  return { host: h.host.snapshot(), ipam: h.ipamFiles(), nft: h.nft.dump() };
}

/**
 * On a fresh node the shared infrastructure ADD creates may stay: the bridge (never deleted, as in
 * the reference) and the nft table with its chains (other pods' ADDs may be using them). Per-pod
 * state may not: the comparison keeps every other link and sysctl, and every masquerade rule.
 */
function withoutSharedBridge(s: ReturnType<typeof state>) {
  const host = { ...s.host['host']! };
  host.links = host.links.filter((l) => l.name !== 'cni0');
  host.sysctls = Object.fromEntries(Object.entries(host.sysctls).filter(([key]) => !key.includes('cni0') && !key.includes('forward')));
  const masqRules = s.nft.split('\n').filter((line) => line.includes(' masquerade'));
  return { ...s, host: { ...s.host, host }, nft: masqRules };
}

describe('ADD rollback: a fault at any step leaves nothing behind', () => {
  for (const [name, config, extraEnv] of scenarios) {
    for (const existingPod of [true, false]) {
      it(`${name}, ${existingPod ? 'bridge already set up' : 'fresh node'}`, async () => {
        const counting = await prepared(config, existingPod);
        const start = counting.faults.count;
        expect((await counting.h.run({ env: env('ADD', extraEnv), config })).code).toBe(0);
        const steps = counting.faults.count - start;
        expect(steps).toBeGreaterThan(5);

        for (let step = 0; step < steps; step++) {
          const { faults, h } = await prepared(config, existingPod);
          const before = state(h);
          faults.arm(step);
          const result = await h.run({ env: env('ADD', extraEnv), config });
          const label = faults.labels[faults.labels.length - 1];
          expect(result.code, `fault at step ${step} (${label}) must fail ADD`).toBe(1);
          expect(result.json.msg).toMatch(/injected fault/);
          const after = state(h);
          if (existingPod) expect(after, `state after a fault at step ${step}`).toEqual(before);
          else expect(withoutSharedBridge(after), `state after a fault at step ${step}`).toEqual(withoutSharedBridge(before));
          expect(h.logs.filter((l) => l.startsWith('rollback:')), `rollback errors at step ${step}`).toEqual([]);
          // The runtime may retry: a clean ADD must now succeed.
          faults.disarm();
          expect((await h.run({ env: env('ADD', extraEnv), config })).code, `retry after step ${step}`).toBe(0);
        }
      });
    }
  }
});

describe('DEL after a fault: retrying cleans up completely', () => {
  it('a DEL interrupted at any step, then repeated, leaves no veth, reservation or rule', async () => {
    const config = scenarios[0]![1];
    const counting = await prepared(config, false);
    const clean = state(counting.h);
    await counting.h.run({ env: env('ADD'), config });
    const start = counting.faults.count;
    expect((await counting.h.run({ env: env('DEL'), config })).code).toBe(0);
    const steps = counting.faults.count - start;
    const cleanAfterDel = state(counting.h);

    for (let step = 0; step < steps; step++) {
      const { faults, h } = await prepared(config, false);
      await h.run({ env: env('ADD'), config });
      faults.arm(step);
      expect((await h.run({ env: env('DEL'), config })).code).toBe(1);
      faults.disarm();
      expect((await h.run({ env: env('DEL'), config })).code).toBe(0);
      expect(state(h)).toEqual(cleanAfterDel);
    }
    expect(cleanAfterDel.ipam).toEqual({ 'last_reserved_ip.0': '10.244.1.2', 'last_reserved_ip.1': 'fd00:1::2' });
    expect(cleanAfterDel.host[POD_NETNS]!.links.map((l) => l.name)).toEqual(clean.host[POD_NETNS]!.links.map((l) => l.name));
    expect(cleanAfterDel.host['host']!.links.map((l) => l.name)).toEqual(['cni0', 'lo']);
    expect(cleanAfterDel.nft).not.toMatch(/ masquerade/);
  });
});
