import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/k8s/kube-client.js';
import { KubernetesSource } from '../../src/k8s/kubernetes-source.js';
import { StatusWriter } from '../../src/k8s/status-writer.js';
import type { Ingress } from '../../src/model/k8s-objects.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { eventually } from '../helpers/http.js';
import { ingress, ingressClass } from '../helpers/objects.js';
import { FakeApiServer } from './fake-api-server.js';

const LB = [{ ip: '203.0.113.10' }];

describe('StatusWriter', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup() {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    api.create(ingressClass('portico'));
    api.create(ingress('default/a', { className: 'portico' }));
    api.create(ingress('default/b', { className: 'portico' }));
    api.create(ingress('default/other', { className: 'nginx' }));
    const log = captureLogger('debug');
    const client = new KubeClient(api.kubeConfig());
    let writer: StatusWriter | undefined;
    const source = new KubernetesSource({
      client,
      store: new ObjectStore(),
      logger: log.logger,
      backoff: { initialMs: 10, maxMs: 50 },
      onObjectChange: (kind, key) => kind === 'Ingress' && writer?.ingressChanged(key),
    });
    writer = new StatusWriter({
      client,
      logger: log.logger,
      lookupIngress: (key) => source.lookup('Ingress', key) as Ingress | undefined,
      ingressKeys: () => source.keys('Ingress'),
      retryBackoff: { initialMs: 20, maxMs: 100 },
    });
    cleanups.push(() => source.stop());
    cleanups.push(() => writer!.stop());
    source.start();
    await source.synced;
    return { api, source, writer, log };
  }

  const statusOf = (api: FakeApiServer, key: string) =>
    (api.get('Ingress', key)?.status as Ingress['status'] | undefined)?.loadBalancer?.ingress ?? [];
  const statusWrites = (api: FakeApiServer) => api.requests.filter((r) => r.subresource === 'status').length;

  it('writes the addresses on owned Ingresses only, and only while leader', async () => {
    const { api, writer } = await setup();
    writer.update({ owned: ['default/a', 'default/b'], addresses: LB });
    await writer.idle();
    expect(statusWrites(api)).toBe(0); // not leader: nothing was even scheduled
    writer.setLeader(true);
    await eventually(async () => statusOf(api, 'default/a').length === 1 && statusOf(api, 'default/b').length === 1, 2000, 'status written');
    expect(statusOf(api, 'default/a')).toEqual(LB);
    expect(statusOf(api, 'default/other')).toEqual([]);
    await writer.idle();
    expect(statusWrites(api)).toBe(2);
    expect(api.requests.filter((r) => r.subresource === 'status').every((r) => r.verb === 'update')).toBe(true);
  });

  it('skips writes when nothing differs, even as watch events echo our own writes', async () => {
    const { api, writer } = await setup();
    writer.setLeader(true);
    writer.update({ owned: ['default/a'], addresses: LB });
    await eventually(async () => statusOf(api, 'default/a').length === 1, 2000, 'written');
    await writer.idle();
    writer.update({ owned: ['default/a'], addresses: [...LB] });
    writer.ingressChanged('default/a');
    await writer.idle(); // the pass those two scheduled has run
    expect(statusWrites(api)).toBe(1);
  });

  it('clears the status of Ingresses it stops owning, but not addresses others published', async () => {
    const { api, writer } = await setup();
    api.setStatus('Ingress', 'default/other', { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
    writer.setLeader(true);
    writer.update({ owned: ['default/a', 'default/b'], addresses: LB });
    await eventually(async () => statusOf(api, 'default/b').length === 1, 2000, 'written');
    writer.update({ owned: ['default/a'], addresses: LB }); // b switched class
    await eventually(async () => statusOf(api, 'default/b').length === 0, 2000, 'cleared');
    expect(statusOf(api, 'default/a')).toEqual(LB);
    await writer.idle();
    expect(statusOf(api, 'default/other')).toEqual([{ ip: '198.51.100.1' }]);
  });

  it('follows address changes and restores a status someone else overwrote', async () => {
    const { api, writer } = await setup();
    writer.setLeader(true);
    writer.update({ owned: ['default/a'], addresses: LB });
    await eventually(async () => statusOf(api, 'default/a').length === 1, 2000, 'written');
    writer.update({ owned: ['default/a'], addresses: [{ hostname: 'lb.example.com' }, { ip: '203.0.113.11' }] });
    await eventually(async () => statusOf(api, 'default/a').length === 2, 2000, 'new addresses');
    api.setStatus('Ingress', 'default/a', { loadBalancer: { ingress: [{ ip: '192.0.2.66' }] } });
    await eventually(async () => statusOf(api, 'default/a').length === 2, 2000, 'restored');
  });

  it('retries after conflicts and API errors', async () => {
    const { api, writer, log } = await setup();
    api.failNext(1, { status: 409, match: (r) => r.subresource === 'status' });
    api.failNext(1, { status: 500, match: (r) => r.subresource === 'status' });
    writer.setLeader(true);
    writer.update({ owned: ['default/a'], addresses: LB });
    await eventually(async () => statusOf(api, 'default/a').length === 1, 3000, 'written after retries');
    expect(writer.stats.failures).toBe(2);
    await log.waitFor((l) => l.code === 'PORTICO_ERR_K8S_STATUS_WRITE');
  });

  it('stops writing when it loses leadership', async () => {
    const { api, writer } = await setup();
    writer.setLeader(true);
    writer.update({ owned: ['default/a'], addresses: LB });
    await eventually(async () => statusOf(api, 'default/a').length === 1, 2000, 'written');
    writer.setLeader(false);
    writer.update({ owned: ['default/a', 'default/b'], addresses: LB });
    await writer.idle();
    expect(statusOf(api, 'default/b')).toEqual([]);
  });
});
