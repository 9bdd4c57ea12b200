import { closeSync, fstatSync, openSync, readdirSync, readFileSync, statSync, watch, type BigIntStats, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { objectKey, type KubeObject } from '../model/k8s-objects.js';
import { PorticoError } from '../lib/errors.js';
import { Holdoff } from '../lib/holdoff.js';
import type { Logger } from '../lib/logger.js';
import type { ObjectStore } from '../store/object-store.js';
import { parseManifest } from './parse-manifest.js';

export interface ManifestSourceOptions {
  dir: string;
  store: ObjectStore;
  logger: Logger;
  /** Quiet period after a file event before re-reading (editors write in several steps). */
  debounceMs?: number;
  /** Upper bound on how long a stream of file events can hold a re-read back. */
  maxDebounceMs?: number;
  /**
   * How long a file must have been left alone before a read that would drop objects (an empty or
   * shrunken file, a missing file) is believed: a writer truncates before it writes.
   */
  settleMs?: number;
  /** Wall clock, compared with file mtimes (tests pin it with fake timers). */
  now?: () => number;
}

/** What a stat says about a file's content; equal signatures mean an unchanged file. */
function signatureOf(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * Feeds the store from a directory of manifests and keeps it in sync as files change.
 * A file that stops parsing keeps its last good objects; a bad object inside a good file is
 * skipped alone. Files are read in name order and the first definition of an object wins.
 */
export interface ManifestSourceStats {
  /** Files read (a full rescan reads only the ones whose stat changed). */
  fileReads: number;
  /** Reads set aside because the file was still being written (re-read once settled). */
  readsSetAside: number;
  /** Reads whose text was the one the file's objects came from (a rewrite without a change): not parsed again. */
  unchangedReads: number;
}

export class ManifestSource {
  readonly stats: ManifestSourceStats = { fileReads: 0, readsSetAside: 0, unchangedReads: 0 };
  readonly #options: ManifestSourceOptions;
  readonly #log: Logger;
  /** Last good objects of each file. */
  readonly #files = new Map<string, readonly KubeObject[]>();
  /** The text each file's objects were parsed from: the same text again is not parsed again (YAML parsing is most of a read). */
  readonly #parsedText = new Map<string, string>();
  /** What this source has pushed into the store, by kind + key. */
  #applied = new Map<string, KubeObject>();
  #reportedDuplicates = new Set<string>();
  #watcher: FSWatcher | undefined;
  /**
   * Signature of each file's last accepted read. A full rescan skips files whose signature did not
   * change. A file modified within a timestamp tick of its read is not recorded ("racily clean", as
   * in git): a second write in the same tick could keep size and mtime.
   */
  readonly #signatures = new Map<string, string>();
  /** Files whose last read looked like a writer at work: re-read once they have settled. */
  readonly #settleTimers = new Map<string, NodeJS.Timeout>();
  /** When a file was first found missing (a rename-based save briefly removes it). */
  readonly #missingSince = new Map<string, number>();
  /** A read that may be a cut-off write (fewer objects, no final newline): its signature and when first seen. */
  readonly #suspect = new Map<string, { signature: string; at: number }>();
  /** When a file was first read less than a quiet period after its last write. */
  readonly #freshSince = new Map<string, number>();
  readonly #quietMs: number;
  readonly #maxFreshMs: number;
  readonly #holdoff: Holdoff;
  readonly #settleMs: number;
  readonly #now: () => number;
  #pending = new Set<string>();
  #pendingFullScan = false;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: ManifestSourceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ source: 'manifests', dir: options.dir });
    this.#settleMs = options.settleMs ?? 100;
    this.#quietMs = options.debounceMs ?? 10;
    this.#maxFreshMs = options.maxDebounceMs ?? 25;
    this.#now = options.now ?? Date.now;
    this.#holdoff = new Holdoff({ delayMs: options.debounceMs ?? 10, maxDelayMs: options.maxDebounceMs ?? 25, run: this.#flushEvents });
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
    await this.#enqueue(() => this.#scan({ force: true }));
    // Files written a moment before start were set aside: the first load includes them (bounded:
    // a fresh file is believed after maxDebounceMs at the latest).
    while (this.#settleTimers.size > 0 && !this.#stopped) {
      await new Promise((resolve) => setTimeout(resolve, this.#quietMs));
      await this.#queue;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    this.#holdoff.cancel();
    clearTimeout(this.#retryTimer);
    for (const timer of this.#settleTimers.values()) clearTimeout(timer);
    this.#settleTimers.clear();
    await this.#queue;
  }

  /** Re-reads every file now (tests and SIGHUP). */
  reload(): Promise<void> {
    return this.#enqueue(() => this.#scan({ force: true }));
  }

  #watch(): void {
    try {
      this.#watcher = watch(this.#options.dir, { persistent: false }, (_event, fileName) => {
        // Dot-names are editor swap files or a ConfigMap volume's ..data symlink swap: rescan all.
        if (!fileName || fileName.startsWith('.')) this.#pendingFullScan = true;
        else if (MANIFEST_FILE.test(fileName)) this.#pending.add(fileName);
        else return;
        this.#holdoff.trigger();
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
      void this.#enqueue(() => this.#scan({ force: false }));
    }, 1000);
  }

  #flushEvents = (): void => {
    const full = this.#pendingFullScan;
    const names = [...this.#pending];
    this.#pending.clear();
    this.#pendingFullScan = false;
    void this.#enqueue(() => (full ? this.#scan({ force: false }) : this.#reloadFiles(names)));
  };

  #enqueue(task: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(task).catch((error: unknown) => {
      this.#log.error({ err: (error as Error).message }, 'manifest reload failed');
    });
    return this.#queue;
  }

  /** Lists the directory and re-reads what changed (every file when `force`), then applies. */
  async #scan(options: { force: boolean }): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.#options.dir).filter((name) => MANIFEST_FILE.test(name) && !name.startsWith('.'));
    } catch (error) {
      this.#log.error({ code: 'PORTICO_ERR_MANIFEST_READ', err: (error as Error).message }, 'cannot list the manifest directory; keeping the last good configuration');
      return;
    }
    const listed = new Set(names);
    const gone = [...this.#files.keys()].filter((name) => !listed.has(name));
    let changed = names;
    if (!options.force) {
      changed = names.filter((name) => {
        const info = statSync(join(this.#options.dir, name), { bigint: true, throwIfNoEntry: false });
        return info === undefined || this.#signatures.get(name) !== signatureOf(info);
      });
    }
    await this.#reloadFiles([...changed, ...gone]);
  }

  async #reloadFiles(names: readonly string[]): Promise<void> {
    for (const name of names) this.#loadFile(name);
    this.#applyToStore();
  }

  /**
   * Reads one file and keeps its objects, unless the read may have caught a writer half-way: the
   * file changed while it was read, or it lost objects (or vanished) less than `settleMs` ago.
   * Such a read is set aside and the file re-read once it has settled; until then its last good
   * objects keep serving. A writer's next event re-reads it sooner.
   */
  #loadFile(name: string): void {
    this.#cancelSettle(name);
    this.stats.fileReads++;
    const path = join(this.#options.dir, name);
    let text: string;
    let before: BigIntStats;
    let after: BigIntStats;
    try {
      // Synchronous on purpose: manifests are small local files, parsing them is synchronous anyway,
      // and under load every awaited step waits behind the proxy's work for a turn of the event loop
      // (a rescan of 100 files took hundreds of ms that way).
      const fd = openSync(path, 'r');
      try {
        before = fstatSync(fd, { bigint: true });
        if (before.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
        text = readFileSync(fd, 'utf8');
        after = fstatSync(fd, { bigint: true });
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') {
        this.#signatures.delete(name);
        if (!this.#files.has(name)) return;
        const now = this.#now();
        const since = this.#missingSince.get(name) ?? now;
        this.#missingSince.set(name, since);
        if (now - since < this.#settleMs) {
          this.#settleLater(name, since + this.#settleMs - now);
          return;
        }
        this.#missingSince.delete(name);
        this.#files.delete(name);
        this.#parsedText.delete(name);
        this.#log.info({ file: name }, 'manifest file removed');
        return;
      }
      this.#log.error({ code: 'PORTICO_ERR_MANIFEST_READ', file: name, err: (error as Error).message }, 'cannot read manifest file; keeping its last good objects');
      return;
    }
    this.#missingSince.delete(name);
    const signature = signatureOf(after);
    if (signature !== signatureOf(before) || BigInt(Buffer.byteLength(text)) !== after.size) {
      this.#signatures.delete(name);
      this.#settleLater(name, this.#settleMs);
      return;
    }
    const now = this.#now();
    const modifiedMsAgo = now - Number(after.mtimeNs / 1_000_000n);
    if (modifiedMsAgo < this.#quietMs) {
      // Written a moment ago: a writer may be between two write() calls (a whole, parseable but
      // partial file). Re-read once it has been quiet, unless it never is (then a consistent read).
      const since = this.#freshSince.get(name) ?? now;
      this.#freshSince.set(name, since);
      if (now - since < this.#maxFreshMs) {
        this.#signatures.delete(name);
        this.#settleLater(name, this.#quietMs - Math.max(0, modifiedMsAgo));
        return;
      }
    }
    this.#freshSince.delete(name);
    if (this.#parsedText.get(name) === text && this.#files.has(name)) {
      this.stats.unchangedReads++;
      this.#suspect.delete(name);
      this.#recordSignature(name, signature, modifiedMsAgo);
      return;
    }
    try {
      const { objects, problems } = parseManifest(text, name);
      const previous = this.#files.get(name);
      // Fewer objects, or text that stops mid-line (serializers and editors end files with a newline;
      // a writer cut off between two write() calls mostly does not): believed once the same content
      // has been seen for settleMs. Timed from our own first sight, not the file's mtime: a stalled
      // writer leaves a truncated file whose mtime says nothing about when the rest will come.
      if ((previous !== undefined && objects.length < previous.length) || (text.length > 0 && !text.endsWith('\n'))) {
        const seen = this.#suspect.get(name);
        if (seen === undefined || seen.signature !== signature) {
          this.#suspect.set(name, { signature, at: now });
          this.#signatures.delete(name);
          this.#settleLater(name, this.#settleMs);
          return;
        }
        if (now - seen.at < this.#settleMs) {
          this.#signatures.delete(name);
          this.#settleLater(name, seen.at + this.#settleMs - now);
          return;
        }
      }
      this.#suspect.delete(name);
      for (const problem of problems) {
        this.#log.error({ code: problem.code, file: name, where: problem.where, reason: problem.message }, `skipped ${problem.where}: ${problem.message}`);
      }
      this.#files.set(name, objects);
      this.#parsedText.set(name, text);
      this.#log.trace({ file: name, objects: objects.length, problems: problems.length, modifiedMsAgo: Math.round(modifiedMsAgo), bytes: text.length }, 'manifest file loaded');
      this.#recordSignature(name, signature, modifiedMsAgo);
    } catch (error) {
      if (!(error instanceof PorticoError)) throw error;
      this.#signatures.delete(name);
      if (modifiedMsAgo < this.#settleMs) {
        // Probably a write in progress: judge the file once it has settled.
        this.#settleLater(name, this.#settleMs - Math.max(0, modifiedMsAgo));
        return;
      }
      const kept = this.#files.get(name)?.length ?? 0;
      this.#log.error({ code: error.code, file: name, reason: error.message, keptObjects: kept }, `cannot parse ${error.message}; keeping its ${kept} last good object(s)`);
    }
  }

  /** Remembers an accepted read's signature, unless the file was modified within a timestamp tick of it. */
  #recordSignature(name: string, signature: string, modifiedMsAgo: number): void {
    // 20 ms covers the coarsest timestamp tick Linux filesystems use (jiffies at HZ=100: 10 ms).
    if (modifiedMsAgo > 20) this.#signatures.set(name, signature);
    else this.#signatures.delete(name);
  }

  #settleLater(name: string, delayMs: number): void {
    if (this.#stopped) return;
    this.#cancelSettle(name);
    this.stats.readsSetAside++;
    this.#log.debug({ file: name, retryMs: Math.round(delayMs) }, 'manifest file is still being written; keeping its last good objects until it settles');
    const timer = setTimeout(() => {
      this.#settleTimers.delete(name);
      void this.#enqueue(() => this.#reloadFiles([name]));
    }, Math.max(1, delayMs));
    timer.unref();
    this.#settleTimers.set(name, timer);
  }

  #cancelSettle(name: string): void {
    const timer = this.#settleTimers.get(name);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#settleTimers.delete(name);
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
