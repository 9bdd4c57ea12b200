import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, installedPlugin, mustExec, REPO, runPlugin, Sandbox, SKIP_REASON, skipTitle, SYSTEM_PATH } from './helpers.js';

// portico-cni alone on a real (namespaced) host: every spec version, CHECK drift, GC, STATUS, DEL
// after the pod is gone, and every kind of bad input — which must get its CNI code and change
// nothing (links, addresses, data directory, nftables).

const sandbox = new Sandbox();
let plugin = '';
let dataRoot = '';

async function nodeWithPod(key: string) {
  const node = await sandbox.netns(`${key}-node`);
  const pod = await sandbox.netns(`${key}-pod`);
  return { node: node.name, pod };
}

function conf(key: string, extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    name: 'lifenet',
    type: 'portico-cni',
    bridge: `pcni${key}${sandbox.id}`.slice(0, 15),
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', dataDir: join(dataRoot, key), ranges: [[{ subnet: '10.79.0.0/24' }]], routes: [{ dst: '10.96.0.0/12' }], ...ipam },
    ...extra,
  };
}

/** Everything a failed command must leave as it was. */
async function hostState(node: string, pod: string, dataDir: string) {
  const strip = (json: string) => (JSON.parse(json) as Array<Record<string, unknown>>).map(({ ifindex: _i, ...rest }) => rest);
  const files = await readdir(dataDir).catch(() => [] as string[]);
  return {
    node: strip(await mustExec('ip', ['-n', node, '-d', '-j', 'addr', 'show'])),
    pod: strip(await mustExec('ip', ['-n', pod, '-d', '-j', 'addr', 'show'])),
    routes: await mustExec('ip', ['-n', pod, 'route', 'show', 'table', 'all']),
    nft: await mustExec('ip', ['netns', 'exec', node, 'nft', 'list', 'ruleset']),
    files: await Promise.all(files.sort().map(async (f) => [f, await readFile(join(dataDir, f), 'utf8').catch(() => '?')])),
  };
}

