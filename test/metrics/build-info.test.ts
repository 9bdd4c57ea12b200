import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitHead, readBuildInfo } from '../../src/metrics/build-info.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

function checkout(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'portico-build-info-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('build info', () => {
  it('reads the version from package.json, the commit from $PORTICO_GIT_COMMIT first, and the Node.js version', () => {
    const root = checkout({ 'package.json': '{"version":"1.2.3"}', '.git/HEAD': `${A}\n` });
    expect(readBuildInfo({ PORTICO_GIT_COMMIT: B }, root)).toEqual({ version: '1.2.3', commit: B, node: process.version, repository: '' });
    expect(readBuildInfo({}, root).commit).toBe(A);
    expect(readBuildInfo({}, checkout({})).version).toBe('');
    expect(readBuildInfo({}).version).toMatch(/^\d+\.\d+\.\d+/); // this repository's package.json
  });

  it('finds HEAD: detached, a loose branch ref, a packed one, a worktree; else empty', () => {
    expect(gitHead(checkout({ '.git/HEAD': `${A}\n` }))).toBe(A);
    expect(gitHead(checkout({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${A}\n` }))).toBe(A);
    expect(gitHead(checkout({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/packed-refs': `# pack-refs\n${B} refs/heads/other\n${A} refs/heads/main\n` }))).toBe(A);
    const main = checkout({ '.git/refs/heads/feature': `${B}\n`, '.git/worktrees/wt/HEAD': 'ref: refs/heads/feature\n', '.git/worktrees/wt/commondir': '../..\n' });
    const worktree = checkout({ '.git': `gitdir: ${join(main, '.git/worktrees/wt')}\n` });
    expect(gitHead(worktree)).toBe(B);
    expect(gitHead(checkout({}))).toBe('');
    expect(gitHead(checkout({ '.git/HEAD': 'ref: refs/heads/gone\n' }))).toBe('');
  });
});
