import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { CommandRunner } from './run-command.js';

// An exclusive flock(2) on a file, held until release(). Node has no flock binding, so the lock is
// taken by util-linux `flock` on a descriptor this process opened and passes down: flock locks
// belong to the open file description, so the lock outlives the short-lived child and is dropped
// when we close our descriptor (or exit, or crash). Processes using flock(2) directly (Go's
// host-local) contend on the same lock, so both can share a data directory.

export interface FileLock {
  release(): Promise<void>;
}

export class LockTimeoutError extends Error {
  constructor(path: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for the lock on ${path}`);
    this.name = 'LockTimeoutError';
  }
}

const CONFLICT_EXIT = 75;

export interface AcquireLockOptions {
  runner: CommandRunner;
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
  /** Mode for a newly created lock file (default 0o750, as go-filemutex creates it). */
  mode?: number;
}

export async function acquireFileLock(path: string, options: AcquireLockOptions): Promise<FileLock> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  let handle: FileHandle | undefined = await open(path, constants.O_RDONLY | constants.O_CREAT, options.mode ?? 0o750);
  try {
    const result = await options.runner.run({
      command: 'flock',
      args: ['--exclusive', '--wait', String(Math.max(timeoutMs / 1000, 0.001)), '--conflict-exit-code', String(CONFLICT_EXIT), '3'],
      extraFds: [handle.fd],
      timeoutMs: timeoutMs + 5_000,
    });
    if (result.code === CONFLICT_EXIT) throw new LockTimeoutError(path, timeoutMs);
    if (result.code !== 0) throw new Error(`flock ${path} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return {
    release: async () => {
      const current = handle;
      handle = undefined;
      await current?.close();
    },
  };
}
