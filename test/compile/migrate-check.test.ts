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
    expect(report.configMaps).toEqual([{ name: 'ingress-nginx/ingress-nginx-controller', keys: [expect.objectContaining({ annotation: 'proxy-body-size', verdict: 'ignored' })] }]);
    expect(report.changesBehaviour).toBe(true);
  });

  it('nothing to change: changesBehaviour false; --snippet-annotations=ignore turns refused into ignored', () => {
    expect(buildMigrationReport({ ingresses: fixture('clean.yaml'), configMaps: [] }).changesBehaviour).toBe(false);
    const ignoring = buildMigrationReport({ ingresses: fixture('apps.yaml'), configMaps: [] }, { snippetAnnotations: 'ignore' });
    expect(ignoring.ingresses.flatMap((i) => i.annotations).find((a) => a.annotation.endsWith('configuration-snippet'))!.verdict).toBe('ignored');
  });
});
