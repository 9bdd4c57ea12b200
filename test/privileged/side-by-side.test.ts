import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressesOf, installedPlugin, mustExec, REFERENCE_DIR, routesOf, runPlugin, Sandbox, SKIP_REASON, skipTitle, tcpProbe } from './helpers.js';

// The acceptance comparison: the installed portico-cni and the reference bridge + host-local
// (Debian's /usr/lib/cni, which speaks up to 1.0.0), run the same way (env -i, CNI_*, system PATH)
// on the same configuration in twin nodes (separate namespaces, bridge names and data
// directories). Results must match apart from MACs and host veth names; data directories byte for
// byte; pod addresses and routes exactly; and the traffic effects (pod↔pod, pod→gateway,
// masquerade towards an outside host) must be the same.

interface Twin {
  tag: 'ours' | 'ref';
  plugin: string;
  cniPath: string;
  node: string;
  bridge: string;
  dataDir: string;
  pods: Array<{ name: string; path: string; id: string }>;
  ext?: string;
}

const sandbox = new Sandbox();
let ours = '';
let dataRoot = '';

function config(twin: Twin, version: string, rich: boolean): Record<string, unknown> {
  const base = {
    cniVersion: version,
    name: 'sidenet',
    type: twin.tag === 'ours' ? 'portico-cni' : 'bridge',
    bridge: twin.bridge,
    isGateway: true,
  };
  if (!rich) return { ...base, ipam: { type: 'host-local', dataDir: twin.dataDir, ranges: [[{ subnet: '10.77.1.0/24' }]] } };
  return {
    ...base,
    isDefaultGateway: true,
    ipMasq: true,
    hairpinMode: true,
    mtu: 1400,
    ipam: {
      type: 'host-local',
      dataDir: twin.dataDir,
      ranges: [[{ subnet: '10.77.1.0/24', rangeStart: '10.77.1.10', rangeEnd: '10.77.1.20' }], [{ subnet: 'fd77:1::/64' }]],
      routes: [{ dst: '10.96.0.0/12' }, { dst: '192.168.200.0/24', gw: '10.77.1.254' }],
    },
    dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
  };
}

async function twin(tag: Twin['tag'], key: string, pods: number): Promise<Twin> {
  const node = await sandbox.netns(`${key}-${tag}-node`);
  const list = [];
  for (let i = 0; i < pods; i++) {
    const pod = await sandbox.netns(`${key}-${tag}-pod${i}`);
    list.push({ ...pod, id: `${key}-pod-${i}` });
  }
  return {
    tag,
    plugin: tag === 'ours' ? ours : join(REFERENCE_DIR, 'bridge'),
    cniPath: tag === 'ours' ? join(ours, '..') : REFERENCE_DIR,
    node: node.name,
    bridge: `pcni${tag === 'ours' ? 'o' : 'r'}${key}`.slice(0, 15),
    dataDir: join(dataRoot, `${key}-${tag}`),
    pods: list,
  };
}

async function cni(t: Twin, command: string, options: { pod: number; config: Record<string, unknown>; prevResult?: unknown }) {
  const pod = t.pods[options.pod]!;
  const config = options.prevResult ? { ...options.config, prevResult: options.prevResult } : options.config;
  if (t.tag === 'ref' && command === 'ADD') {
    // The reference bridge leaves lo alone; runtimes chain the loopback plugin, which portico-cni does itself.
    const lo = await runPlugin({ plugin: join(REFERENCE_DIR, 'loopback'), command, node: t.node, config: { cniVersion: options.config['cniVersion'], name: 'sidenet', type: 'loopback' }, containerId: pod.id, netns: pod.path, ifname: 'lo' });
    expect(lo.code, lo.stdout).toBe(0);
  }
  return runPlugin({ plugin: t.plugin, command, node: t.node, config, containerId: pod.id, netns: pod.path, cniPath: t.cniPath });
}

/** The result with what legitimately differs (MACs, random veth name, names we chose per twin) masked. */
function normalized(result: any, t: Twin): string {
  const copy = JSON.parse(JSON.stringify(result));
  for (const [i, iface] of (copy.interfaces ?? []).entries()) {
    if (iface.mac) iface.mac = 'MAC';
    if (i === 0) iface.name = iface.name === t.bridge ? 'BRIDGE' : `unexpected ${iface.name}`;
    if (i === 1) iface.name = /^veth[0-9a-f]{8}$/.test(iface.name) ? 'VETH' : `unexpected ${iface.name}`;
    if (iface.sandbox) iface.sandbox = iface.sandbox.replace(/pcni-\w+-\w+-(ours|ref)-/, 'POD-');
  }
  return JSON.stringify(copy, null, 2);
}

