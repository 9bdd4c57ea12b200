import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseFlags } from '../../src/cmd/flags.js';
import { NODE_AGENT_FLAGS } from '../../src/cmd/node-agent-command.js';
import { SERVICE_PROXY_FLAGS } from '../../src/cmd/service-proxy-command.js';
import { NODE_AGENT_API_ACCESS, REQUIRED_API_ACCESS } from '../../src/k8s/api-access.js';
import { validateManifest, type Manifest } from '../deploy/manifests.js';

// deploy/node must stay consistent with the code: schema-valid objects, valid flags for both
// containers, the conflist directory mounted where --cni-conf-dir points, and RBAC for exactly
// the union of what the node agent and the service proxy call.

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'node');
const load = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS() as Manifest);
const FILES = ['clusterrole.yaml', 'clusterrolebinding.yaml', 'daemonset.yaml', 'serviceaccount.yaml'];

describe('deploy/node', () => {
  it('lists every manifest in the kustomization, each schema-valid', () => {
    expect([...load('kustomization.yaml')[0]!['resources']].sort()).toEqual(FILES);
    for (const file of FILES) for (const obj of load(file)) expect(validateManifest(obj), `${file} ${obj.kind}`).toEqual([]);
  });

  it('runs node-agent and service-proxy with valid flags in the node network, the conflist directory on the host', () => {
    const pod = load('daemonset.yaml')[0]!['spec'].template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.serviceAccountName).toBe(load('serviceaccount.yaml')[0]!.metadata.name);
    const [agent, proxy] = pod.containers;
    expect(agent.args[0]).toBe('node-agent');
    const flags = parseFlags(agent.args.slice(1), NODE_AGENT_FLAGS);
    expect(flags['node-name']).toBe('$(NODE_NAME)');
    expect(flags['cluster-cidr']).toBeDefined();
    const mount = agent.volumeMounts.find((m: { mountPath: string }) => m.mountPath === flags['cni-conf-dir']);
    expect(pod.volumes.find((v: { name: string }) => v.name === mount.name).hostPath.path).toBe('/etc/cni/net.d');
    expect(agent.securityContext.capabilities.add).toEqual(expect.arrayContaining(['NET_RAW', 'SYS_ADMIN']));
    expect(agent.ports).toContainEqual({ name: 'heartbeat', containerPort: flags['heartbeat-port'], protocol: 'UDP' });
    expect(proxy.args[0]).toBe('service-proxy');
    const proxyFlags = parseFlags(proxy.args.slice(1), SERVICE_PROXY_FLAGS);
    expect(proxyFlags['cluster-cidr']).toBe(flags['cluster-cidr']);
    for (const container of [agent, proxy]) {
      expect(container.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
      expect(container.securityContext.capabilities.add).toContain('NET_ADMIN');
    }
  });

  it('grants exactly NODE_AGENT_API_ACCESS plus the service proxy reads, nothing more', () => {
    const rules = load('clusterrole.yaml')[0]!['rules'] as Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
    const granted = new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)))));
    const agent = NODE_AGENT_API_ACCESS.flatMap((a) => a.verbs.map((v) => `${a.group}/${a.resource}:${v}`));
    const proxy = ['/services:list', '/services:watch', '/nodes:list', '/nodes:watch', 'discovery.k8s.io/endpointslices:list', 'discovery.k8s.io/endpointslices:watch', '/events:create', '/events:patch'];
    expect([...granted].sort()).toEqual([...new Set([...agent, ...proxy])].sort());
    // The node agent's source uses the shared informers: every row must be one they may make.
    for (const access of NODE_AGENT_API_ACCESS) expect(REQUIRED_API_ACCESS.some((r) => r.group === access.group && r.resource === access.resource)).toBe(true);
  });
});
