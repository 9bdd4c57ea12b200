import { mkdtemp, rm, unlink, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManifestSource } from '../../src/source/manifest-source.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { captureLogger } from '../helpers/capture-logger.js';

const service = (name: string, port = 80) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: shop }\nspec:\n  ports: [{ port: ${port} }]\n`;

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('ManifestSource', () => {
  let dir: string;
  let source: ManifestSource | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-manifests-'));
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function start() {
    const store = new ObjectStore();
    const log = captureLogger();
    source = new ManifestSource({ dir, store, logger: log.logger });
    await source.start();
    return { store, log };
  }

  it('loads *.yaml, *.yml and *.json and ignores other and hidden files', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await writeFile(join(dir, 'b.yml'), service('b'));
    await writeFile(join(dir, 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'c', namespace: 'shop' } }));
    await writeFile(join(dir, 'd.txt'), service('d'));
    await writeFile(join(dir, '.e.yaml'), service('e'));
    const { store } = await start();
    expect(store.keys('Service').sort()).toEqual(['shop/a', 'shop/b', 'shop/c']);
  });

  it('applies creates, updates and deletes from the watched directory', async () => {
    const { store } = await start();
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    await until(() => store.get('Service', 'shop/a') !== undefined);
    await writeFile(join(dir, 'a.yaml'), service('a', 81));
    await until(() => (store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port ?? 0) === 81);
    // Editors save by writing a temp file and renaming it over the original.
    await writeFile(join(dir, '.a.yaml.swp'), service('a', 82));
    await rename(join(dir, '.a.yaml.swp'), join(dir, 'a.yaml'));
    await until(() => (store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port ?? 0) === 82);
    await unlink(join(dir, 'a.yaml'));
    await until(() => store.get('Service', 'shop/a') === undefined);
  });

  it('keeps the last good objects of a file that stops parsing, and names the file', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await writeFile(join(dir, 'b.yaml'), service('b'));
    const { store, log } = await start();
    await writeFile(join(dir, 'a.yaml'), 'kind: Service\nmetadata: {name: [\n');
    await writeFile(join(dir, 'b.yaml'), service('b2'));
    await until(() => store.get('Service', 'shop/b2') !== undefined);
    const line = await log.waitFor((l) => l.code === 'PORTICO_ERR_MANIFEST_PARSE');
    expect(line).toMatchObject({ level: 'error', file: 'a.yaml', keptObjects: 1 });
    expect(String(line.reason)).toMatch(/^a\.yaml:\d+:\d+: /);
    expect(store.get('Service', 'shop/a')).toBeDefined();
    expect(store.get('Service', 'shop/b')).toBeUndefined();
  });

  it('skips an invalid object with a log line naming file, object and field; the rest loads', async () => {
    await writeFile(
      join(dir, 'mixed.yaml'),
      `${service('good')}---\napiVersion: v1\nkind: Service\nmetadata: { name: bad, namespace: shop }\nspec: { ports: [{ name: http }] }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\n`,
    );
    const { store, log } = await start();
    expect(store.keys('Service')).toEqual(['shop/good']);
    const invalid = log.lines.find((l) => l.code === 'PORTICO_ERR_MANIFEST_INVALID');
    expect(invalid).toMatchObject({ file: 'mixed.yaml', where: 'mixed.yaml#2 (Service shop/bad)', reason: 'Service.spec.ports[0].port is required' });
    expect(log.lines.find((l) => l.code === 'PORTICO_ERR_MANIFEST_KIND')).toMatchObject({ file: 'mixed.yaml', where: 'mixed.yaml#3 (ConfigMap cm)' });
  });

  it('reports an object defined twice and keeps the first file (by name)', async () => {
    await writeFile(join(dir, 'a.yaml'), service('dup', 80));
    await writeFile(join(dir, 'b.yaml'), service('dup', 81));
    const { store, log } = await start();
    expect(store.snapshot().services.get('shop/dup')?.spec?.ports?.[0]?.port).toBe(80);
    expect(log.lines.find((l) => l.code === 'PORTICO_ERR_MANIFEST_DUPLICATE')).toMatchObject({ file: 'b.yaml', keptFrom: 'a.yaml' });
    // Removing the winner promotes the other definition.
    await unlink(join(dir, 'a.yaml'));
    await until(() => store.snapshot().services.get('shop/dup')?.spec?.ports?.[0]?.port === 81);
  });

  it('fails to start with PORTICO_ERR_MANIFEST_READ when the directory is missing', async () => {
    const store = new ObjectStore();
    const bad = new ManifestSource({ dir: join(dir, 'nope'), store, logger: captureLogger().logger });
    await expect(bad.start()).rejects.toMatchObject({ code: 'PORTICO_ERR_MANIFEST_READ', message: expect.stringContaining('nope') });
  });
});
