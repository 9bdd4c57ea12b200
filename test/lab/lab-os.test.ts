import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ownedPids, processesMentioning } from '../../src/lab/lab-os.js';

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('lab processes', () => {
  it('a recorded pid counts as the lab’s only while its command line mentions the lab path (pids get reused)', async () => {
    const marker = `/run/portico-lab/t${process.pid}/`;
    const ours = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', `${marker}manifests`], { stdio: 'ignore' });
    const theirs = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(ours, theirs);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await ownedPids([ours.pid!, theirs.pid!, 999_999_999], marker)).toEqual([ours.pid]);
    expect(await processesMentioning(marker)).toEqual([ours.pid]);
  });
});
