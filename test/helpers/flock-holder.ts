import { spawn } from 'node:child_process';

/**
 * Another process holding flock(2) on `path` (util-linux flock), until release(). Resolves once the
 * lock is held (the holder says so), so tests never guess with a sleep.
 */
export async function holdFlock(path: string): Promise<{ release(): Promise<void> }> {
  const holder = spawn('flock', ['--exclusive', path, 'sh', '-c', 'echo held; read _'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const closed = new Promise<void>((resolve) => holder.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
    holder.on('error', reject);
    holder.on('close', (code) => reject(new Error(`flock holder exited (${code}) before holding ${path}`)));
  });
  return {
    async release() {
      holder.stdin.end(); // `read` sees EOF: sh exits, flock releases
      await closed;
    },
  };
}
