import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatIp, parseIp, type IpAddress } from '../../../lib/cidr.js';
import { acquireFileLock, LockTimeoutError, type FileLock } from '../../../lib/file-lock.js';
import { CniError } from '../../cni-error.js';
import type { CommandRunner } from '../../../lib/run-command.js';
import { findAttachmentIps, releaseAttachmentIps, type IpamStore, type Reservation } from './store.js';

// The reference host-local's on-disk layout, byte for byte, so both plugins can share a data
// directory: <dataDir>/<network>/<ip> holding `<containerID>\r\n<ifname>` (0644, created
// exclusively), `last_reserved_ip.<set>` holding the last address handed out in that set, and an
// empty `lock` file (0750) that both take with flock(2) around every allocation and release.

const LAST_RESERVED = 'last_reserved_ip.';
const LINE_BREAK = '\r\n';

export interface DiskStoreOptions {
  dataDir: string;
  network: string;
  /** Runs flock(1) (see lib/file-lock.ts). */
  runner: CommandRunner;
  lockTimeoutMs?: number;
}

export class DiskStore implements IpamStore {
  readonly dir: string;
  readonly #runner: CommandRunner;
  readonly #lockTimeoutMs: number | undefined;
  #lock: FileLock | undefined;

  constructor(options: DiskStoreOptions) {
    this.dir = join(options.dataDir, options.network);
    this.#runner = options.runner;
    this.#lockTimeoutMs = options.lockTimeoutMs;
  }

  async lock(options: { create?: boolean } = {}): Promise<boolean> {
    if (options.create === false && !(await stat(this.dir).then((s) => s.isDirectory(), () => false))) return false;
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    try {
      this.#lock = await acquireFileLock(join(this.dir, 'lock'), { runner: this.#runner, ...(this.#lockTimeoutMs !== undefined ? { timeoutMs: this.#lockTimeoutMs } : {}) });
    } catch (error) {
      if (error instanceof LockTimeoutError) throw new CniError('PORTICO_ERR_CNI_TRY_AGAIN', `host-local: ${error.message}`);
      throw error;
    }
    return true;
  }

  async unlock(): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  async reserve(options: { containerId: string; ifname: string; ip: IpAddress; rangeId: string }): Promise<boolean> {
    const path = join(this.dir, formatIp(options.ip));
    let handle;
    try {
      handle = await open(path, 'wx', 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    try {
      await handle.writeFile(`${options.containerId.trim()}${LINE_BREAK}${options.ifname}`);
      await handle.close();
    } catch (error) {
      await handle.close().catch(() => {});
      await rm(path, { force: true });
      throw error;
    }
    await writeFile(join(this.dir, LAST_RESERVED + options.rangeId), formatIp(options.ip), { mode: 0o644 });
    return true;
  }

  async lastReservedIp(rangeId: string): Promise<IpAddress | undefined> {
    try {
      return parseIp((await readFile(join(this.dir, LAST_RESERVED + rangeId), 'utf8')).trim());
    } catch {
      return undefined;
    }
  }

  async setLastReservedIp(rangeId: string, ip: IpAddress | undefined): Promise<void> {
    const path = join(this.dir, LAST_RESERVED + rangeId);
    if (ip === undefined) await rm(path, { force: true });
    else await writeFile(path, formatIp(ip), { mode: 0o644 });
  }

  async list(): Promise<Reservation[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const out: Reservation[] = [];
    for (const name of names.sort()) {
      const ip = parseIp(name);
      if (!ip || formatIp(ip) !== name) continue;
      let content: string;
      try {
        content = (await readFile(join(this.dir, name), 'utf8')).trim();
      } catch {
        continue; // released meanwhile, or a directory
      }
      const [containerId, ifname] = content.split(LINE_BREAK);
      out.push({ ip, containerId: (containerId ?? '').trim(), ifname: ifname?.trim() });
    }
    return out;
  }

  getByAttachment(options: { containerId: string; ifname: string }): Promise<IpAddress[]> {
    return findAttachmentIps(this, options);
  }

  releaseByAttachment(options: { containerId: string; ifname: string }): Promise<IpAddress[]> {
    return releaseAttachmentIps(this, options);
  }

  async releaseIp(ip: IpAddress): Promise<void> {
    await rm(join(this.dir, formatIp(ip)), { force: true });
  }
}

