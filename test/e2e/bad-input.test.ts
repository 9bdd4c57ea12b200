import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpPath, ingress, prefix, rule } from '../helpers/objects.js';
import { closePods, PORTICO_CLASS, serviceFor, startEchoPods, startHarness, type EchoPod, type Harness } from '../helpers/e2e.js';
import { eventually } from '../helpers/http.js';

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(3000, () => socket.destroy());
  });
}

describe('bad input is isolated', () => {
  let harness: Harness;
  let pods: EchoPod[];

  beforeAll(async () => {
    pods = await startEchoPods('web', 1);
    harness = await startHarness({
      '00-class.yaml': [PORTICO_CLASS, ...serviceFor('shop/web', pods)],
      'web.yaml': [
        ingress('shop/web', {
          className: 'portico',
          rules: [
            rule('shop.example.com', [
              prefix('/good', 'web', 80),
              httpPath('/bad//path', 'Prefix', 'web', 80),
              httpPath('/secret/../admin', 'Prefix', 'web', 80),
              httpPath('/enc%2Fpath', 'Prefix', 'web', 80),
              httpPath('relative', 'Prefix', 'web', 80),
              httpPath('/no-type', undefined, 'web', 80),
              httpPath('/odd-type', 'Regex', 'web', 80),
              prefix('/also-good', 'web', 80),
            ]),
          ],
        }),
      ],
    });
  });
  afterAll(async () => {
    await harness.close();
    await closePods(pods);
  });

  it('rejects each invalid path with a diagnostic while the valid paths of the Ingress serve', async () => {
    expect((await harness.get('shop.example.com', '/good')).status).toBe(200);
    expect((await harness.get('shop.example.com', '/also-good/x')).status).toBe(200);
    for (const path of ['/bad//path', '/no-type', '/odd-type']) {
      expect((await harness.get('shop.example.com', path)).status).toBe(404);
    }
    const diagnostics = harness.log.lines.filter((line) => String(line.code).startsWith('PORTICO_ERR_INGRESS_PATH'));
    expect(diagnostics.map((line) => [line.code, line.field])).toEqual(
      expect.arrayContaining([
        ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[1].path'],
        ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[2].path'],
        ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[3].path'],
        ['PORTICO_ERR_INGRESS_PATH_INVALID', 'spec.rules[0].http.paths[4].path'],
        ['PORTICO_ERR_INGRESS_PATH_TYPE', 'spec.rules[0].http.paths[5].pathType'],
        ['PORTICO_ERR_INGRESS_PATH_TYPE', 'spec.rules[0].http.paths[6].pathType'],
      ]),
    );
    for (const line of diagnostics) expect(line.object).toBe('Ingress shop/web');
  });

  it('reports an unparsable file, keeps its last good objects and keeps serving everything else', async () => {
    await harness.write('web.yaml', 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web\n  namespace: [shop\n');
    const line = await harness.log.waitFor((l) => l.code === 'PORTICO_ERR_MANIFEST_PARSE' && l.file === 'web.yaml');
    expect(String(line.reason)).toMatch(/^web\.yaml:\d+:\d+/);
    expect((await harness.get('shop.example.com', '/good')).status).toBe(200);
  });

  it('skips an object of unknown kind or with missing fields, naming the file; the rest of the file serves', async () => {
    await harness.write(
      'more.yaml',
      [
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d, namespace: shop }\n',
        'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { namespace: shop }\nspec: { rules: [] }\n',
        'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: more, namespace: shop }\nspec:\n  ingressClassName: portico\n  rules:\n    - host: more.example.com\n      http: { paths: [ { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } } ] }\n',
      ].join('---\n'),
    );
    await eventually(async () => (await harness.get('more.example.com', '/')).status === 200, 2000, 'more.example.com served');
    expect(harness.log.lines.find((l) => l.code === 'PORTICO_ERR_MANIFEST_KIND')).toMatchObject({ file: 'more.yaml', where: 'more.yaml#1 (Deployment shop/d)' });
    expect(harness.log.lines.find((l) => l.code === 'PORTICO_ERR_MANIFEST_INVALID')).toMatchObject({
      file: 'more.yaml',
      where: 'more.yaml#2 (Ingress shop/?)',
      reason: 'Ingress.metadata.name is required',
    });
    expect((await harness.get('shop.example.com', '/good')).status).toBe(200);
  });

  it('answers malformed HTTP with 400 and oversized headers with 431, and keeps serving', async () => {
    const garbage = await rawRequest(harness.port, 'THIS IS NOT HTTP\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    const badHeader = await rawRequest(harness.port, 'GET / HTTP/1.1\r\nHost: shop.example.com\r\nBad Header: x\r\n\r\n');
    expect(badHeader).toMatch(/^HTTP\/1\.1 400 /);
    const huge = await rawRequest(harness.port, `GET /good HTTP/1.1\r\nHost: shop.example.com\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    const noHost = await rawRequest(harness.port, 'GET /good HTTP/1.1\r\n\r\n');
    expect(noHost).toMatch(/^HTTP\/1\.1 400 /);
    expect((await harness.get('shop.example.com', '/good')).status).toBe(200);
  });
});