async function dataFiles(t: Twin): Promise<Array<[string, string, string]>> {
  const dir = join(t.dataDir, 'sidenet');
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map(async (name) => [name, (await readFile(join(dir, name))).toString('hex'), ((await stat(join(dir, name))).mode & 0o777).toString(8)] as [string, string, string]));
}

async function nodeAddresses(t: Twin): Promise<string[]> {
  const links = (await mustExec('ip', ['-n', t.node, '-j', 'link', 'show']).then((s) => JSON.parse(s))) as Array<{ ifname: string }>;
  const rename: Record<string, string> = { [t.bridge]: 'BRIDGE' };
  for (const l of links) if (/^veth[0-9a-f]{8}$/.test(l.ifname)) rename[l.ifname] = 'VETH';
  return addressesOf(t.node, { rename });
}

async function vethCount(t: Twin): Promise<number> {
  const links = (await mustExec('ip', ['-n', t.node, '-j', 'link', 'show']).then((s) => JSON.parse(s))) as Array<{ ifname: string }>;
  return links.filter((l) => l.ifname.startsWith('veth')).length;
}

/** An "outside" host reachable from the node over 192.168.250.0/24 that has no route to pods. */
async function outside(t: Twin, key: string): Promise<void> {
  const ext = await sandbox.netns(`${key}-${t.tag}-ext`);
  t.ext = ext.name;
  await mustExec('ip', ['-n', t.node, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up0', 'netns', ext.name]);
  await mustExec('ip', ['-n', t.node, 'addr', 'add', '192.168.250.1/24', 'dev', 'up0']);
  await mustExec('ip', ['-n', t.node, 'link', 'set', 'up0', 'up']);
  await mustExec('ip', ['-n', ext.name, 'addr', 'add', '192.168.250.2/24', 'dev', 'up0']);
  await mustExec('ip', ['-n', ext.name, 'link', 'set', 'up0', 'up']);
  await mustExec('ip', ['-n', ext.name, 'link', 'set', 'lo', 'up']);
  await sandbox.listen(ext.name, '192.168.250.2', 8082);
}

describe.skipIf(SKIP_REASON !== undefined)(skipTitle('side by side with the reference bridge + host-local'), () => {
  beforeAll(async () => {
    ours = await installedPlugin();
    dataRoot = await mkdtemp(join(tmpdir(), 'pcni-side-'));
  }, 120_000);

  afterAll(async () => {
    await sandbox.cleanup();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  });

  it('full configuration at 1.0.0: results, files, addresses, routes and traffic match', async () => {
    const twins = [await twin('ours', 'f', 2), await twin('ref', 'f', 2)] as const;
    for (const t of twins) await outside(t, 'f');
    const results: Record<string, any[]> = { ours: [], ref: [] };
    for (const t of twins) {
      for (const pod of [0, 1]) {
        const added = await cni(t, 'ADD', { pod, config: config(t, '1.0.0', true) });
        expect(added.code, `${t.tag} ADD: ${added.stdout}${added.stderr}`).toBe(0);
        results[t.tag]!.push(added.json);
      }
    }
    const [o, r] = twins;
    for (const pod of [0, 1]) expect(normalized(results['ours']![pod], o)).toBe(normalized(results['ref']![pod], r));
    expect(results['ours']![1].ips.map((ip: { address: string }) => ip.address)).toEqual(['10.77.1.11/24', 'fd77:1::3/64']);

    expect(await dataFiles(o)).toEqual(await dataFiles(r));
    for (const pod of [0, 1]) {
      expect(await addressesOf(o.pods[pod]!.name)).toEqual(await addressesOf(r.pods[pod]!.name));
      expect(await routesOf(o.pods[pod]!.name)).toEqual(await routesOf(r.pods[pod]!.name));
    }
    expect(await nodeAddresses(o)).toEqual(await nodeAddresses(r));
    for (const t of twins) expect(await mustExec('ip', ['netns', 'exec', t.node, 'cat', '/proc/sys/net/ipv4/ip_forward'])).toBe('1\n');

    for (const t of twins) {
      const [a, b] = t.pods;
      // pod ↔ pod on the bridge, no NAT: the server sees the client's pod address.
      await sandbox.listen(a!.name, '10.77.1.10', 8080);
      expect(await tcpProbe(b!.name, '10.77.1.10', 8080), `${t.tag} pod→pod`).toBe('10.77.1.11');
      // pod → gateway (the bridge address in the node).
      await sandbox.listen(t.node, '10.77.1.1', 8081);
      expect(await tcpProbe(a!.name, '10.77.1.1', 8081), `${t.tag} pod→gateway`).toBe('10.77.1.10');
      // pod → outside: only possible masqueraded (the outside host has no route to pods).
      expect(await tcpProbe(b!.name, '192.168.250.2', 8082), `${t.tag} masquerade`).toBe('192.168.250.1');
    }

    const check = await cni(o, 'CHECK', { pod: 0, config: config(o, '1.0.0', true), prevResult: results['ours']![0] });
    expect(check.code, check.stdout).toBe(0);

    for (const t of twins) {
      for (const pod of [0, 1]) {
        const del = await cni(t, 'DEL', { pod, config: config(t, '1.0.0', true), prevResult: results[t.tag]![pod] });
        expect(del.code, `${t.tag} DEL: ${del.stdout}`).toBe(0);
        expect(del.stdout).toBe('');
      }
      expect(await vethCount(t)).toBe(0);
    }
    expect(await dataFiles(o)).toEqual(await dataFiles(r));
    expect((await dataFiles(o)).map(([name]) => name)).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect(await mustExec('ip', ['netns', 'exec', o.node, 'nft', 'list', 'chain', 'inet', 'portico-cni', 'pod-masq'])).not.toMatch(/masquerade comment/);
    for (const pod of [0, 1]) expect(await addressesOf(o.pods[pod]!.name)).toEqual(await addressesOf(r.pods[pod]!.name));
  });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0'])('version %s: same result and data directory, ADD and DEL', async (version) => {
    const key = `v${version.replaceAll('.', '')}`;
    const twins = [await twin('ours', key, 1), await twin('ref', key, 1)] as const;
    const added = [];
    for (const t of twins) {
      const result = await cni(t, 'ADD', { pod: 0, config: config(t, version, false) });
      expect(result.code, result.stdout).toBe(0);
      expect(result.json.cniVersion).toBe(version);
      added.push(result);
    }
    expect(normalized(added[0]!.json, twins[0])).toBe(normalized(added[1]!.json, twins[1]));
    expect(await dataFiles(twins[0])).toEqual(await dataFiles(twins[1]));
    expect(await routesOf(twins[0].pods[0]!.name)).toEqual(await routesOf(twins[1].pods[0]!.name));
    for (const t of twins) expect((await cni(t, 'DEL', { pod: 0, config: config(t, version, false) })).code).toBe(0);
    expect(await dataFiles(twins[0])).toEqual(await dataFiles(twins[1]));
  });

  it.each([
    ['CNI_ARGS IP=', (c: Record<string, unknown>) => c, 'IgnoreUnknown=1;IP=10.77.1.42'],
    ['args.cni.ips', (c: Record<string, unknown>) => ({ ...c, args: { cni: { ips: ['10.77.1.42'] } } }), undefined],
    ['runtimeConfig.ips', (c: Record<string, unknown>) => ({ ...c, runtimeConfig: { ips: ['10.77.1.42/24'] } }), undefined],
  ])('honours a requested address from %s like the reference', async (_name, edit, args) => {
    const key = `r${_name.replace(/\W/g, '').slice(0, 6)}`;
    const twins = [await twin('ours', key, 1), await twin('ref', key, 1)] as const;
    const results = [];
    for (const t of twins) {
      const pod = t.pods[0]!;
      const result = await runPlugin({ plugin: t.plugin, command: 'ADD', node: t.node, config: edit(config(t, '1.0.0', false)), containerId: pod.id, netns: pod.path, cniPath: t.cniPath, ...(args ? { args } : {}) });
      expect(result.code, result.stdout).toBe(0);
      results.push(result.json);
    }
    expect(results[0].ips[0].address).toBe('10.77.1.42/24');
    expect(normalized(results[0], twins[0])).toBe(normalized(results[1], twins[1]));
    expect(await dataFiles(twins[0])).toEqual(await dataFiles(twins[1]));
  });

  it('shares a data directory with the reference host-local', async () => {
    // Different container ids (keys s1, s2) on twin nodes, one data directory.
    const o = await twin('ours', 's1', 2);
    const r = { ...(await twin('ref', 's2', 2)), dataDir: o.dataDir };
    expect((await cni(o, 'ADD', { pod: 0, config: config(o, '1.0.0', false) })).json.ips[0].address).toBe('10.77.1.2/24');
    expect((await cni(r, 'ADD', { pod: 0, config: config(r, '1.0.0', false) })).json.ips[0].address).toBe('10.77.1.3/24');
    expect((await cni(o, 'ADD', { pod: 1, config: config(o, '1.0.0', false) })).json.ips[0].address).toBe('10.77.1.4/24');
    expect((await cni(r, 'DEL', { pod: 0, config: config(r, '1.0.0', false) })).code).toBe(0);
    expect((await cni(o, 'DEL', { pod: 1, config: config(o, '1.0.0', false) })).code).toBe(0);
    expect((await dataFiles(o)).map(([name, content]) => [name, Buffer.from(content, 'hex').toString()])).toEqual([
      ['10.77.1.2', `${o.pods[0]!.id}\r\neth0`],
      ['last_reserved_ip.0', '10.77.1.4'],
      ['lock', ''],
    ]);
  });
});
