import { mkdtemp, rm, stat, unlink, utimes, writeFile, rename } from 'node:fs/promises';
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

  async function start(options: Partial<ConstructorParameters<typeof ManifestSource>[0]> = {}) {
    const store = new ObjectStore();
    const log = captureLogger();
    const removed: string[] = [];
    store.subscribe((change) => {
      if (change.type === 'delete') removed.push(`${change.kind} ${change.key}`);
    });
    source = new ManifestSource({ dir, store, logger: log.logger, ...options });
    await source.start();
    return { store, log, removed, source };
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
      `${service('good')}---\napiVersion: v1\nkind: Service\nmetadata: { name: bad, namespace: shop }\nspec: { ports: [{ name: http }] }\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n`,
    );
    const { store, log } = await start();
    expect(store.keys('Service')).toEqual(['shop/good']);
    const invalid = log.lines.find((l) => l.code === 'PORTICO_ERR_MANIFEST_INVALID');
    expect(invalid).toMatchObject({ file: 'mixed.yaml', where: 'mixed.yaml#2 (Service shop/bad)', reason: 'Service.spec.ports[0].port is required' });
    expect(log.lines.find((l) => l.code === 'PORTICO_ERR_MANIFEST_KIND')).toMatchObject({ file: 'mixed.yaml', where: 'mixed.yaml#3 (Deployment web)' });
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

  it('does not take a truncated file for an emptied one: its objects stay until the writer finishes', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    await writeFile(join(dir, 'b.yaml'), service('b', 80));
    // settleMs is long so the empty read can only be replaced by the writer's own next event.
    const { store, log, removed } = await start({ settleMs: 60_000 });
    await writeFile(join(dir, 'a.yaml'), ''); // the truncate step of an in-place rewrite
    await log.waitFor((l) => l.file === 'a.yaml' && String(l.msg).includes('still being written'));
    expect(store.get('Service', 'shop/a')).toBeDefined();
    await writeFile(join(dir, 'a.yaml'), service('a', 81));
    await until(() => store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port === 81);
    expect(removed).toEqual([]);
  });

  it('does remove the objects of a file that stays empty once it has settled', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    const { store } = await start({ settleMs: 30 });
    await writeFile(join(dir, 'a.yaml'), '');
    await until(() => store.get('Service', 'shop/a') === undefined);
  });

  it('keeps the objects of a file that is briefly missing (a delete-then-write save)', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    const { store, removed, source } = await start({ settleMs: 60_000 });
    const reads = source.stats.fileReads;
    await unlink(join(dir, 'a.yaml'));
    await until(() => source.stats.fileReads > reads); // the read that finds it missing
    await writeFile(join(dir, 'a.yaml'), service('a', 82));
    await until(() => store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port === 82);
    expect(removed).toEqual([]);
  });

  it('a full rescan (a dot-file event) re-reads only files whose stat changed', async () => {
    const past = new Date(Date.now() - 60_000);
    for (let i = 0; i < 30; i++) {
      await writeFile(join(dir, `s${i}.yaml`), service(`s${i}`));
      await utimes(join(dir, `s${i}.yaml`), past, past);
    }
    const { store, source } = await start();
    expect(source.stats.fileReads).toBe(30);
    // A ConfigMap-style swap: only dot-names change, then a new file appears through a rename.
    await writeFile(join(dir, '.staged.yaml'), service('fresh'));
    await rename(join(dir, '.staged.yaml'), join(dir, 'fresh.yaml'));
    await until(() => store.get('Service', 'shop/fresh') !== undefined);
    expect(source.stats.fileReads - 30).toBeLessThanOrEqual(3);
    expect(store.keys('Service')).toHaveLength(31);
  });

  it('a file rewritten with the same text is not parsed again; a changed one is', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    const { store, source } = await start();
    expect(source.stats.unchangedReads).toBe(0);
    const before = store.get('Service', 'shop/a');
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    await until(() => source.stats.unchangedReads === 1);
    expect(store.get('Service', 'shop/a')).toBe(before);
    await writeFile(join(dir, 'a.yaml'), service('a', 81));
    await until(() => (store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port ?? 0) === 81);
    expect(source.stats.unchangedReads).toBe(1);
    // Back to the first text: parsed again (only the latest text is remembered).
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    await until(() => (store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port ?? 0) === 80);
    expect(source.stats.unchangedReads).toBe(1);
  });

  it('a stream of events on one file cannot hold back another file\'s change (bounded debounce)', async () => {
    await writeFile(join(dir, 'noise.yaml'), service('noise'));
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    // A 200 ms quiet period would never elapse with a write every few ms; the 400 ms cap must.
    const { store } = await start({ debounceMs: 200, maxDebounceMs: 400 });
    await writeFile(join(dir, 'a.yaml'), service('a', 81));
    let noiseWrites = 0;
    while (store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port !== 81 && noiseWrites < 2000) {
      await writeFile(join(dir, 'noise.yaml'), service('noise', 80 + (noiseWrites % 2)));
      noiseWrites++;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port).toBe(81);
    expect(noiseWrites).toBeLessThan(2000);
  });

  it('does not believe a read taken moments after a write (a writer between two write() calls)', async () => {
    const full = `apiVersion: v1\nkind: Service\nmetadata: { name: a, namespace: shop }\nspec:\n  ports:\n    - port: 81\n    - port: 82\n`;
    const partial = full.slice(0, full.indexOf('    - port: 82'));
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    // The source's clock: far ahead (every file long quiet), or pinned just after a write.
    let clock = Date.now() + 60_000;
    const { store, source } = await start({ now: () => clock });
    const seen: number[][] = [];
    store.subscribe(() => seen.push((store.snapshot().services.get('shop/a')?.spec?.ports ?? []).map((p) => p.port)));
    await writeFile(join(dir, 'a.yaml'), partial); // parses: one Service, one port
    clock = (await stat(join(dir, 'a.yaml'))).mtimeMs + 1;
    await source.reload();
    expect(source.stats.readsSetAside).toBeGreaterThan(0);
    expect(store.snapshot().services.get('shop/a')?.spec?.ports?.map((p) => p.port)).toEqual([80]);
    await writeFile(join(dir, 'a.yaml'), full);
    clock = Date.now() + 60_000;
    await until(() => store.snapshot().services.get('shop/a')?.spec?.ports?.length === 2);
    expect(seen.filter((ports) => ports.length === 1 && ports[0] === 81)).toEqual([]);
  });

  it('times a shrunken file from when it was first seen, not from its mtime (a stalled writer)', async () => {
    await writeFile(join(dir, 'a.yaml'), service('a', 80));
    // The clock is far ahead of every mtime: judged by mtime, any file would look long settled.
    const { store, removed, source } = await start({ settleMs: 60_000, now: () => Date.now() + 3_600_000 });
    const reads = source.stats.fileReads;
    await writeFile(join(dir, 'a.yaml'), '');
    await until(() => source.stats.fileReads > reads);
    expect(store.get('Service', 'shop/a')).toBeDefined();
    await writeFile(join(dir, 'a.yaml'), service('a', 83));
    await until(() => store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port === 83);
    expect(removed).toEqual([]);
  });

  it('does not believe a stalled writer cut off mid-line (same objects, no final newline) until it settles', async () => {
    const full = `apiVersion: v1\nkind: Secret\nmetadata: { name: tls, namespace: shop }\ndata:\n  tls.crt: ${'QUJD'.repeat(40)}\n`;
    await writeFile(join(dir, 'a.yaml'), full.replace('QUJD', 'WFla'));
    // The clock is far ahead of every mtime: judged by mtime alone, the cut file looks finished.
    const { store, source } = await start({ settleMs: 60_000, now: () => Date.now() + 3_600_000 });
    const seen: string[] = [];
    store.subscribe(() => seen.push(String((store.get('Secret', 'shop/tls') as { data?: Record<string, string> } | undefined)?.data?.['tls.crt']?.length)));
    const reads = source.stats.fileReads;
    await writeFile(join(dir, 'a.yaml'), full.slice(0, full.length - 50)); // parses: one Secret, a shorter value
    await until(() => source.stats.fileReads > reads);
    expect(source.stats.readsSetAside).toBeGreaterThan(0);
    expect((store.get('Secret', 'shop/tls') as { data: Record<string, string> }).data['tls.crt']!.startsWith('WFla')).toBe(true);
    await writeFile(join(dir, 'a.yaml'), full);
    await until(() => (store.get('Secret', 'shop/tls') as { data: Record<string, string> }).data['tls.crt']!.startsWith('QUJD'));
    expect(seen).toEqual(['160']);
  });

  it('does believe a file without a final newline once it has stayed the same for settleMs', async () => {
    const { store } = await start({ settleMs: 30 });
    await writeFile(join(dir, 'a.yaml'), service('a', 84).trimEnd());
    await until(() => store.snapshot().services.get('shop/a')?.spec?.ports?.[0]?.port === 84);
  });
});
