import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { LB_CONTROLLER_FLAGS } from '../../src/cmd/lb-controller-command.js';
import { parseFlags } from '../../src/cmd/flags.js';
import { LB_CONTROLLER_API_ACCESS } from '../../src/k8s/api-access.js';
import { parsePools } from '../../src/lb-ipam/pool.js';
import { startLbController } from '../../src/lb-controller/start-lb-controller.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import type { Service } from '../../src/model/k8s-objects.js';
import { validateManifest, type Manifest } from '../deploy/manifests.js';
import { eventually } from '../helpers/http.js';
import { service } from '../helpers/objects.js';
import { FakeApiServer, type FakeRequest } from '../k8s/fake-api-server.js';

// deploy/lb-controller must stay consistent with the code: schema-valid objects, valid flags,
// probes on its healthz port, and RBAC for exactly LB_CONTROLLER_API_ACCESS (proved by running
// the controller against the fake API server with those rules as its authorizer).

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'lb-controller');
const load = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS() as Manifest);
const FILES = ['clusterrole.yaml', 'clusterrolebinding.yaml', 'deployment.yaml', 'role.yaml', 'rolebinding.yaml', 'serviceaccount.yaml'];

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

const deployment = load('deployment.yaml')[0]!;
const namespace = deployment.metadata.namespace!;
const container = deployment.spec.template.spec.containers[0];
const flags = parseFlags(container.args.slice(1), LB_CONTROLLER_FLAGS);
const clusterRules = load('clusterrole.yaml')[0]!.rules as PolicyRule[];
const namespaceRules = load('role.yaml')[0]!.rules as PolicyRule[];

function grants(rules: PolicyRule[], scope: string): string[] {
  return rules.flatMap((r) =>
    (r.apiGroups ?? []).flatMap((group) =>
      (r.resources ?? []).flatMap((resource) => r.verbs.flatMap((verb) => (r.resourceNames ?? ['*']).map((name) => `${scope} ${group || 'core'} ${resource} ${verb} ${name}`))),
    ),
  );
}

function authorizer(request: FakeRequest): boolean {
  const allows = (rules: PolicyRule[]) => {
    const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
    return rules.some(
      (r) =>
        (r.apiGroups ?? []).includes(request.group) &&
        (r.resources ?? []).includes(resource) &&
        r.verbs.includes(request.verb) &&
        (r.resourceNames === undefined || (request.name !== undefined && r.resourceNames.includes(request.name))),
    );
  };
  return allows(clusterRules) || (request.namespace === namespace && allows(namespaceRules));
}

describe('deploy/lb-controller', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('lists every manifest in the kustomization, and each validates against the Kubernetes schemas', () => {
    expect([...load('kustomization.yaml')[0]!.resources].sort()).toEqual(FILES);
    const problems = FILES.flatMap((file) => load(file).flatMap((obj) => validateManifest(obj).map((p) => `${file}: ${p}`)));
    expect(problems).toEqual([]);
  });

  it('runs `portico lb-controller` with valid flags and a pool that parses, non-root, probes on its healthz port', () => {
    expect(container.args[0]).toBe('lb-controller');
    expect(parsePools(flags.pool!).diagnostics).toEqual([]);
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/healthz', port: flags['healthz-port'] });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/livez', port: flags['healthz-port'] });
    expect(container.env).toContainEqual({ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
    expect(deployment.spec.template.spec.serviceAccountName).toBe(load('serviceaccount.yaml')[0]!.metadata.name);
    for (const file of ['clusterrolebinding.yaml', 'rolebinding.yaml']) {
      expect(load(file)[0]!.subjects).toEqual([{ kind: 'ServiceAccount', name: 'portico-lb-controller', namespace }]);
    }
  });

  it('grants exactly LB_CONTROLLER_API_ACCESS, with no wildcards', () => {
    const granted = [...grants(clusterRules, 'cluster'), ...grants(namespaceRules, 'controller-namespace')].sort();
    const required = LB_CONTROLLER_API_ACCESS.flatMap((row) =>
      row.verbs.map((verb) => `${row.scope} ${row.group || 'core'} ${row.resource} ${verb} ${row.resourceName === 'election-id' ? flags['election-id'] : '*'}`),
    ).sort();
    expect(granted).toEqual(required);
    expect(JSON.stringify([clusterRules, namespaceRules])).not.toContain('*');
  });

  it('with only these permissions, assigns, writes status and records Events (nothing is denied)', async () => {
    const api = await FakeApiServer.start({ authorize: authorizer });
    cleanups.push(() => api.close());
    const lb = (key: string): Service => ({ ...service(key, [80]), spec: { ...service(key, [80]).spec, type: 'LoadBalancer' } });
    api.create(lb('shop/a'));
    api.create(lb('shop/b'));
    const running = await startLbController({
      kubeConfig: api.kubeConfig(),
      pools: parsePools('192.0.2.1-192.0.2.1').ranges,
      electionId: flags['election-id']!,
      electionNamespace: namespace,
      leaderElection: { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 },
      logger: createSilentLogger(),
      env: {},
    });
    cleanups.push(() => running.close());
    await eventually(async () => api.list('Event').length === 1, 3000, 'exhausted Event');
    expect((api.get('Service', 'shop/a')?.status as Service['status'])?.loadBalancer?.ingress).toEqual([{ ip: '192.0.2.1' }]);
    await running.close();
    expect(api.requests.filter((r) => r.status === 403).map((r) => `${r.verb} ${r.resource}`)).toEqual([]);
  });
});
