import { describe, expect, it } from 'vitest';
import type { Ingress, Service } from '../../src/model/k8s-objects.js';
import { ObjectStore, type StoreChange } from '../../src/store/object-store.js';

const svc = (port: number, resourceVersion = '1'): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'shop', resourceVersion },
  spec: { ports: [{ port }] },
});

describe('ObjectStore', () => {
  it('stores by kind and namespace/name and notifies on change', () => {
    const store = new ObjectStore();
    const changes: StoreChange[] = [];
    store.subscribe((change) => changes.push(change));
    expect(store.upsert(svc(80))).toBe(true);
    expect(store.snapshot().services.get('shop/web')?.spec?.ports?.[0]?.port).toBe(80);
    expect(store.remove('Service', 'shop/web')).toBe(true);
    expect(store.remove('Service', 'shop/web')).toBe(false);
    expect(changes).toEqual([
      { kind: 'Service', key: 'shop/web', type: 'upsert' },
      { kind: 'Service', key: 'shop/web', type: 'delete' },
    ]);
  });

  it('drops updates that change nothing but resourceVersion', () => {
    const store = new ObjectStore();
    let count = 0;
    store.subscribe(() => count++);
    store.upsert(svc(80, '1'));
    expect(store.upsert(svc(80, '2'))).toBe(false);
    expect(store.upsert(svc(81, '3'))).toBe(true);
    expect(count).toBe(2);
  });

  it('ignores Ingress status updates (we write status ourselves)', () => {
    const store = new ObjectStore();
    const ingress: Ingress = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'a', namespace: 'x' }, spec: {} };
    store.upsert(ingress);
    expect(store.upsert({ ...ingress, status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } })).toBe(false);
    expect(store.upsert({ ...ingress, spec: { ingressClassName: 'portico' } })).toBe(true);
  });

  it('keys cluster-scoped kinds by name alone', () => {
    const store = new ObjectStore();
    store.upsert({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' } });
    expect(store.keys('IngressClass')).toEqual(['portico']);
  });
});
