import { describe, expect, it } from 'vitest';
import { PorticoError } from '../../src/lib/errors.js';
import { parseManifest, renderCodeFrame } from '../../src/source/parse-manifest.js';

const service = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  ports: [{ name: http, port: 80 }]
`;

describe('parseManifest', () => {
  it('reads multi-document YAML and fills the default namespace', () => {
    const text = `${service}---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: { name: portico }\nspec: { controller: portico.dev/ingress-controller }\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: s }\ntype: kubernetes.io/tls\nstringData: { tls.crt: abc }\n---\n`;
    const { objects, problems } = parseManifest(text, 'a.yaml');
    expect(problems).toEqual([]);
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`)).toEqual([
      'Service shop/web',
      'IngressClass -/portico',
      'Secret default/s',
    ]);
    const secret = objects[2];
    expect(secret?.kind === 'Secret' && secret.data).toEqual({ 'tls.crt': Buffer.from('abc').toString('base64') });
  });

  it('reads JSON files and unwraps kind: List', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' } }, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' } }] };
    const { objects } = parseManifest(JSON.stringify(list), 'list.json');
    expect(objects.map((o) => o.metadata.name)).toEqual(['a', 'b']);
  });

  it('throws PORTICO_ERR_MANIFEST_PARSE with file and line for a YAML syntax error', () => {
    const broken = `${service}---\nkind: Ingress\nmetadata: {name: x\n  bad: [\n`;
    let caught: unknown;
    try {
      parseManifest(broken, 'broken.yaml');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PorticoError);
    expect((caught as PorticoError).code).toBe('PORTICO_ERR_MANIFEST_PARSE');
    expect((caught as PorticoError).message).toMatch(/^broken\.yaml:\d+:\d+: /);
  });

  it('marks, in its code frame, exactly the line and column the message names', () => {
    const text = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  name: again\nspec: {}\n';
    let message = '';
    try {
      parseManifest(text, 'dup.yaml');
    } catch (error) {
      message = (error as Error).message;
    }
    // The duplicate key is line 5 ("  name: again"), column 3.
    expect(message.split('\n')).toEqual(['dup.yaml:5:3: Map keys must be unique', '  4 |   name: web', '> 5 |   name: again', '    |   ^']);
    expect(renderCodeFrame('a\nb\n', 3, 1)).toBe('  2 | b\n> 3 | \n    | ^');
  });

  it('throws PORTICO_ERR_MANIFEST_PARSE for invalid JSON', () => {
    expect(() => parseManifest('{"kind": ', 'x.json')).toThrowError(/x\.json/);
  });

  it('skips an unknown kind and keeps the rest of the file', () => {
    const text = `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\n---\n${service}`;
    const { objects, problems } = parseManifest(text, 'mixed.yaml');
    expect(objects.map((o) => o.kind)).toEqual(['Service']);
    expect(problems).toEqual([
      { code: 'PORTICO_ERR_MANIFEST_KIND', where: 'mixed.yaml#1 (Deployment d)', message: expect.stringContaining('unsupported kind "Deployment"') },
    ]);
  });

  it('rejects a wrong apiVersion for a known kind', () => {
    const { problems } = parseManifest('apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: { name: old }\n', 'old.yaml');
    expect(problems[0]?.code).toBe('PORTICO_ERR_MANIFEST_KIND');
    expect(problems[0]?.message).toContain('networking.k8s.io/v1');
  });

  it('names every invalid field of an object and skips only that object', () => {
    const text = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { namespace: shop }
spec:
  rules:
    - host: 42
      http:
        paths:
          - path: /x
            pathType: Prefix
          - path: [1]
            backend: { service: { name: web, port: { number: eighty } } }
---
${service}`;
    const { objects, problems } = parseManifest(text, 'bad.yaml');
    expect(objects.map((o) => o.kind)).toEqual(['Service']);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.code).toBe('PORTICO_ERR_MANIFEST_INVALID');
    expect(problems[0]?.where).toBe('bad.yaml#1 (Ingress shop/?)');
    const message = problems[0]?.message ?? '';
    expect(message).toContain('Ingress.metadata.name is required');
    expect(message).toContain('Ingress.spec.rules[0].host must be a string, got number 42');
    expect(message).toContain('Ingress.spec.rules[0].http.paths[0].backend is required');
    expect(message).toContain('Ingress.spec.rules[0].http.paths[1].path must be a string, got a list');
    expect(message).toContain('Ingress.spec.rules[0].http.paths[1].backend.service.port.number must be an integer, got string "eighty"');
  });

  it('requires kind and an object document', () => {
    const { problems } = parseManifest('- a\n- b\n---\nmetadata: { name: x }\n', 'odd.yaml');
    expect(problems.map((p) => [p.code, p.message])).toEqual([
      ['PORTICO_ERR_MANIFEST_INVALID', 'the document is not an object'],
      ['PORTICO_ERR_MANIFEST_INVALID', 'kind is required'],
    ]);
  });

  it('requires addressType on EndpointSlices and defaults endpoints to an empty list', () => {
    const ok = parseManifest('apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: e }\naddressType: IPv4\n', 'e.yaml');
    expect(ok.objects[0]).toMatchObject({ kind: 'EndpointSlice', endpoints: [] });
    const bad = parseManifest('apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: e }\n', 'e.yaml');
    expect(bad.problems[0]?.message).toBe('EndpointSlice.addressType is required');
  });
});
