// The compiler's table tests again, end to end: manifests on disk → controller → proxy → echo pods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, ingress, rule } from '../helpers/objects.js';
import { closePods, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { HOST_EXAMPLES, hostExampleMatchIndex, hostExampleRules, hostExampleService } from '../helpers/host-examples.js';
import { PATH_EXAMPLES } from '../helpers/path-examples.js';

describe('Kubernetes path examples through the proxy', () => {
  let harness: Harness;
  let pods: EchoPod[][];
  const maxPaths = Math.max(...PATH_EXAMPLES.map((example) => example.paths.length));

  beforeAll(async () => {
    // One Service per path position; each row gets its own host, so the pod that answers tells
    // which of the row's paths matched. Unmatched requests fall through to the defaultBackend.
    pods = [];
    for (let j = 0; j < maxPaths; j++) pods.push(await startEchoPods(`path-${j}`, 1));
    pods.push(await startEchoPods('fallback', 1));
    const objects = [
      PORTICO_CLASS,
      ...pods.flatMap((group, j) => serviceFor(`paths/${j < maxPaths ? `path-${j}` : 'fallback'}`, group)),
      ingress('paths/fallback', { className: 'portico', defaultBackend: backend('fallback', 80) }),
      ...PATH_EXAMPLES.map((example, i) =>
        ingress(`paths/row-${i}`, {
          className: 'portico',
          rules: [
            rule(`row-${i}.paths.test`, example.paths.map((p, j) => ({ path: p.path, pathType: p.pathType, backend: backend(`path-${j}`, 80) }))),
          ],
        }),
      ),
    ];
    harness = await startHarness({ 'paths.yaml': objects });
  });
  afterAll(async () => {
    await harness.close();
    await closePods(pods.flat());
  });

  it.each(PATH_EXAMPLES.map((example, i) => [example.name, example, i] as const))('%s', async (_name, example, i) => {
    const res = await harness.get(`row-${i}.paths.test`, `${example.request}?q=1`);
    expect(res.status).toBe(200);
    const index = example.paths.findIndex((p) => p.path === example.match && (example.matchType === undefined || p.pathType === example.matchType));
    expect(res.json?.pod).toBe(example.match === undefined ? 'fallback-0' : `path-${index}-0`);
    expect(res.json?.path).toBe(`${example.request}?q=1`);
  });
});

describe('host examples through the proxy', () => {
  let pods: EchoPod[];
  beforeAll(async () => {
    const services = Math.max(...HOST_EXAMPLES.map((example) => example.hosts.length));
    pods = [];
    for (let i = 0; i < services; i++) pods.push(...(await startEchoPods(hostExampleService(i), 1)));
  });
  afterAll(() => closePods(pods));

  it.each(HOST_EXAMPLES.map((example) => [example.name, example] as const))('%s', async (_name, example) => {
    const harness = await startHarness({
      'hosts.yaml': [
        PORTICO_CLASS,
        ...pods.flatMap((pod, i) => serviceFor(`hosts/${hostExampleService(i)}`, [pod])),
        ingress('hosts/example', { className: 'portico', rules: hostExampleRules(example) }),
      ],
    });
    try {
      const res = await harness.get(example.request, '/');
      const index = hostExampleMatchIndex(example);
      if (index < 0) {
        // The engine refuses a Host that is not a uri-host (an empty label, `.foo.com`) with 400 before routing.
        expect(res.status).toBe(example.request.startsWith('.') ? 400 : 404);
      } else {
        expect(res.status).toBe(200);
        expect(res.json?.service).toBe(hostExampleService(index));
        expect(res.json?.host).toBe(example.request); // Host passes through unchanged
      }
    } finally {
      await harness.close();
    }
  });
});
