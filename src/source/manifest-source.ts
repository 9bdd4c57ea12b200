import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { objectKey, type KubeObject } from '../model/k8s-objects.js';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { parseManifest } from './parse-manifest.js';

export interface ManifestSourceOptions {
  dir: string;
  store: ObjectStore;
  logger: Logger;
  /** Quiet period after a file event before re-reading (editors write in several steps). */
  debounceMs?: number;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * Feeds the store from a directory of manifests and keeps it in sync as files change.
 * A file that stops parsing keeps its last good objects; a bad object inside a good file is
 * skipped alone. Files are read in name order and the first definition of an object wins.
 */
export class ManifestSource {
  readonly #options: ManifestSourceOptions;
  readonly #log: Logger;
  /** Last good objects of each file. */
  readonly #files = new Map<string, readonly KubeObject[]>();
  /** What this source has pushed into the store, by kind + key. */
  #applied = new Map<string, KubeObject>();
  #reportedDuplicates = new Set<string>();
  #watcher: FSWatcher | undefined;
  #pending = new Set<string>();
  #pendingFullScan = false;
  #timer: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: ManifestSourceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ source: 'manifests', dir: options.dir });
  }

  /** Loads the directory once and starts watching; resolves after the first full load. */
  async start(): Promise<void> {
    try {
      const info = await stat(this.#options.dir);
      if (!info.isDirectory()) throw new Error('not a directory');
    } catch (error) {
      throw new PorticoError(
        'PORTICO_ERR_MANIFEST_READ',
        `--manifests ${this.#options.dir}: ${(error as Error).message}`,
      );
    }
    this.#watch();
    await this.#enqueue(() => this.#scan());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    clearTimeout(this.#timer);
    clearTimeout(this.#retryTimer);
    await this.#queue;
  }

  /** Re-reads every file now (tests and SIGHUP). */
  reload(): Promise<void> {
    return this.#enqueue(() => this.#scan());
  }

  #watch(): void {
    try {
      this.#watcher = watch(this.#options.dir, { persistent: false }, (_event, fileName) => {
        // Dot-names are editor swap files or a ConfigMap volume's ..data symlink swap: rescan all.
        if (!fileName || fileName.startsWith('.')) this.#pendingFullScan = true;
        else if (MANIFEST_FILE.test(fileName)) this.#pending.add(fileName);
        else return;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(this.#flushEvents, this.#options.debounceMs ?? 10);
      });
      this.#watcher.on('error', (error) => {
        this.#log.error({ code: 'PORTICO_ERR_MANIFEST_READ', err: error.message }, 'watching the manifest directory failed; retrying');
        this.#watcher?.close();
        this.#retryWatch();
      });
    } catch (error) {
      this.#log.error({ code: 'PORTICO_ERR_MANIFEST_READ', err: (error as Error).message }, 'cannot watch the manifest directory; retrying');
      this.#retryWatch();
    }
  }

  #retryWatch(): void {
    if (this.#stopped) return;
    this.#retryTimer = setTimeout(() => {
      this.#watch();
      void this.reload();
    }, 1000);
  }

  #flushEvents = (): void => {
    const full = this.#pendingFullScan;
    const names = [...this.#pending];
    this.#pending.clear();
    this.#pendingFullScan = false;
    void this.#enqueue(() => (full ? this.#scan() : this.#reloadFiles(names)));
  };

  #enqueue(task: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(task).catch((error: unknown) => {
      this.#log.error({ err: (error as Error).message }, 'manifest reload failed');
    });
    return this.#queue;
  }

  async #scan(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.#options.dir)).filter((name) => MANIFEST_FILE.test(name) && !name.startsWith('.'));
    } catch (error) {
      this.#log.error({ code: 'PORTICO_ERR_MANIFEST_READ', err: (error as Error).message }, 'cannot list the manifest directory; keeping the last good configuration');
      return;
    }
    const gone = [...this.#files.keys()].filter((name) => !names.includes(name));
    await this.#reloadFiles([...names, ...gone]);
  }

  async #reloadFiles(names: readonly string[]): Promise<void> {
    for (const name of names) await this.#loadFile(name);
    this.#applyToStore();
  }

  async #loadFile(name: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.#options.dir, name), 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') {
        if (this.#files.delete(name)) this.#log.info({ file: name }, 'manifest file removed');
        return;
      }
      this.#log.error({ code: 'PORTICO_ERR_MANIFEST_READ', file: name, err: (error as Error).message }, 'cannot read manifest file; keeping its last good objects');
      return;
    }
    try {
      const { objects, problems } = parseManifest(text, name);
      for (const problem of problems) {
        this.#log.error({ code: problem.code, file: name, where: problem.where, reason: problem.message }, `skipped ${problem.where}: ${problem.message}`);
      }
      this.#files.set(name, objects);
    } catch (error) {
      if (!(error instanceof PorticoError)) throw error;
      const kept = this.#files.get(name)?.length ?? 0;
      this.#log.error({ code: error.code, file: name, reason: error.message, keptObjects: kept }, `cannot parse ${error.message}; keeping its ${kept} last good object(s)`);
    }
  }

  /** Pushes the union of all files into the store: first file by name wins each object. */
  #applyToStore(): void {
    const desired = new Map<string, KubeObject>();
    const owner = new Map<string, string>();
    const duplicates = new Set<string>();
    for (const name of [...this.#files.keys()].sort()) {
      for (const obj of this.#files.get(name) ?? []) {
        const id = `${obj.kind} ${objectKey(obj)}`;
        const first = owner.get(id);
        if (first !== undefined) {
          const report = `${id} ${first} ${name}`;
          duplicates.add(report);
          if (!this.#reportedDuplicates.has(report)) {
            this.#log.warn({ code: 'PORTICO_ERR_MANIFEST_DUPLICATE', file: name, object: id, keptFrom: first }, `${id} is also defined in ${first}; the definition in ${name} is ignored`);
          }
          continue;
        }
        owner.set(id, name);
        desired.set(id, obj);
      }
    }
    this.#reportedDuplicates = duplicates;
    const { store } = this.#options;
    for (const [id, obj] of this.#applied) {
      if (!desired.has(id)) store.remove(obj.kind, objectKey(obj));
    }
    for (const [id, obj] of desired) {
      // Files not re-read keep their object references: skip them without fingerprinting.
      if (this.#applied.get(id) !== obj) store.upsert(obj);
    }
    this.#applied = desired;
  }
}
