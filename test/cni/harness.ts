import { BridgePlugin } from '../../src/cni/bridge/bridge.js';
import { FakeIpamStore } from '../../src/cni/ipam/host-local/fake-store.js';
import { HostLocal } from '../../src/cni/ipam/host-local/host-local.js';
import { runSkel } from '../../src/cni/skel.js';
import { FakeNetHost } from '../../src/host/fake-net-host.js';
import type { FaultPlan } from '../../src/lib/fault-plan.js';
import { FakeNft } from '../../src/nft/fake-nft.js';

// A bridge plugin over fakes (host, nftables, IPAM store) driven through the real skel, so tests
// see exactly what a runtime would: stdout, exit status, and the fake host's state.

export const POD_NETNS = '/run/netns/pod1';

export interface Harness {
  host: FakeNetHost;
  nft: FakeNft;
  stores: Map<string, FakeIpamStore>;
  files: Map<string, string>;
  logs: string[];
  plugin: BridgePlugin;
  run(options: { env: Record<string, string | undefined>; config?: unknown; stdin?: string }): Promise<{ code: number; stdout: string; stderr: string; json: any }>;
  /** The reservation files of a network: file name → content. */
  ipamFiles(network?: string, dataDir?: string): Record<string, string>;
}

export function harness(options: { faults?: FaultPlan; namespaces?: string[] } = {}): Harness {
  const faults = options.faults;
  const host = new FakeNetHost({ ...(faults ? { faults } : {}) });
  for (const ns of options.namespaces ?? [POD_NETNS]) host.addNamespace(ns);
  const nft = new FakeNft({ ...(faults ? { faults } : {}) });
  const stores = new Map<string, FakeIpamStore>();
  const files = new Map<string, string>();
  const logs: string[] = [];
  let suffix = 0;
  const plugin = new BridgePlugin({
    host,
    nft,
    ipam: new HostLocal({
      openStore: ({ dataDir, network }) => {
        const key = `${dataDir}/${network}`;
        if (!stores.has(key)) stores.set(key, new FakeIpamStore({ ...(faults ? { faults } : {}) }));
        return stores.get(key)!;
      },
      readFile: async (path) => {
        const text = files.get(path);
        if (text === undefined) throw new Error(`ENOENT: no such file ${path}`);
        return text;
      },
    }),
    randomSuffix: () => (++suffix).toString(16).padStart(8, '0'),
    sleep: async () => {},
    log: (message) => logs.push(message),
    missingTools: async () => [],
  });
  return {
    host,
    nft,
    stores,
    files,
    logs,
    plugin,
    async run({ env, config, stdin }) {
      let stdout = '';
      let stderr = '';
      const code = await runSkel(plugin, {
        env,
        readStdin: async () => stdin ?? JSON.stringify(config),
        writeStdout: (text) => (stdout += text),
        writeStderr: (text) => (stderr += text),
      });
      let json: unknown;
      try {
        json = stdout === '' ? undefined : JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      return { code, stdout, stderr, json };
    },
    ipamFiles(network = 'podnet', dataDir = '/var/lib/cni/networks') {
      return Object.fromEntries([...(stores.get(`${dataDir}/${network}`)?.files.entries() ?? [])].sort());
    },
  };
}

export function env(command: string, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: POD_NETNS,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
    ...overrides,
  };
}

export function bridgeConfig(overrides: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'podnet',
    type: 'portico-cni',
    bridge: 'cni0',
    isGateway: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]], ...ipam },
    ...overrides,
  };
}
