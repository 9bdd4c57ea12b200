// The one file `portico cni install` ships: dist/portico-cni.bundle.mjs, built by esbuild in
// `npm run build` (npm test builds first).
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
// @ts-expect-error: a plain .mjs build script without types
import { bundleCniPlugin, CNI_BUNDLE } from '../../scripts/bundle-cni.mjs';

describe('portico-cni bundle (esbuild build step)', () => {
  it('imports nothing but node: built-ins', async () => {
    const text = await readFile(CNI_BUNDLE as string, 'utf8');
    const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((m) => m[1]!);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !s.startsWith('node:'))).toEqual([]);
  });

  it('runs on its own: VERSION answers the supported CNI versions', () => {
    const result = spawnSync(process.execPath, [CNI_BUNDLE as string], { env: { CNI_COMMAND: 'VERSION' }, input: '{}', encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ cniVersion: '1.1.0', supportedVersions: expect.arrayContaining(['0.3.1', '1.1.0']) });
  });

  it('fails the build when the plugin imports a package', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pcni-bundle-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'entry.js'), "import { pino } from 'pino';\nexport const log = pino;\n");
    await expect((bundleCniPlugin as (entry: string, out: string) => Promise<void>)(join(dir, 'entry.js'), join(dir, 'out.mjs'))).rejects.toThrow(/imports package "pino"/);
  });
});
