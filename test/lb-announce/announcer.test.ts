import { describe, expect, it } from 'vitest';
import { HOLDER_LINK, HOLDER_PEER, HolderAnnouncer, PROXY_NEIGH_PROTOCOL, type HolderProcess } from '../../src/lb-announce/announcer.js';
import { FakeNetHost } from '../../src/host/fake-net-host.js';
import { CommandError, type CommandResult, type CommandRunner, type CommandSpec } from '../../src/lib/run-command.js';
import { captureLogger } from '../helpers/capture-logger.js';

// HolderAnnouncer against FakeNetHost: the holder is a fake namespace whose removal takes the veth
// pair (and its addresses) with it, as the kernel does when the holder process exits.

function setup(options: { arping?: 'ok' | 'missing'; sysctls?: Record<string, string | undefined> } = {}) {
  const host = new FakeNetHost();
  host.applyChange(undefined, { op: 'create-bridge', name: 'eth0' }); // stands in for the underlay interface
  const commands: string[] = [];
  const runner: CommandRunner = {
    async run(spec: CommandSpec): Promise<CommandResult> {
      commands.push(`${spec.command} ${spec.args.join(' ')}`);
      if (spec.command === 'arping') {
        if (options.arping === 'missing') throw new CommandError('arping', 'cannot run arping: ENOENT', 'ENOENT');
        return { code: 0, stdout: '', stderr: '' };
      }
      if (spec.command === 'perl') return { code: 0, stdout: '', stderr: '' };
      if (spec.command === 'ip' && spec.args.join(' ') === `-j -6 neigh show proxy proto ${PROXY_NEIGH_PROTOCOL}`) {
        const entries = host
          .proxyNeighbours()
          .map((line) => line.split(' '))
          .filter((parts) => parts[3] === String(PROXY_NEIGH_PROTOCOL))
          .map(([dst, dev]) => ({ dst, dev, proxy: null, protocol: String(PROXY_NEIGH_PROTOCOL) }));
        return { code: 0, stdout: JSON.stringify(entries), stderr: '' };
      }
      return { code: 1, stdout: '', stderr: `unexpected ${spec.command}` };
    },
  };
  let holders = 0;
  const live: Array<{ path: string; exit: () => void }> = [];
  const spawnHolder = async (): Promise<HolderProcess> => {
    const path = `/fake/holder-${++holders}`;
    host.addNamespace(path);
    let exit!: () => void;
    const exited = new Promise<void>((resolve) => (exit = resolve));
    const entry = {
      path,
      exit: () => {
        host.removeNamespace(path);
        exit();
      },
    };
    live.push(entry);
    return { netns: path, exited, close: entry.exit };
  };
  const capture = captureLogger('warn');
  const sysctls = { 'net/ipv6/conf/eth0/forwarding': '1', ...options.sysctls };
  let lost = 0;
  const announcer = new HolderAnnouncer({
    net: host,
    iface: 'eth0',
    runner,
    spawnHolder,
    logger: capture.logger,
    readSysctl: async (key) => (sysctls as Record<string, string | undefined>)[key] ?? host.snapshot()['host']!.sysctls[key],
    onHolderLost: () => lost++,
  });
  const addresses = () => (host.snapshot()['host']!.links.find((l) => l.name === HOLDER_LINK)?.addresses ?? []).map((a) => a.cidr).sort();
  return { host, announcer, commands, live, capture, addresses, lost: () => lost };
}

