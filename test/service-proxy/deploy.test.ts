import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseFlags } from '../../src/cmd/flags.js';
import { SERVICE_PROXY_FLAGS } from '../../src/cmd/service-proxy-command.js';
import { REQUIRED_API_ACCESS } from '../../src/k8s/api-access.js';

// deploy/service-proxy must stay consistent with the code: valid flags, the listeners the probes
// ask, and RBAC for exactly the list/watch calls the service proxy's informers make.

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'service-proxy');
const load = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS());

describe('deploy/service-proxy', () => {
  it('lists every manifest in the kustomization', () => {
    expect(load('kustomization.yaml')[0].resources.sort()).toEqual(['clusterrole.yaml', 'clusterrolebinding.yaml', 'daemonset.yaml', 'serviceaccount.yaml']);
  });

  it('runs `portico service-proxy` with valid flags in the node network, probes on its healthz port', () => {
    const pod = load('daemonset.yaml')[0].spec.template.spec;
    const container = pod.containers[0];
    expect(container.args[0]).toBe('service-proxy');
    const flags = parseFlags(container.args.slice(1), SERVICE_PROXY_FLAGS);
    expect(flags['node-name']).toBe('$(NODE_NAME)');
    expect(container.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/healthz', port: flags['healthz-port'] });
    expect(container.livenessProbe.httpGet.port).toBe(flags['healthz-port']);
    expect(pod.hostNetwork).toBe(true);
    expect(container.securityContext.capabilities.add).toContain('NET_ADMIN');
    expect(pod.serviceAccountName).toBe(load('serviceaccount.yaml')[0].metadata.name);
  });

  it('grants list and watch of services, nodes and endpointslices and Event writes, all declared in REQUIRED_API_ACCESS', () => {
    const rules = load('clusterrole.yaml')[0].rules as Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
    const granted = rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}:${[...r.verbs].sort().join(',')}`))).sort();
    expect(granted).toEqual(['/events:create,patch', '/nodes:list,watch', '/services:list,watch', 'discovery.k8s.io/endpointslices:list,watch']);
    for (const entry of granted) {
      const [groupResource] = entry.split(':');
      const [group, resource] = groupResource!.split('/');
      const declared = REQUIRED_API_ACCESS.find((a) => a.group === group && a.resource === resource);
      expect(declared?.verbs).toEqual(expect.arrayContaining(entry.split(':')[1]!.split(',')));
    }
  });
});
