import { afterEach, describe, expect, it } from 'vitest';
import { EventRecorder, eventForDiagnostic, reasonForCode } from '../../src/k8s/event-recorder.js';
import { KubeClient } from '../../src/k8s/kube-client.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import type { Diagnostic } from '../../src/model/route-model.js';
import { FakeApiServer } from './fake-api-server.js';

const badPath: Diagnostic = {
  severity: 'error',
  code: 'PORTICO_ERR_INGRESS_PATH_INVALID',
  object: { kind: 'Ingress', namespace: 'default', name: 'web' },
  field: 'spec.rules[0].http.paths[0].path',
  message: 'path "a//b" contains //',
};
const missingService: Diagnostic = {
  severity: 'warning',
  code: 'PORTICO_ERR_BACKEND_SERVICE_MISSING',
  object: { kind: 'Ingress', namespace: 'default', name: 'web' },
  message: 'Service default/nope does not exist',
};

describe('EventRecorder', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(options: { burst?: number } = {}) {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    let clock = Date.parse('2025-01-01T00:00:00Z');
    const recorder = new EventRecorder({
      client: new KubeClient(api.kubeConfig()),
      logger: createSilentLogger(),
      instance: 'portico-abc',
      lookupObject: (o) => (o.name === 'web' ? { uid: 'uid-web', resourceVersion: '7' } : undefined),
      now: () => clock,
      ...options,
    });
    return { api, recorder, tick: (ms: number) => (clock += ms) };
  }

  it('derives the reason from the code and puts field and code in the message', () => {
    expect(reasonForCode('PORTICO_ERR_INGRESS_PATH_INVALID')).toBe('IngressPathInvalid');
    expect(eventForDiagnostic(badPath)).toEqual({
      type: 'Warning',
      reason: 'IngressPathInvalid',
      message: 'spec.rules[0].http.paths[0].path: path "a//b" contains // (PORTICO_ERR_INGRESS_PATH_INVALID)',
    });
  });

  it('creates one core/v1 Event per problem, with the involved object kubectl describe looks for', async () => {
    const { api, recorder } = await setup();
    recorder.recordDiagnostics([badPath, missingService]);
    await recorder.flush();
    const events = api.list('Event', 'default');
    expect(events).toHaveLength(2);
    expect(events.find((e) => e.reason === 'IngressPathInvalid')).toMatchObject({
      type: 'Warning',
      count: 1,
      involvedObject: { kind: 'Ingress', namespace: 'default', name: 'web', uid: 'uid-web', apiVersion: 'networking.k8s.io/v1', resourceVersion: '7' },
      source: { component: 'portico-controller', host: 'portico-abc' },
      reportingComponent: 'portico-controller',
      firstTimestamp: '2025-01-01T00:00:00Z',
    });
    expect(api.requests.every((r) => r.resource === 'events' && r.verb === 'create')).toBe(true);
  });

  it('records nothing for unchanged diagnostics, and bumps count when a problem comes back', async () => {
    const { api, recorder, tick } = await setup();
    recorder.recordDiagnostics([badPath]);
    recorder.recordDiagnostics([badPath]);
    await recorder.flush();
    expect(api.requests).toHaveLength(1);
    recorder.recordDiagnostics([]);
    tick(60_000);
    recorder.recordDiagnostics([badPath]);
    await recorder.flush();
    const events = api.list('Event', 'default');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ count: 2, firstTimestamp: '2025-01-01T00:00:00Z', lastTimestamp: '2025-01-01T00:01:00Z' });
    expect(api.requests.map((r) => r.verb)).toEqual(['create', 'patch']);
  });

  it('creates a new Event when the old one expired', async () => {
    const { api, recorder } = await setup();
    recorder.record(badPath.object, { type: 'Warning', reason: 'X', message: 'm' });
    await recorder.flush();
    api.delete('Event', `default/${api.list('Event')[0]!.metadata.name}`);
    recorder.record(badPath.object, { type: 'Warning', reason: 'X', message: 'm' });
    await recorder.flush();
    expect(api.list('Event')).toHaveLength(1);
    expect(recorder.stats.created).toBe(2);
  });

  it('rate-limits per object with a token bucket', async () => {
    const { api, recorder, tick } = await setup({ burst: 3 });
    for (let i = 0; i < 5; i++) recorder.record(badPath.object, { type: 'Warning', reason: 'R', message: `m${i}` });
    recorder.record({ kind: 'Ingress', namespace: 'default', name: 'other' }, { type: 'Warning', reason: 'R', message: 'x' });
    await recorder.flush();
    expect(api.list('Event')).toHaveLength(4);
    expect(recorder.stats.dropped).toBe(2);
    tick(300_000); // one token back
    recorder.record(badPath.object, { type: 'Warning', reason: 'R', message: 'later' });
    await recorder.flush();
    expect(api.list('Event')).toHaveLength(5);
  });

  it('records only while enabled (the leader), catching up on enable', async () => {
    const { api, recorder } = await setup();
    recorder.setEnabled(false);
    recorder.recordDiagnostics([badPath]);
    await recorder.flush();
    expect(api.list('Event')).toHaveLength(0);
    recorder.setEnabled(true);
    recorder.recordDiagnostics([badPath]);
    await recorder.flush();
    expect(api.list('Event')).toHaveLength(1);
  });

  it('never throws when the API fails, and puts cluster-scoped objects in default', async () => {
    const { api, recorder } = await setup();
    api.failNext(1);
    recorder.record(badPath.object, { type: 'Warning', reason: 'X', message: 'm' });
    recorder.record({ kind: 'IngressClass', name: 'portico' }, { type: 'Normal', reason: 'Y', message: 'n' });
    await recorder.flush();
    expect(recorder.stats.failed).toBe(1);
    expect(api.list('Event', 'default').map((e) => e.involvedObject)).toEqual([{ kind: 'IngressClass', name: 'portico', apiVersion: 'networking.k8s.io/v1' }]);
  });
});
