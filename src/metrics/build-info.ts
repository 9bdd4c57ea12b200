// What portico_build_info and nginx_ingress_controller_build_info say: the package version, the
// git commit when known, the Node.js version. Read once at start.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  readonly version: string;
  /** The git commit Portico was built from: $PORTICO_GIT_COMMIT (set by an image build), else the checkout's HEAD, else ''. */
  readonly commit: string;
  readonly node: string;
  readonly repository: string;
}

/** The package root: dist/metrics/ or src/metrics/ → ../../ */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function readBuildInfo(env: NodeJS.ProcessEnv = process.env, root: string = ROOT): BuildInfo {
  let version = '';
  let repository = '';
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown; repository?: unknown };
    if (typeof pkg.version === 'string') version = pkg.version;
    const repo = typeof pkg.repository === 'string' ? pkg.repository : (pkg.repository as { url?: unknown } | undefined)?.url;
    if (typeof repo === 'string') repository = repo;
  } catch {
    // not next to a package.json (bundled): the version stays ''
  }
  return { version, commit: env.PORTICO_GIT_COMMIT?.trim() || gitHead(root), node: process.version, repository };
}

/** HEAD's commit from a .git at `root` (a branch ref, loose or packed, or a detached HEAD; worktrees too); '' when there is none. */
export function gitHead(root: string): string {
  try {
    let gitDir = join(root, '.git');
    try {
      // A worktree (or submodule): `.git` is a file naming the real directory.
      const pointer = /^gitdir:\s*(.+)$/m.exec(readFileSync(gitDir, 'utf8'));
      if (pointer) gitDir = resolve(root, pointer[1]!.trim());
    } catch {
      // .git is a directory (or absent: HEAD below fails)
    }
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    if (ref === undefined) return COMMIT.test(head) ? head : '';
    for (const dir of refDirs(gitDir)) {
      try {
        const value = readFileSync(join(dir, ref), 'utf8').trim();
        if (COMMIT.test(value)) return value;
      } catch {
        // not a loose ref here
      }
      try {
        const line = readFileSync(join(dir, 'packed-refs'), 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`));
        if (line !== undefined && COMMIT.test(line.slice(0, 40))) return line.slice(0, 40);
      } catch {
        // no packed refs here
      }
    }
  } catch {
    // no git checkout
  }
  return '';
}

const COMMIT = /^[0-9a-f]{40}$/;

/** A worktree's branch refs live in the common directory (`commondir`), its HEAD in its own. */
function refDirs(gitDir: string): string[] {
  try {
    return [gitDir, resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim())];
  } catch {
    return [gitDir];
  }
}
