import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedPlugin, mustExec, runPlugin, Sandbox, SKIP_REASON, skipTitle } from './helpers.js';

// 50 pods added at once through the installed executable (each a separate process contending on
// the IPAM lock, the bridge creation and nftables), then deleted at once.

const PODS = 50;
const sandbox = new Sandbox();

describe.skipIf(SKIP_REASON !== undefined)(skipTitle('concurrent invocations'), () => {
  let plugin = '';
  let dataDir = '';
  beforeAll(async () => {
    plugin = await installedPlugin();
    dataDir = await mkdtemp(join(tmpdir(), 'pcni-conc-'));
  }, 120_000);
  afterAll(async () => {
    await sandbox.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(`${PODS} concurrent ADDs get ${PODS} distinct addresses; ${PODS} concurrent DELs leave nothing`, async () => {
    const node = await sandbox.netns('cc-node');
    const pods = await Promise.all(Array.from({ length: PODS }, (_, i) => sandbox.netns(`cc-p${i}`)));
    const config = {
      cniVersion: '1.1.0',
      name: 'concnet',
      type: 'portico-cni',
      bridge: `pcnicc${sandbox.id}`.slice(0, 15),
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.78.0.0/24' }], [{ subnet: 'fd78::/64' }]] },
    };
    const call = (command: string, i: number, extra: object = {}) =>
      runPlugin({ plugin, command, node: node.name, config: { ...config, ...extra }, containerId: `cc-${i}`, netns: pods[i]!.path, cniPath: join(plugin, '..') });

    const added = await Promise.all(pods.map((_, i) => call('ADD', i)));
    for (const [i, result] of added.entries()) expect(result.code, `ADD ${i}: ${result.stdout}`).toBe(0);
    const ips = added.map((r) => r.json.ips[0].address as string);
    expect(new Set(ips).size).toBe(PODS);
    expect(new Set(added.map((r) => r.json.ips[1].address as string)).size).toBe(PODS);
    const files = await readdir(join(dataDir, 'concnet'));
    expect(files.filter((f) => f.startsWith('10.78.0.'))).toHaveLength(PODS);
    expect(files.filter((f) => f.startsWith('fd78::'))).toHaveLength(PODS);
    const bridge = JSON.parse(await mustExec('ip', ['-n', node.name, '-j', 'addr', 'show', 'dev', config.bridge])) as Array<{ addr_info: Array<{ local: string; scope: string }> }>;
    expect(bridge[0]!.addr_info.filter((a) => a.scope === 'global').map((a) => a.local).sort()).toEqual(['10.78.0.1', 'fd78::1']);
    const links = JSON.parse(await mustExec('ip', ['-n', node.name, '-j', 'link', 'show'])) as Array<{ ifname: string }>;
    expect(links.filter((l) => l.ifname.startsWith('veth'))).toHaveLength(PODS);
    const rules = await mustExec('ip', ['netns', 'exec', node.name, 'nft', 'list', 'chain', 'inet', 'portico-cni', 'pod-masq']);
    expect(rules.match(/ masquerade comment/g)).toHaveLength(2 * PODS);

    for (const i of [0, 17, PODS - 1]) {
      const check = await call('CHECK', i, { prevResult: added[i]!.json });
      expect(check.code, check.stdout).toBe(0);
    }

    const deleted = await Promise.all(pods.map((_, i) => call('DEL', i)));
    for (const [i, result] of deleted.entries()) expect(result.code, `DEL ${i}: ${result.stdout}`).toBe(0);
    expect((await readdir(join(dataDir, 'concnet'))).sort()).toEqual(['last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    const after = JSON.parse(await mustExec('ip', ['-n', node.name, '-j', 'link', 'show'])) as Array<{ ifname: string }>;
    expect(after.filter((l) => l.ifname.startsWith('veth'))).toEqual([]);
    expect(await mustExec('ip', ['netns', 'exec', node.name, 'nft', 'list', 'chain', 'inet', 'portico-cni', 'pod-masq'])).not.toMatch(/masquerade comment/);
  }, 120_000);
});