describe.skipIf(SKIP_REASON !== undefined)(skipTitle('portico-cni lifecycle on a real host'), () => {
  beforeAll(async () => {
    plugin = await installedPlugin();
    dataRoot = await mkdtemp(join(tmpdir(), 'pcni-life-'));
  }, 120_000);
  afterAll(async () => {
    await sandbox.cleanup();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  });

  const call = (node: string, command: string, options: { config: unknown; netns?: string; containerId?: string; args?: string; stdin?: string; env?: Record<string, string> }) =>
    runPlugin({ plugin, command, node, cniPath: join(plugin, '..'), containerId: options.containerId ?? 'life-1', ...options });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('ADD, CHECK, DEL, DEL at %s', async (version) => {
    const key = `v${version.replaceAll('.', '')}`;
    const { node, pod } = await nodeWithPod(key);
    const config = conf(key, { cniVersion: version });
    const added = await call(node, 'ADD', { config, netns: pod.path });
    expect(added.code, added.stdout).toBe(0);
    expect(added.json.cniVersion).toBe(version);
    expect(added.json.ips[0].version).toBe(version < '1.0.0' ? '4' : undefined);
    expect(added.json.interfaces[2].mtu).toBe(version === '1.1.0' ? 1500 : undefined);
    const check = await call(node, 'CHECK', { config: { ...config, prevResult: added.json }, netns: pod.path });
    if (version < '0.4.0') expect(check.json).toMatchObject({ code: 1, msg: expect.stringContaining('does not allow CHECK') });
    else expect(check.code, check.stdout).toBe(0);
    for (const attempt of [1, 2]) expect((await call(node, 'DEL', { config, netns: pod.path })).code, `DEL ${attempt}`).toBe(0);
    expect((await readdir(join(dataRoot, key, 'lifenet'))).sort()).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('CHECK fails with the spec error after a route or an address is removed', async () => {
    const { node, pod } = await nodeWithPod('chk');
    const config = conf('chk');
    const added = await call(node, 'ADD', { config, netns: pod.path });
    const withPrev = { ...config, prevResult: added.json };
    expect((await call(node, 'CHECK', { config: withPrev, netns: pod.path })).code).toBe(0);
    await mustExec('ip', ['-n', pod.name, 'route', 'del', '10.96.0.0/12']);
    expect((await call(node, 'CHECK', { config: withPrev, netns: pod.path })).json).toEqual({
      cniVersion: '1.1.0',
      code: 999,
      msg: `route 10.96.0.0/12 via 10.79.0.1 is missing in ${pod.path}`,
    });
    await mustExec('ip', ['-n', pod.name, 'route', 'add', '10.96.0.0/12', 'via', '10.79.0.1']);
    expect((await call(node, 'CHECK', { config: withPrev, netns: pod.path })).code).toBe(0);
    await mustExec('ip', ['-n', pod.name, 'addr', 'del', '10.79.0.2/24', 'dev', 'eth0']);
    expect((await call(node, 'CHECK', { config: withPrev, netns: pod.path })).json).toMatchObject({ code: 999, msg: 'address 10.79.0.2/24 is missing on eth0' });
    expect((await call(node, 'CHECK', { config: withPrev, netns: pod.path, containerId: 'nobody' })).json).toMatchObject({ code: 3, msg: expect.stringContaining('unknown container nobody') });
    expect((await call(node, 'DEL', { config, netns: pod.path })).code).toBe(0);
  });

  it('STATUS answers 50 when the range is full; GC frees stale reservations and rules', async () => {
    const node = (await sandbox.netns('gc-node')).name;
    const pods = [await sandbox.netns('gc-p0'), await sandbox.netns('gc-p1')];
    const config = conf('gc', {}, { ranges: [[{ subnet: '10.79.0.0/29', rangeStart: '10.79.0.2', rangeEnd: '10.79.0.3' }]] });
    const status = () => call(node, 'STATUS', { config, env: { CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: '' } });
    expect((await status()).code).toBe(0);
    for (const [i, p] of pods.entries()) expect((await call(node, 'ADD', { config, netns: p.path, containerId: `gc-${i}` })).code).toBe(0);
    expect((await status()).json).toEqual({ cniVersion: '1.1.0', code: 50, msg: 'no IP addresses available: range set 0 (10.79.0.2-10.79.0.3) is full' });
    // The runtime forgot gc-1 (its sandbox is gone): GC with only gc-0 valid frees its address and rule.
    await sandbox.deleteNetns(pods[1]!.name);
    const gc = await call(node, 'GC', { config: { ...config, 'cni.dev/valid-attachments': [{ containerID: 'gc-0', ifname: 'eth0' }] }, env: { CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: '' } });
    expect(gc.code, gc.stdout).toBe(0);
    expect((await readdir(join(dataRoot, 'gc', 'lifenet'))).sort()).toEqual(['10.79.0.2', 'last_reserved_ip.0', 'lock']);
    const rules = await mustExec('ip', ['netns', 'exec', node, 'nft', 'list', 'chain', 'inet', 'portico-cni', 'pod-masq']);
    expect(rules.match(/ masquerade comment/g)).toHaveLength(1);
    expect(rules).toContain('ip saddr 10.79.0.2 ');
    expect((await status()).code).toBe(0);
  });

  it('DEL succeeds when the netns, the interface or the container is already gone', async () => {
    const { node, pod } = await nodeWithPod('gone');
    const config = conf('gone');
    expect((await call(node, 'ADD', { config, netns: pod.path })).code).toBe(0);
    await sandbox.deleteNetns(pod.name);
    expect((await call(node, 'DEL', { config, netns: pod.path })).code).toBe(0);
    expect((await readdir(join(dataRoot, 'gone', 'lifenet'))).sort()).toEqual(['last_reserved_ip.0', 'lock']);
    expect(await mustExec('ip', ['netns', 'exec', node, 'nft', 'list', 'chain', 'inet', 'portico-cni', 'pod-masq'])).not.toMatch(/masquerade comment/);
    expect((await call(node, 'DEL', { config, netns: '', containerId: 'never-seen' })).code).toBe(0);
    const links = JSON.parse(await mustExec('ip', ['-n', node, '-j', 'link', 'show'])) as Array<{ ifname: string }>;
    expect(links.filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
  });

  it("DEL for an unknown container leaves the netns's interface (another attachment's) alone", async () => {
    const { node, pod } = await nodeWithPod('own');
    const config = conf('own');
    expect((await call(node, 'ADD', { config, netns: pod.path, containerId: 'owner-1' })).code).toBe(0);
    expect((await call(node, 'DEL', { config, netns: pod.path, containerId: 'stranger-1' })).code).toBe(0);
    const eth0 = JSON.parse(await mustExec('ip', ['-n', pod.name, '-j', 'link', 'show', 'dev', 'eth0'])) as Array<{ ifalias?: string }>;
    expect(eth0[0]!.ifalias).toBe('portico-cni:owner-1');
    expect((await call(node, 'DEL', { config, netns: pod.path, containerId: 'owner-1' })).code).toBe(0);
    expect((await exec('ip', ['-n', pod.name, 'link', 'show', 'dev', 'eth0'])).code).not.toBe(0);
  });

  describe('bad input gets its code and changes nothing', () => {
    const cases: Array<{ name: string; code: number; message: string; config?: (c: Record<string, unknown>) => unknown; stdin?: string; env?: Record<string, string>; command?: string; setup?: (pod: string) => Promise<void> }> = [
      { name: 'missing CNI_CONTAINERID', code: 4, message: 'required env variables [CNI_CONTAINERID] missing', env: { CNI_CONTAINERID: '' } },
      { name: 'missing CNI_NETNS and CNI_IFNAME', code: 4, message: 'required env variables [CNI_NETNS,CNI_IFNAME] missing', env: { CNI_NETNS: '', CNI_IFNAME: '' } },
      { name: 'an interface name that is too long', code: 4, message: 'CNI_IFNAME "eth0123456789abc" is too long', env: { CNI_IFNAME: 'eth0123456789abc' } },
      { name: 'malformed CNI_ARGS', code: 4, message: 'CNI_ARGS: invalid pair', env: { CNI_ARGS: 'IP' } },
      { name: 'a netns that does not exist', code: 4, message: 'CNI_NETNS /run/netns/pcni-does-not-exist does not exist', env: { CNI_NETNS: '/run/netns/pcni-does-not-exist' } },
      { name: 'unparsable JSON', code: 6, message: 'error decoding the network config on stdin', stdin: '{"cniVersion": "1.0.0",' },
      { name: 'an unsupported cniVersion', code: 1, message: 'incompatible CNI versions', config: (c) => ({ ...c, cniVersion: '0.2.0' }) },
      { name: 'a bad subnet', code: 7, message: 'ipam.ranges[0][0].subnet must be a CIDR', config: (c) => ({ ...c, ipam: { ...(c['ipam'] as object), ranges: [[{ subnet: '10.79.0.0/99' }]] } }) },
      { name: 'rangeStart outside the subnet', code: 7, message: 'ipam.ranges[0][0].rangeStart 10.80.0.5 is not in subnet 10.79.0.0/24', config: (c) => ({ ...c, ipam: { ...(c['ipam'] as object), ranges: [[{ subnet: '10.79.0.0/24', rangeStart: '10.80.0.5' }]] } }) },
      { name: 'overlapping range sets', code: 7, message: 'range set 0 overlaps with range set 1', config: (c) => ({ ...c, ipam: { ...(c['ipam'] as object), ranges: [[{ subnet: '10.79.0.0/24' }], [{ subnet: '10.79.0.128/25' }]] } }) },
      { name: 'an unknown ipam type', code: 7, message: 'ipam.type "dhcp" is not supported', config: (c) => ({ ...c, ipam: { type: 'dhcp' } }) },
      { name: 'an unsupported option', code: 2, message: 'vlan = 7 is not supported', config: (c) => ({ ...c, vlan: 7 }) },
      {
        name: 'an existing interface',
        code: 4,
        message: 'CNI_IFNAME eth0 already exists in CNI_NETNS',
        setup: (pod) => mustExec('ip', ['-n', pod, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']).then(() => {}),
      },
      { name: 'CHECK of an unknown container', code: 3, message: 'unknown container bad-1', command: 'CHECK', config: (c) => ({ ...c, prevResult: { cniVersion: '1.1.0', interfaces: [], ips: [], dns: {} } }) },
    ];

    for (const [i, testCase] of cases.entries()) {
      it(`${testCase.name} → code ${testCase.code}`, async () => {
        const { node, pod } = await nodeWithPod(`bad${i}`);
        await testCase.setup?.(pod.name);
        const base = conf(`bad${i}`);
        const before = await hostState(node, pod.name, join(dataRoot, `bad${i}`, 'lifenet'));
        const result = await call(node, testCase.command ?? 'ADD', {
          config: testCase.config ? testCase.config(base) : base,
          netns: pod.path,
          containerId: 'bad-1',
          ...(testCase.stdin !== undefined ? { stdin: testCase.stdin } : {}),
          ...(testCase.env ? { env: testCase.env } : {}),
        });
        expect(result.code).toBe(1);
        expect(result.json.code, result.stdout).toBe(testCase.code);
        expect(result.json.msg).toContain(testCase.message);
        expect(await hostState(node, pod.name, join(dataRoot, `bad${i}`, 'lifenet'))).toEqual(before);
      });
    }
  });

  it('`portico cni` is the plugin too, and the installed launcher runs its own Node 24', async () => {
    const version = await exec('env', ['-i', 'CNI_COMMAND=VERSION', `PATH=${SYSTEM_PATH}`, process.execPath, join(REPO, 'dist', 'cmd', 'portico.js'), 'cni']);
    expect(JSON.parse(version.stdout)).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    const launcher = await readFile(plugin, 'utf8');
    const versionDir = /v="\$dir\/(\.portico-cni\/[0-9a-f]+)"/.exec(launcher)![1]!;
    expect(await mustExec(join(plugin, '..', versionDir, 'node'), ['--version'])).toMatch(/^v24\./);
    const viaLauncher = await exec('env', ['-i', 'CNI_COMMAND=VERSION', 'PATH=/usr/bin:/bin', plugin]);
    expect(viaLauncher.stdout).toBe(version.stdout);
  });
});
