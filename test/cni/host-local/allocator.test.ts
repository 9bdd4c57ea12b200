import { describe, expect, it } from 'vitest';
import { parseCniArgs } from '../../../src/cni/cni-args.js';
import { allocate, collectGarbage, freeAddresses, release, rollbackAllocation } from '../../../src/cni/ipam/host-local/allocator.js';
import { parseHostLocalConfig } from '../../../src/cni/ipam/host-local/config.js';
import { FakeIpamStore } from '../../../src/cni/ipam/host-local/fake-store.js';
import { formatIp } from '../../../src/lib/cidr.js';

const config = (ranges: unknown[], extra: { args?: string; top?: Record<string, unknown> } = {}) =>
  parseHostLocalConfig({ cniVersion: '1.0.0', name: 'podnet', ipam: { type: 'host-local', ranges }, ...extra.top }, parseCniArgs(extra.args ?? ''));
const v4 = config([[{ subnet: '10.0.0.0/24' }]]);
const att = (containerId: string, ifname = 'eth0') => ({ containerId, ifname });
const addresses = (a: { ips: Array<{ ip: Parameters<typeof formatIp>[0]; prefix: number }> }) => a.ips.map((x) => `${formatIp(x.ip)}/${x.prefix}`);

describe('allocate', () => {
  it('hands out addresses round-robin and does not reuse a released one at once', async () => {
    const store = new FakeIpamStore();
    expect(addresses(await allocate(store, { attachment: att('a'), config: v4 }))).toEqual(['10.0.0.2/24']);
    expect(addresses(await allocate(store, { attachment: att('b'), config: v4 }))).toEqual(['10.0.0.3/24']);
    await release(store, att('a'));
    await release(store, att('b'));
    expect(addresses(await allocate(store, { attachment: att('c'), config: v4 }))).toEqual(['10.0.0.4/24']);
    expect(store.files.get('10.0.0.4')).toBe('c\r\neth0');
    expect(store.files.get('last_reserved_ip.0')).toBe('10.0.0.4');
    expect(store.locked).toBe(false);
  });

  it('wraps in a small range and reuses the freed address, as the reference does', async () => {
    const tiny = config([[{ subnet: '10.0.0.0/29', rangeStart: '10.0.0.2', rangeEnd: '10.0.0.4' }]]);
    const store = new FakeIpamStore();
    for (const id of ['a', 'b', 'c']) await allocate(store, { attachment: att(id), config: tiny });
    await release(store, att('b'));
    expect(addresses(await allocate(store, { attachment: att('d'), config: tiny }))).toEqual(['10.0.0.3/29']);
    await expect(allocate(store, { attachment: att('e'), config: tiny })).rejects.toMatchObject({
      code: 'PORTICO_ERR_CNI_IPAM_EXHAUSTED',
      message: 'no IP addresses available in range set 0 (10.0.0.2-10.0.0.4)',
    });
  });

  it('refuses a second address for the same attachment but not for another interface', async () => {
    const store = new FakeIpamStore();
    await allocate(store, { attachment: att('a'), config: v4 });
    await expect(allocate(store, { attachment: att('a'), config: v4 })).rejects.toThrow('10.0.0.2 has been allocated to a (eth0) in range set 0 (10.0.0.1-10.0.0.254), duplicate allocation is not allowed');
    expect(addresses(await allocate(store, { attachment: att('a', 'net1'), config: v4 }))).toEqual(['10.0.0.3/24']);
  });

  it('honours requested addresses and refuses bad ones', async () => {
    const store = new FakeIpamStore();
    const want = (ip: string) => config([[{ subnet: '10.0.0.0/24' }]], { args: `IP=${ip}` });
    expect(addresses(await allocate(store, { attachment: att('a'), config: want('10.0.0.50') }))).toEqual(['10.0.0.50/24']);
    await expect(allocate(store, { attachment: att('b'), config: want('10.0.0.50') })).rejects.toThrow('requested IP 10.0.0.50 is not available in range set 0');
    await expect(allocate(store, { attachment: att('c'), config: want('10.0.0.1') })).rejects.toThrow('requested IP 10.0.0.1 is the gateway of range set 0');
    await expect(allocate(store, { attachment: att('d'), config: want('10.9.0.1') })).rejects.toThrow('failed to allocate all requested IPs: 10.9.0.1');
    expect(Object.keys(Object.fromEntries(store.files)).sort()).toEqual(['10.0.0.50', 'last_reserved_ip.0']);
  });

  it('is all-or-nothing across range sets and restores last_reserved_ip', async () => {
    const dual = config([[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/120', rangeStart: 'fd00::2', rangeEnd: 'fd00::2' }]]);
    const store = new FakeIpamStore();
    expect(addresses(await allocate(store, { attachment: att('a'), config: dual }))).toEqual(['10.0.0.2/24', 'fd00::2/120']);
    const before = new Map(store.files);
    await expect(allocate(store, { attachment: att('b'), config: dual })).rejects.toMatchObject({ code: 'PORTICO_ERR_CNI_IPAM_EXHAUSTED' });
    expect(store.files).toEqual(before);
  });

  it('rolls back an allocation completely', async () => {
    const store = new FakeIpamStore();
    await allocate(store, { attachment: att('a'), config: v4 });
    const before = new Map(store.files);
    const allocation = await allocate(store, { attachment: att('b'), config: v4 });
    await rollbackAllocation(store, allocation);
    expect(store.files).toEqual(before);
  });

  it('releases legacy (id only) reservations when there is no exact one', async () => {
    const store = new FakeIpamStore();
    store.files.set('10.0.0.9', 'old\n');
    expect((await release(store, att('old'))).map(formatIp)).toEqual(['10.0.0.9']);
    expect(await release(store, att('unknown'))).toEqual([]);
  });
});

describe('garbage collection and status', () => {
  it('drops reservations of attachments not in the valid list', async () => {
    const store = new FakeIpamStore();
    for (const id of ['a', 'b', 'c']) await allocate(store, { attachment: att(id), config: v4 });
    store.files.set('10.0.0.99', 'legacy');
    const released = await collectGarbage(store, [att('b'), att('legacy', 'eth9')]);
    expect(released.map((r) => formatIp(r.ip))).toEqual(['10.0.0.2', '10.0.0.4']);
    expect([...store.files.keys()].sort()).toEqual(['10.0.0.3', '10.0.0.99', 'last_reserved_ip.0']);
  });

  it('counts free addresses per range set', async () => {
    const tiny = config([[{ subnet: '10.0.0.0/29', rangeStart: '10.0.0.2', rangeEnd: '10.0.0.3' }]]);
    const store = new FakeIpamStore();
    expect(await freeAddresses(store, tiny)).toEqual([2n]);
    await allocate(store, { attachment: att('a'), config: tiny });
    await allocate(store, { attachment: att('b'), config: tiny });
    expect(await freeAddresses(store, tiny)).toEqual([0n]);
  });
});
