import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMigrationReport } from '../../src/compile/migrate-check.js';
import type { Ingress } from '../../src/model/k8s-objects.js';
import { parseManifest } from '../../src/source/parse-manifest.js';

const fixture = (name: string) => {
  const file = join(import.meta.dirname, '..', 'fixtures', 'migrate', name);
  return parseManifest(readFileSync(file, 'utf8'), name).objects.filter((o): o is Ingress => o.kind === 'Ingress');
};

describe('migrate-check report', () => {
  it('gives every nginx annotation a verdict: supported, different (with what differs), invalid (why), ignored, refused', () => {
    const report = buildMigrationReport({ ingresses: fixture('apps.yaml'), configMaps: [{ name: 'ingress-nginx/ingress-nginx-controller', data: { 'proxy-body-size': '16m' } }, { name: 'shop/unrelated', data: { x: '1' } }] });
    const verdicts = Object.fromEntries(report.ingresses.map((i) => [i.ingress, Object.fromEntries(i.annotations.map((a) => [a.annotation.replace('nginx.ingress.kubernetes.io/', ''), a.verdict]))]));
    expect(verdicts).toEqual({
      'default/rewrite': { 'rewrite-target': 'different', 'use-regex': 'different' },
      'shop/api': { 'cors-allow-origin': 'supported', 'enable-cors': 'supported', 'limit-rps': 'different', 'proxy-body-size': 'different', 'mirror-target': 'different', 'proxy-buffer-size': 'different', 'upstream-hash-by': 'different', satisfy: 'ignored' },
      'shop/legacy': { 'configuration-snippet': 'refused', 'permanent-redirect': 'different', 'permanent-redirect-code': 'invalid' },
    });
    expect(report.ingresses.find((i) => i.ingress === 'shop/legacy')!.annotations.find((a) => a.verdict === 'invalid')!.note).toContain('from 300 to 308');
    expect(report.ingresses.map((i) => i.className)).toEqual(['nginx', 'nginx', 'nginx']);
    expect(report.configMaps).toEqual([{ name: 'ingress-nginx/ingress-nginx-controller', keys: [expect.objectContaining({ annotation: 'proxy-body-size', verdict: 'different' })] }]);
    expect(report.changesBehaviour).toBe(true);
  });

  it('proxy-ssl-*: supported with differences; verify on without proxy-ssl-secret, or a bad value, is invalid (the routes answer 502)', () => {
    const ing = (name: string, annotations: Record<string, string>): Ingress => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'shop', annotations: { 'nginx.ingress.kubernetes.io/backend-protocol': 'HTTPS', ...annotations } }, spec: { ingressClassName: 'nginx' } });
    const A = 'nginx.ingress.kubernetes.io/';
    const report = buildMigrationReport({
      ingresses: [
        ing('verify', { [`${A}proxy-ssl-verify`]: 'on', [`${A}proxy-ssl-secret`]: 'shop/ca', [`${A}proxy-ssl-verify-depth`]: '2', [`${A}proxy-ssl-protocols`]: 'TLSv1.3', [`${A}proxy-ssl-ciphers`]: 'HIGH', [`${A}proxy-ssl-name`]: 'api.internal' }),
        ing('nosecret', { [`${A}proxy-ssl-verify`]: 'on' }),
        ing('bad', { [`${A}proxy-ssl-verify`]: 'maybe' }),
      ],
      configMaps: [],
    });
    const verdicts = Object.fromEntries(report.ingresses.map((i) => [i.ingress, Object.fromEntries(i.annotations.map((a) => [a.annotation.slice(A.length), a.verdict]))]));
    expect(verdicts).toEqual({
      'shop/bad': { 'backend-protocol': 'different', 'proxy-ssl-verify': 'invalid' },
      'shop/nosecret': { 'backend-protocol': 'different', 'proxy-ssl-verify': 'invalid' },
      'shop/verify': { 'backend-protocol': 'different', 'proxy-ssl-ciphers': 'different', 'proxy-ssl-name': 'supported', 'proxy-ssl-protocols': 'different', 'proxy-ssl-secret': 'different', 'proxy-ssl-verify': 'different', 'proxy-ssl-verify-depth': 'different' },
    });
    expect(report.changesBehaviour).toBe(true);
  });

  it('gives every key of the ingress-nginx ConfigMap a verdict, as portico controller --configmap reads it', () => {
    const data = {
      'ssl-redirect': 'false',
      hsts: 'true',
      'hsts-max-age': 'a year',
      'proxy-read-timeout': '120',
      'use-forwarded-headers': 'true',
      'compute-full-forwarded-for': 'false',
      'allow-snippet-annotations': 'true',
      'custom-http-errors': '404,503',
      'worker-processes': '4',
    };
    const report = buildMigrationReport({ ingresses: [], configMaps: [{ name: 'ingress-nginx/ingress-nginx-controller', data }] });
    const verdicts = Object.fromEntries(report.configMaps[0]!.keys.map((k) => [k.annotation, k.verdict]));
    expect(verdicts).toEqual({
      'allow-snippet-annotations': 'different',
      'compute-full-forwarded-for': 'supported',
      'custom-http-errors': 'different',
      hsts: 'supported',
      'hsts-max-age': 'invalid',
      'proxy-read-timeout': 'different',
      'ssl-redirect': 'supported',
      'use-forwarded-headers': 'different',
      'worker-processes': 'ignored',
    });
    expect(report.configMaps[0]!.keys.find((k) => k.annotation === 'hsts-max-age')!.note).toContain('"a year"');
    expect(report.changesBehaviour).toBe(true);
    const clean = buildMigrationReport({ ingresses: [], configMaps: [{ name: 'ingress-nginx/ingress-nginx-controller', data: { 'ssl-redirect': 'false', 'hsts-preload': 'true' } }] });
    expect(clean.changesBehaviour).toBe(false);
    // --configmap names it whatever its name; then only that one is reported.
    const named = buildMigrationReport({ ingresses: [], configMaps: [{ name: 'edge/settings', data: { 'worker-processes': '4' } }, { name: 'ingress-nginx/ingress-nginx-controller', data: {} }] }, { configMap: 'edge/settings' });
    expect(named.configMaps).toEqual([{ name: 'edge/settings', keys: [expect.objectContaining({ annotation: 'worker-processes', verdict: 'ignored' })] }]);
  });

  it('nothing to change: changesBehaviour false; --snippet-annotations=ignore turns refused into ignored', () => {
    expect(buildMigrationReport({ ingresses: fixture('clean.yaml'), configMaps: [] }).changesBehaviour).toBe(false);
    const ignoring = buildMigrationReport({ ingresses: fixture('apps.yaml'), configMaps: [] }, { snippetAnnotations: 'ignore' });
    expect(ignoring.ingresses.flatMap((i) => i.annotations).find((a) => a.annotation.endsWith('configuration-snippet'))!.verdict).toBe('ignored');
  });
});
