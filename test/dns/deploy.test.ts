import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DNS_FLAGS } from '../../src/cmd/dns-command.js';
import { parseFlags } from '../../src/cmd/flags.js';
import { DNS_API_ACCESS } from '../../src/k8s/api-access.js';

// deploy/dns must stay consistent with the code: valid flags, probes on the metrics port, the
// conventional kube-dns Service, and RBAC for exactly the list/watch calls portico dns makes.

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'dns');
const load = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS());

describe('deploy/dns', () => {
  it('lists every manifest in the kustomization, in kube-system', () => {
    const kustomization = load('kustomization.yaml')[0];
    expect(kustomization.namespace).toBe('kube-system');
    expect(kustomization.resources.sort()).toEqual(['clusterrole.yaml', 'clusterrolebinding.yaml', 'deployment.yaml', 'service.yaml', 'serviceaccount.yaml']);
  });

  it('runs `portico dns` with valid flags, probes on its metrics port, binds 53 without root', () => {
    const deployment = load('deployment.yaml')[0];
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(container.args[0]).toBe('dns');
    const flags = parseFlags(container.args.slice(1), DNS_FLAGS);
    expect(flags.listen).toBe('0.0.0.0:53');
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: flags['metrics-port'] });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: flags['metrics-port'] });
    expect(container.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.capabilities.add).toEqual(['NET_BIND_SERVICE']);
    expect(pod.dnsPolicy).toBe('Default'); // upstreams from the node, never itself
    expect(pod.serviceAccountName).toBe(load('serviceaccount.yaml')[0].metadata.name);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it('is Service kube-dns at 10.96.0.10 with dns (UDP), dns-tcp and metrics ports selecting the pods', () => {
    const service = load('service.yaml')[0];
    const deployment = load('deployment.yaml')[0];
    expect(service.metadata).toMatchObject({ name: 'kube-dns', namespace: 'kube-system' });
    expect(service.spec.clusterIP).toBe('10.96.0.10');
    expect(service.spec.ports.map((p: { name: string; port: number; protocol: string }) => `${p.name} ${p.port}/${p.protocol}`)).toEqual(['dns 53/UDP', 'dns-tcp 53/TCP', 'metrics 9153/TCP']);
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
  });

  it('grants list and watch of exactly what DNS_API_ACCESS declares (pods because of --pods=verified)', () => {
    const rules = load('clusterrole.yaml')[0].rules as Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
    const granted = rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}:${[...r.verbs].sort().join(',')}`))).sort();
    const declared = DNS_API_ACCESS.map((a) => `${a.group}/${a.resource}:${[...a.verbs].sort().join(',')}`).sort();
    expect(granted).toEqual(declared);
    const args = load('deployment.yaml')[0].spec.template.spec.containers[0].args as string[];
    expect(args).toContain('--pods=verified');
    const binding = load('clusterrolebinding.yaml')[0];
    expect(binding.roleRef.name).toBe(load('clusterrole.yaml')[0].metadata.name);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'portico-dns', namespace: 'kube-system' }]);
  });
});