describe('HolderAnnouncer', () => {
  it('puts owned addresses on the holder link, with proxy NDP for IPv6, and a gratuitous ARP per new IPv4 address', async () => {
    const { host, announcer, commands, addresses } = setup();
    expect(await announcer.sync(['10.30.0.100', '2001:DB8::a'])).toEqual({ added: ['10.30.0.100', '2001:db8::a'], removed: [] });
    await announcer.idle();
    expect(addresses()).toEqual(['10.30.0.100/32', '2001:db8::a/128']);
    const snap = host.snapshot();
    const link = snap['host']!.links.find((l) => l.name === HOLDER_LINK)!;
    expect(link).toMatchObject({ kind: 'veth', up: true, peer: `/fake/holder-1:${HOLDER_PEER}` });
    expect(snap['/fake/holder-1']!.links.find((l) => l.name === HOLDER_PEER)!.up).toBe(true);
    expect(snap['host']!.proxyNeighbours).toEqual([`2001:db8::a eth0 protocol ${PROXY_NEIGH_PROTOCOL}`]);
    expect(snap['host']!.sysctls['net/ipv6/conf/eth0/proxy_ndp']).toBe('1');
    expect(snap['host']!.sysctls['net/ipv6/neigh/eth0/proxy_delay']).toBe('0');
    expect(commands.filter((c) => c.startsWith('arping'))).toEqual(['arping -q -U -c 2 -I eth0 10.30.0.100']);
    const eth0 = snap['host']!.links.find((l) => l.name === 'eth0')!;
    const index = (await host.namespace().lookupLink('eth0'))!.index;
    expect(commands.filter((c) => c.startsWith('perl')).map((c) => c.split(' ').slice(-3))).toEqual([[String(index), eth0.mac, '2001:db8::a']]);
    expect(announcer.announced()).toEqual(['10.30.0.100', '2001:db8::a']);
  });

  it('is idempotent and applies only the difference', async () => {
    const { announcer, commands, addresses, live } = setup();
    await announcer.sync(['10.30.0.100', '10.30.0.101']);
    expect(await announcer.sync(['10.30.0.101', '10.30.0.100'])).toEqual({ added: [], removed: [] });
    expect(await announcer.sync(['10.30.0.101', '10.30.0.102'])).toEqual({ added: ['10.30.0.102'], removed: ['10.30.0.100'] });
    await announcer.idle();
    expect(addresses()).toEqual(['10.30.0.101/32', '10.30.0.102/32']);
    expect(commands.filter((c) => c.startsWith('arping')).length).toBe(3);
    expect(live.length).toBe(1); // one holder for the lifetime
  });

  it('keeps the tagged proxy entries equal to the wanted IPv6 addresses, whatever happened to them', async () => {
    const { host, announcer } = setup();
    await announcer.sync(['2001:db8::a', '2001:db8::b']);
    host.applyChange(undefined, { op: 'del-proxy-neigh', ip: '2001:db8::a', dev: 'eth0' }); // by hand
    host.applyChange(undefined, { op: 'add-proxy-neigh', ip: '2001:db8::99', dev: 'eth0', protocol: PROXY_NEIGH_PROTOCOL }); // left over
    await announcer.sync(['2001:db8::a', '2001:db8::b']);
    expect(host.proxyNeighbours()).toEqual([`2001:db8::a eth0 protocol ${PROXY_NEIGH_PROTOCOL}`, `2001:db8::b eth0 protocol ${PROXY_NEIGH_PROTOCOL}`]);
    await announcer.sync(['2001:db8::b']);
    expect(host.proxyNeighbours()).toEqual([`2001:db8::b eth0 protocol ${PROXY_NEIGH_PROTOCOL}`]);
  });

  it('reannounce advertises again the given addresses it holds, and no others', async () => {
    const { announcer, commands } = setup();
    await announcer.sync(['10.30.0.100', '2001:db8::a']);
    commands.length = 0;
    await announcer.reannounce(['10.30.0.100', '10.30.0.200', '2001:db8::a']);
    await announcer.idle();
    expect(commands.filter((c) => c.startsWith('arping')).map((c) => c.split(' ').at(-1))).toEqual(['10.30.0.100']);
    expect(commands.filter((c) => c.startsWith('perl')).map((c) => c.split(' ').at(-1))).toEqual(['2001:db8::a']);
  });

  it('withdrawAll removes everything at once and ends the holder', async () => {
    const { host, announcer, addresses } = setup();
    await announcer.sync(['10.30.0.100', '2001:db8::a']);
    await announcer.withdrawAll();
    expect(addresses()).toEqual([]);
    const snap = host.snapshot();
    expect(snap['host']!.links.map((l) => l.name)).not.toContain(HOLDER_LINK);
    expect(snap['host']!.proxyNeighbours).toBeUndefined();
    expect(snap['/fake/holder-1']).toBeUndefined();
    expect(announcer.announced()).toEqual([]);
  });

  it('when the holder dies on its own, the addresses go with it, the owner is told, and the next sync restores them', async () => {
    const { announcer, addresses, live, lost, capture } = setup();
    await announcer.sync(['10.30.0.100']);
    live[0]!.exit();
    await capture.waitFor((l) => l['code'] === 'PORTICO_ERR_ANNOUNCE_APPLY');
    expect(addresses()).toEqual([]);
    expect(lost()).toBe(1);
    expect(announcer.announced()).toEqual([]);
    expect(await announcer.sync(['10.30.0.100'])).toEqual({ added: ['10.30.0.100'], removed: [] });
    expect(addresses()).toEqual(['10.30.0.100/32']);
    expect(live.length).toBe(2);
  });

  it('a holder link deleted under it is created again on the next sync', async () => {
    const { host, announcer, addresses, live } = setup();
    await announcer.sync(['10.30.0.100']);
    host.deleteLink(undefined, HOLDER_LINK);
    expect(addresses()).toEqual([]);
    expect(await announcer.sync(['10.30.0.100'])).toEqual({ added: ['10.30.0.100'], removed: [] });
    expect(addresses()).toEqual(['10.30.0.100/32']);
    expect(live.length).toBe(2);
    expect(host.snapshot()['/fake/holder-1']).toBeUndefined(); // the old holder was ended
  });

  it('starting removes a stale holder link and stale tagged proxy entries, and leaves untagged ones', async () => {
    const { host, announcer } = setup();
    host.addNamespace('/fake/old');
    host.applyChange(undefined, { op: 'create-veth', name: HOLDER_LINK, peerName: HOLDER_PEER, peerNetns: '/fake/old' });
    host.applyChange(undefined, { op: 'add-proxy-neigh', ip: '2001:db8::99', dev: 'eth0', protocol: PROXY_NEIGH_PROTOCOL });
    host.applyChange(undefined, { op: 'add-proxy-neigh', ip: '2001:db8::77', dev: 'eth0' });
    await announcer.sync(['10.30.0.100']);
    expect(host.proxyNeighbours()).toEqual(['2001:db8::77 eth0']);
    expect(host.snapshot()['host']!.links.find((l) => l.name === HOLDER_LINK)!.peer).toBe(`/fake/holder-1:${HOLDER_PEER}`);
  });

  it('cleanup removes the holder link and the tagged proxy entries only', async () => {
    const { host, announcer } = setup();
    await announcer.sync(['2001:db8::a']);
    host.applyChange(undefined, { op: 'add-proxy-neigh', ip: '2001:db8::77', dev: 'eth0' });
    expect(await announcer.cleanup()).toEqual({ link: true, proxies: ['2001:db8::a dev eth0'] });
    expect(host.proxyNeighbours()).toEqual(['2001:db8::77 eth0']);
    expect(host.snapshot()['host']!.links.map((l) => l.name)).toEqual(['eth0', 'lo']);
  });

  it('warns once when arping is missing, and keeps announcing', async () => {
    const { announcer, capture, addresses } = setup({ arping: 'missing' });
    await announcer.sync(['10.30.0.100']);
    await announcer.sync(['10.30.0.100', '10.30.0.101']);
    await announcer.idle();
    expect(addresses()).toEqual(['10.30.0.100/32', '10.30.0.101/32']);
    expect(capture.lines.filter((l) => l['code'] === 'PORTICO_ERR_ANNOUNCE_CONFIG' && String(l['msg']).includes('arping')).length).toBe(1);
  });

  it.each([
    { name: 'arp_ignore set', sysctls: { 'net/ipv4/conf/all/arp_ignore': '1' }, ips: ['10.30.0.100'], warning: 'arp_ignore is 1' },
    { name: 'IPv6 forwarding off', sysctls: { 'net/ipv6/conf/eth0/forwarding': '0' }, ips: ['2001:db8::a'], warning: 'IPv6 forwarding is off' },
    { name: 'proxy_ndp cannot be set', sysctls: { 'net/ipv6/conf/eth0/proxy_ndp': '0' }, ips: ['2001:db8::a'], warning: 'proxy_ndp is off' },
  ])('warns when $name', async ({ sysctls, ips, warning }) => {
    const { announcer, capture } = setup({ sysctls });
    await announcer.sync(ips);
    expect(capture.lines.filter((l) => l['code'] === 'PORTICO_ERR_ANNOUNCE_CONFIG').map((l) => String(l['msg']).slice(0, warning.length))).toEqual([warning]);
  });

  it('a failed change is PORTICO_ERR_ANNOUNCE_APPLY, and the next sync retries', async () => {
    const { announcer, addresses } = setup();
    await expect(announcer.sync(['not-an-ip'])).rejects.toMatchObject({ code: 'PORTICO_ERR_ANNOUNCE_APPLY' });
    expect(await announcer.sync(['10.30.0.100'])).toEqual({ added: ['10.30.0.100'], removed: [] });
    expect(addresses()).toEqual(['10.30.0.100/32']);
  });
});

describe('execHolder', () => {
  it('fails at once when unshare cannot run, instead of waiting for a holder that never comes', async () => {
    const { execHolder } = await import('../../src/lb-announce/announcer.js');
    await expect(execHolder({ unshare: '/nonexistent/unshare' })()).rejects.toThrow(/holder process failed/);
  });

  it('fails after timeoutMs when the holder never says it is ready', async () => {
    const { execHolder } = await import('../../src/lb-announce/announcer.js');
    await expect(execHolder({ unshare: 'true', timeoutMs: 200 })()).rejects.toThrow(/holder process failed|not ready within 200 ms/);
  });
});
