import { describe, expect, it } from 'vitest';
import { answerQuestion, type ZoneAnswer } from '../../src/dns/answer.js';
import { startDns } from '../../src/dns/start-dns.js';
import { DNS_API_ACCESS, isDeclaredApiCall } from '../../src/k8s/api-access.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import { FakeApiServer, type FakeRequest } from '../k8s/fake-api-server.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// portico dns over the (fake) Kubernetes API: Services, EndpointSlices and, with --pods verified,
// Pods from list+watch; every request within DNS_API_ACCESS (what deploy/dns grants); readiness
// after the first lists; a watched change reaches the zone.

describe('portico dns over the Kubernetes API', () => {
  it('serves Services and verified pods from list+watch, asking only what DNS_API_ACCESS declares', async () => {
    const requests: FakeRequest[] = [];
    const api = await FakeApiServer.start({
      authorize: (request) => {
        requests.push(request);
        return isDeclaredApiCall({ verb: request.verb, group: request.group, resource: request.resource }, {}, DNS_API_ACCESS);
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'portico-dns-k8s-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeconfigYaml());
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.96.0.50', clusterIPs: ['10.96.0.50'] } });
    api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' }, status: { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }] } });
    const dns = await startDns({ kubeconfigPath: kubeconfig, host: '127.0.0.1', port: 0, zone: 'cluster.local', ttl: 5, upstreams: [], pods: 'verified', logger: createSilentLogger() });
    try {
      const ask = (name: string) => answerQuestion(dns.zone(), { name, type: 'A' }, { ttl: 5, pods: 'verified', serial: 1 }) as ZoneAnswer;
      const until = async (check: () => boolean) => {
        for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
      };
      await until(() => dns.ready() && ask('web.shop.svc.cluster.local').answers.length > 0 && ask('10-244-1-5.shop.pod.cluster.local').answers.length > 0);
      expect(dns.ready()).toBe(true);
      expect(ask('web.shop.svc.cluster.local').answers.map((r) => (r as { data: string }).data)).toEqual(['10.96.0.50']);
      expect(ask('10-244-1-5.shop.pod.cluster.local').rcode).toBe('NOERROR');
      expect(ask('10-244-9-9.shop.pod.cluster.local').rcode).toBe('NXDOMAIN');
      api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'late', namespace: 'shop' }, spec: { clusterIP: '10.96.0.51', clusterIPs: ['10.96.0.51'] } });
      await until(() => ask('late.shop.svc.cluster.local').answers.length > 0);
      expect(ask('late.shop.svc.cluster.local').answers.map((r) => (r as { data: string }).data)).toEqual(['10.96.0.51']);
      expect([...new Set(requests.map((r) => `${r.verb} ${r.group}/${r.resource}`))].sort()).toEqual([
        'list /pods', 'list /services', 'list discovery.k8s.io/endpointslices', 'watch /pods', 'watch /services', 'watch discovery.k8s.io/endpointslices',
      ]);
    } finally {
      await dns.close();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
