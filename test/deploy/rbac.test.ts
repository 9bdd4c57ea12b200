import { afterEach, describe, expect, it } from 'vitest';
import { REQUIRED_API_ACCESS } from '../../src/k8s/api-access.js';
import { EventRecorder } from '../../src/k8s/event-recorder.js';
import { KubeClient } from '../../src/k8s/kube-client.js';
import { KubernetesSource } from '../../src/k8s/kubernetes-source.js';
import { LeaderElector } from '../../src/k8s/leader-elector.js';
import { computePublishAddresses } from '../../src/k8s/publish-address.js';
import { StatusWriter } from '../../src/k8s/status-writer.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import type { Ingress, Service } from '../../src/model/k8s-objects.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { eventually } from '../helpers/http.js';
import { endpointSlice, ingress, ingressClass, node, prefix, rule, secret, service } from '../helpers/objects.js';
import { FakeApiServer, type FakeRequest } from '../k8s/fake-api-server.js';
import { findManifest, type Manifest } from './manifests.js';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

const deployment = findManifest('Deployment', 'portico');
const controllerNamespace = deployment.metadata.namespace!;
const electionId = (deployment.spec.template.spec.containers[0].args as string[]).find((a) => a.startsWith('--election-id='))!.split('=')[1]!;
const clusterRole = findManifest('ClusterRole');
const role = findManifest('Role');

/** `scope group resource verb name` for every permission a set of rules grants. */
function grants(rules: PolicyRule[], scope: string): string[] {
  return rules.flatMap((r) =>
    (r.apiGroups ?? []).flatMap((group) =>
      (r.resources ?? []).flatMap((resource) => r.verbs.flatMap((verb) => (r.resourceNames ?? ['*']).map((name) => `${scope} ${group || 'core'} ${resource} ${verb} ${name}`))),
    ),
  );
}

function required(): string[] {
  return REQUIRED_API_ACCESS.flatMap((row) =>
    row.verbs.map((verb) => `${row.scope} ${row.group || 'core'} ${row.resource} ${verb} ${row.resourceName === 'election-id' ? electionId : '*'}`),
  );
}

/** The fake API server as an RBAC authorizer for the controller's ServiceAccount. */
function authorizer(clusterRules: PolicyRule[], namespaceRules: PolicyRule[]): (request: FakeRequest) => boolean {
  const allows = (rules: PolicyRule[], request: FakeRequest) => {
    const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
    return rules.some(
      (r) =>
        (r.apiGroups ?? []).includes(request.group) &&
        (r.resources ?? []).includes(resource) &&
        r.verbs.includes(request.verb) &&
        (r.resourceNames === undefined || (request.name !== undefined && r.resourceNames.includes(request.name))),
    );
  };
  return (request) => allows(clusterRules, request) || (request.namespace === controllerNamespace && allows(namespaceRules, request));
}

