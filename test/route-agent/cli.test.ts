import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cmd/flags.js';
import { NODE_AGENT_FLAGS, runNodeAgentCommand } from '../../src/cmd/node-agent-command.js';

const REPO = join(import.meta.dirname, '..', '..');
const PORTICO = join(REPO, 'dist', 'cmd', 'portico.js');

describe('portico node-agent (CLI)', () => {
  it('help lists the contract flags with their defaults', () => {
    const result = spawnSync(process.execPath, [PORTICO, 'help', 'node-agent'], { encoding: 'utf8' });
    for (const flag of ['--manifests', '--kubeconfig', '--node-name', '--mode', '--iface', '--cluster-cidr', '--cni-conf-dir', '--vxlan-vni', '--vxlan-port', '--sync-period', '--cleanup']) {
      expect(result.stdout).toContain(flag);
    }
    const defaults = parseFlags([], NODE_AGENT_FLAGS);
    expect([defaults.mode, defaults['cni-conf-dir'], defaults['vxlan-vni'], defaults['vxlan-port'], defaults['sync-period']]).toEqual(['vxlan', '/etc/cni/net.d', '1', 8472, '10s']);
  });

  it('without ip, bridge or nft on PATH: a clear message naming the fix and exit 1, no stack trace', () => {
    const result = spawnSync(process.execPath, [PORTICO, 'node-agent', '--cleanup'], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/portico node-agent: cannot find ip, bridge, nft in PATH; install iproute2 and nftables.*\[PORTICO_ERR_NODE_AGENT_TOOLS\]/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses bad flags, naming them', async () => {
    await expect(runNodeAgentCommand(['--manifests', '/tmp'])).rejects.toThrow(/--cluster-cidr is required/);
    await expect(runNodeAgentCommand(['--cluster-cidr', '10.244.0.0/16', '--mode', 'bgp'])).rejects.toThrow(/--mode must be one of host-gw, vxlan/);
    await expect(runNodeAgentCommand(['--cluster-cidr', '10.244.0.0/16', '--vxlan-vni', '0'])).rejects.toThrow(/--vxlan-vni must be 1-16777215/);
    await expect(runNodeAgentCommand(['--cluster-cidr', '10.244.0.300/16'])).rejects.toThrow(/--cluster-cidr: "10.244.0.300\/16" is not a CIDR/);
    await expect(runNodeAgentCommand(['--cluster-cidr', '10.244.0.0/16', '--sync-period', '100ms'])).rejects.toThrow(/--sync-period must be at least 1s/);
  });
});
