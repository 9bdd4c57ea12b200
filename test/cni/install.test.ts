import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installConflist, installPlugin } from '../../src/cni/install.js';

const dist = join(import.meta.dirname, '..', '..', 'dist');

describe.skipIf(!existsSync(join(dist, 'cmd', 'portico-cni.js')))('installPlugin (needs dist/, built by npm test)', () => {
  let dir: string;
  let fakeNode: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcni-install-'));
    // A stand-in for the Node binary that shows how the launcher calls it.
    fakeNode = join(dir, 'fake-node');
    await writeFile(fakeNode, '#!/bin/sh\necho "node $*"\n');
    await chmod(fakeNode, 0o755);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const install = (binDir: string, nodeVersion = 'v24.0.0') => installPlugin({ binDir, appDir: dist, nodeBinary: fakeNode, nodeVersion, log: () => {} });

  it('writes the launcher, the runtime and the bundle, and is idempotent', async () => {
    const binDir = join(dir, 'bin');
    const first = await install(binDir);
    expect(first.changed).toBe(true);
    expect((await stat(first.launcher)).mode & 0o777).toBe(0o755);
    expect((await readdir(first.versionDir)).sort()).toEqual(['.complete', 'node', 'portico-cni.mjs']);
    expect(await readFile(join(first.versionDir, 'portico-cni.mjs'), 'utf8')).toBe(await readFile(join(dist, 'portico-cni.bundle.mjs'), 'utf8')); // the build's esbuild bundle, as is
    const out = execFileSync(first.launcher, ['a', 'b'], { env: {}, encoding: 'utf8' });
    expect(out).toBe(`node ${join(first.versionDir, 'portico-cni.mjs')} a b\n`);
    const second = await install(binDir);
    expect(second).toEqual({ ...first, changed: false });
  });

  it('keeps the current and the previous version on upgrades', async () => {
    const binDir = join(dir, 'bin');
    const versions = [];
    for (const v of ['v24.0.0', 'v24.0.1', 'v24.0.2']) versions.push((await install(binDir, v)).versionDir);
    const kept = (await readdir(join(binDir, '.portico-cni'))).sort();
    expect(kept).toEqual([versions[1]!, versions[2]!].map((p) => p.split('/').pop()!).sort());
    expect(await readFile(join(binDir, 'portico-cni'), 'utf8')).toContain(versions[2]!.split('/').pop()!);
  });

  it('installs a conflist atomically and only when it changed', async () => {
    const logs: string[] = [];
    const confDir = join(dir, 'net.d');
    await installConflist({ confDir, fileName: '10-portico.conflist', content: '{"a":1}\n', log: (m) => logs.push(m) });
    await installConflist({ confDir, fileName: '10-portico.conflist', content: '{"a":1}\n', log: (m) => logs.push(m) });
    expect(logs).toHaveLength(1);
    expect(await readdir(confDir)).toEqual(['10-portico.conflist']);
  });
});
