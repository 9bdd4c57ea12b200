import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseBridgeConfig } from '../../src/cni/bridge/config.js';
import { parseCniArgs } from '../../src/cni/cni-args.js';
import { renderConflist } from '../../src/cni/install.js';
import { CNI_FLAGS } from '../../src/cmd/cni-command.js';
import { parseFlags } from '../../src/cmd/flags.js';

// deploy/cni must stay consistent with the code: the DaemonSet's arguments are valid
// `portico cni install` flags, and the ConfigMap's conflist renders into a config the plugin accepts.

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'cni');
const load = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS());

describe('deploy/cni', () => {
  it('lists every manifest in the kustomization', () => {
    const [kustomization] = load('kustomization.yaml');
    expect(kustomization.resources.sort()).toEqual(['clusterrole.yaml', 'clusterrolebinding.yaml', 'configmap.yaml', 'daemonset.yaml', 'serviceaccount.yaml']);
  });

  it('runs `portico cni install` with valid flags, as root, on every node', () => {
    const [ds] = load('daemonset.yaml');
    const pod = ds.spec.template.spec;
    const container = pod.containers[0];
    expect(container.args.slice(0, 2)).toEqual(['cni', 'install']);
    const flags = parseFlags(container.args.slice(2), CNI_FLAGS);
    expect(flags['bin-dir']).toBe('/host/opt/cni/bin');
    expect(flags.wait).toBe(true);
    const mounts = Object.fromEntries(container.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
    const volumes = Object.fromEntries(pod.volumes.map((v: { name: string; hostPath?: { path: string } }) => [v.name, v.hostPath?.path]));
    expect(volumes[mounts['/host/opt/cni/bin']]).toBe('/opt/cni/bin');
    expect(volumes[mounts['/host/etc/cni/net.d']]).toBe('/etc/cni/net.d');
    expect(container.securityContext.runAsUser).toBe(0);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.serviceAccountName).toBe(load('serviceaccount.yaml')[0].metadata.name);
  });

  it('ships a conflist that renders into a config portico-cni accepts', () => {
    const [configMap] = load('configmap.yaml');
    const [ds] = load('daemonset.yaml');
    const flags = parseFlags(ds.spec.template.spec.containers[0].args.slice(2), CNI_FLAGS);
    const fileName = flags.conflist!.split('/').pop()!;
    const conflist = JSON.parse(renderConflist(configMap.data[fileName], { podCidr: '10.244.7.0/24' }));
    expect(conflist.cniVersions).toContain('1.1.0');
    const plugin = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] };
    expect(plugin.type).toBe('portico-cni');
    const parsed = parseBridgeConfig(plugin, parseCniArgs(''));
    expect(parsed.ipam?.ranges[0]?.[0]?.subnet.prefix).toBe(24);
  });

  it('grants only get on nodes', () => {
    const [role] = load('clusterrole.yaml');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]);
  });
});
