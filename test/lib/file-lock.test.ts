import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { acquireFileLock, LockTimeoutError } from '../../src/lib/file-lock.js';
import { ExecCommandRunner } from '../../src/lib/run-command.js';
import { missingTools } from '../../src/host/tools.js';
import { holdFlock } from '../helpers/flock-holder.js';

const hasFlock = (await missingTools(['flock'], process.env['PATH'])).length === 0;
if (!hasFlock) console.warn('file-lock tests skipped: util-linux flock is not installed');

describe.skipIf(!hasFlock)('acquireFileLock (flock(2) through util-linux flock)', () => {
  let dir: string;
  const runner = new ExecCommandRunner();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcni-lock-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the lock file 0750 and excludes a second holder until release', async () => {
    const path = join(dir, 'lock');
    const first = await acquireFileLock(path, { runner });
    expect((await stat(path)).mode & 0o777).toBe(0o750);
    await expect(acquireFileLock(path, { runner, timeoutMs: 200 })).rejects.toBeInstanceOf(LockTimeoutError);
    await first.release();
    const second = await acquireFileLock(path, { runner, timeoutMs: 2000 });
    await second.release();
  });

  it('contends with another process holding flock(2) on the same file', async () => {
    const path = join(dir, 'lock2');
    const holder = await holdFlock(path);
    onTestFinished(() => holder.release());
    const order: string[] = [];
    const acquiring = acquireFileLock(path, { runner, timeoutMs: 30_000 }).then((lock) => (order.push('acquired'), lock));
    // Give a broken lock every chance to be taken while held (a busy machine only makes this weaker).
    await new Promise((resolve) => setTimeout(resolve, 100));
    order.push('holder released');
    await holder.release();
    const lock = await acquiring;
    expect(order).toEqual(['holder released', 'acquired']);
    await lock.release();
  });

  it('serialises concurrent holders in this process', async () => {
    const path = join(dir, 'lock3');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const lock = await acquireFileLock(path, { runner });
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inside--;
        await lock.release();
      }),
    );
    expect(maxInside).toBe(1);
  });
});