describe('RBAC', () => {
  it('grants exactly REQUIRED_API_ACCESS: everything the controller calls, and no more', () => {
    const granted = [...grants(clusterRole.rules, 'cluster'), ...grants(role.rules, 'controller-namespace')].sort();
    expect(granted).toEqual(required().sort());
    expect(new Set(granted).size).toBe(granted.length); // no rule repeats another
  });

  it('uses no wildcards', () => {
    const words = [...clusterRole.rules, ...role.rules].flatMap((r: PolicyRule) => [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs]);
    expect(words.filter((w) => w.includes('*'))).toEqual([]);
  });

  it('binds the roles to the Deployment ServiceAccount, the Role in the controller namespace', () => {
    const sa = { kind: 'ServiceAccount', name: deployment.spec.template.spec.serviceAccountName, namespace: controllerNamespace };
    const clusterBinding = findManifest('ClusterRoleBinding');
    expect(clusterBinding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata.name });
    expect(clusterBinding.subjects).toEqual([sa]);
    const binding: Manifest = findManifest('RoleBinding');
    expect(binding.metadata.namespace).toBe(controllerNamespace);
    expect(role.metadata.namespace).toBe(controllerNamespace);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([sa]);
  });

  describe('against a fake API server enforcing the manifests', () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function runController(clusterRules: PolicyRule[]) {
      const api = await FakeApiServer.start({ authorize: authorizer(clusterRules, role.rules) });
      cleanups.push(() => api.close());
      api.create(ingressClass('portico'));
      api.create(ingress('shop/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80), prefix('a//b', 'web', 80)])] }));
      api.create(service('shop/web', [80]));
      api.create(endpointSlice('shop/web-1', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }));
      api.create(secret('shop/tls', { 'tls.crt': 'eA==', 'tls.key': 'eA==' }, 'kubernetes.io/tls'));
      api.create(node('n1', { internalIP: '172.18.0.2' }));
      api.create({ ...service(`${controllerNamespace}/portico`, [80]), status: { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } });

      const logger = createSilentLogger();
      const client = new KubeClient(api.kubeConfig());
      const store = new ObjectStore();
      let writer: StatusWriter | undefined;
      const source = new KubernetesSource({
        client,
        store,
        logger,
        publishService: `${controllerNamespace}/portico`,
        backoff: { initialMs: 10, maxMs: 50 },
        onObjectChange: (kind) => kind === 'Ingress' && writer?.ingressChanged(),
      });
      writer = new StatusWriter({ client, logger, lookupIngress: (k) => source.lookup('Ingress', k) as Ingress | undefined, ingressKeys: () => source.keys('Ingress') });
      const events = new EventRecorder({ client, logger });
      const elector = new LeaderElector({
        client,
        logger,
        namespace: controllerNamespace,
        name: electionId,
        leaseDurationMs: 600,
        renewDeadlineMs: 400,
        retryPeriodMs: 100,
        onStartedLeading: () => writer!.setLeader(true),
        onStoppedLeading: () => writer!.setLeader(false),
      });
      cleanups.push(() => source.stop(), () => writer!.stop(), () => elector.stop());
      source.start();
      elector.start();
      await source.synced;
      writer.update({
        owned: ['shop/web'],
        addresses: computePublishAddresses({ service: store.get('Service', `${controllerNamespace}/portico`) as Service }),
      });
      events.record({ kind: 'Ingress', namespace: 'shop', name: 'web' }, { type: 'Warning', reason: 'IngressPathInvalid', message: 'm' });
      events.record({ kind: 'Ingress', namespace: 'shop', name: 'web' }, { type: 'Warning', reason: 'IngressPathInvalid', message: 'm' });
      await events.flush();
      await eventually(async () => elector.isLeader, 3000, 'leader');
      await eventually(async () => JSON.stringify(api.get('Ingress', 'shop/web')?.status ?? {}).includes('203.0.113.10'), 3000, 'status');
      await elector.stop(); // release
      return api;
    }

    it('lets every call the controller makes through (no 403)', async () => {
      const api = await runController(clusterRole.rules);
      expect(api.requests.filter((r) => r.status === 403)).toEqual([]);
      const verbs = new Set(api.requests.map((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''}`));
      expect([...verbs].sort()).toEqual(
        expect.arrayContaining(['create events', 'patch events', 'create leases', 'get leases', 'update leases', 'update ingresses/status', 'list nodes', 'watch secrets']),
      );
    });

    it('would catch a missing rule (the authorizer is real)', async () => {
      const withoutPatch = clusterRole.rules.map((r: PolicyRule) => ({ ...r, verbs: r.verbs.filter((v) => !(v === 'patch' && r.resources?.includes('events'))) }));
      const api = await runController(withoutPatch);
      expect(api.requests.filter((r) => r.status === 403).map((r) => `${r.verb} ${r.resource}`)).toEqual(['patch events']);
    });
  });
});
