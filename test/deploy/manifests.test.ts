import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { allManifests, DEPLOY_DIR, findManifest, loadManifestFiles, ROOT, strictFieldProblems, validateManifest, type Manifest } from './manifests.js';

const run = promisify(execFile);

describe('deploy/kubernetes manifests', () => {
  it('all validate against the Kubernetes API schemas (types, required fields, no unknown fields)', () => {
    const files = loadManifestFiles();
    expect(files.length).toBeGreaterThanOrEqual(10);
    const problems = files.flatMap(({ file, objects }) =>
      objects.flatMap((obj) => validateManifest(obj).map((p) => `${file} ${obj.kind}/${obj.metadata?.name}: ${p}`)),
    );
    expect(problems).toEqual([]);
  });

  it('the strict check catches misspelled fields', () => {
    const deployment = structuredClone(findManifest('Deployment'));
    deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    expect(strictFieldProblems(deployment)).toEqual([
      'spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field',
    ]);
  });

  it('has every object the issue asks for', () => {
    const kinds = allManifests().map((m) => m.kind).sort();
    expect(kinds).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'IngressClass',
      'Namespace',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
  });

  it('kustomization.yaml lists every manifest file and nothing else, and kubectl kustomize renders them all', async () => {
    const kustomization = parse(readFileSync(join(DEPLOY_DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const files = readdirSync(DEPLOY_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    expect([...kustomization.resources].sort()).toEqual(files);
    const { stdout } = await run('kubectl', ['kustomize', DEPLOY_DIR]);
    const rendered = parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
    expect(rendered.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(allManifests().map((m) => `${m.kind}/${m.metadata.name}`).sort());
    expect(rendered.flatMap((m) => validateManifest(m))).toEqual([]);
  });

  it('runs 2 non-root replicas with a read-only root filesystem, probes and resource requests', () => {
    const deployment = findManifest('Deployment', 'portico');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(deployment.spec.replicas).toBe(2);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.args[0]).toBe('controller');
    // --workers auto would follow the node's CPU count (no CPU limit here), past the memory limit.
    expect(container.args).toContain('--workers=2');
    expect(container.resources.limits.memory).toBe('1Gi');
    expect(container.args).toEqual(expect.arrayContaining(['--election-id=portico-leader', '--publish-service=$(POD_NAMESPACE)/portico']));
    expect(pod.serviceAccountName).toBe(findManifest('ServiceAccount').metadata.name);
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(container.args).toContain(`--admin-port=${ports.admin}`);
    expect(container.args).toContain(`--http-port=${ports.http}`);
  });

  it('gives the pod time for the whole shutdown sequence: grace period + drain timeout fit terminationGracePeriodSeconds', () => {
    const pod = findManifest('Deployment', 'portico').spec.template.spec;
    const seconds = (flag: string, fallback: number) => {
      const arg = (pod.containers[0].args as string[]).find((a) => a.startsWith(`--${flag}=`));
      return arg === undefined ? fallback : Number(arg.split('=')[1]);
    };
    const grace = seconds('shutdown-grace-period', 5);
    const drain = seconds('shutdown-drain-timeout', 25);
    expect(grace).toBeGreaterThan(0); // endpoint removal needs time to reach the load balancers
    expect(grace + drain).toBeLessThan(pod.terminationGracePeriodSeconds);
  });

  it('exposes a LoadBalancer Service with fixed NodePorts, a PDB and the portico IngressClass, all selecting the pods', () => {
    const deployment = findManifest('Deployment', 'portico');
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    const service = findManifest('Service', 'portico');
    expect(service.spec.type).toBe('LoadBalancer');
    expect(service.spec.ports.every((p: { nodePort?: number }) => typeof p.nodePort === 'number')).toBe(true);
    expect(selects(service.spec.selector)).toBe(true);
    const pdb = findManifest('PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    expect(findManifest('IngressClass', 'portico').spec).toEqual({ controller: 'portico.dev/ingress-controller' });
    const namespaced = allManifests().filter((m) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'IngressClass'].includes(m.kind));
    expect(new Set(namespaced.map((m) => m.metadata.namespace))).toEqual(new Set([findManifest('Namespace').metadata.name]));
  });

  it('bounds the V8 young generation (NODE_OPTIONS in the Deployment and the image), and Node honours it', async () => {
    const env = findManifest('Deployment').spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    const nodeOptions = env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
    expect(nodeOptions).toMatch(/--max-semi-space-size=4\b/);
    expect(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8')).toMatch(/^ENV NODE_OPTIONS=--max-semi-space-size=4$/m);
    // Allocate short-lived garbage and report the largest new space V8 committed, MiB.
    const script = `const v8=require('node:v8');let m=0,k=[];for(let i=0;i<200000;i++){k.push({a:i,b:'x'+i});if(k.length>5000)k=[];if(i%1000===0)m=Math.max(m,v8.getHeapSpaceStatistics().find((s)=>s.space_name==='new_space').space_size)}console.log(m/1048576)`;
    const { stdout } = await run(process.execPath, ['-e', script], { env: { ...process.env, NODE_OPTIONS: nodeOptions } });
    expect(Number(stdout.trim())).toBeLessThanOrEqual(8);
  });

  it('caps glibc malloc arenas (MALLOC_ARENA_MAX=2 in the Deployment and the image: glibc reads it only at start)', () => {
    const env = findManifest('Deployment').spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    expect(env.find((e) => e.name === 'MALLOC_ARENA_MAX')?.value).toBe('2');
    expect(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8')).toMatch(/^ENV MALLOC_ARENA_MAX=2$/m);
  });

  it('has a Dockerfile on node:24 that runs the controller as non-root', () => {
    const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThan(0);
    expect(froms.every((image) => /^node:24(-|$)/.test(image!))).toBe(true);
    // The image builds what `npm run build` builds (tsc and the CNI plugin bundle), not a subset.
    expect(dockerfile).toMatch(/^RUN npm run build\b/m);
    expect(dockerfile).toMatch(/^COPY scripts \.\/scripts$/m);
    const user = /^USER (\S+)/m.exec(dockerfile)?.[1];
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "dist\/cmd\/portico\.js"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["controller"\]$/m);
    const deployment = findManifest('Deployment', 'portico');
    expect(String(deployment.spec.template.spec.securityContext.runAsUser)).toBe(user!.split(':')[0]);
  });
});
