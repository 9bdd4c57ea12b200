import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CniError } from './cni-error.js';

// `portico cni install`: puts a self-contained plugin into the CNI bin directory. The host may have
// no Node.js, or an old one, and the runtime calls plugins with an empty environment, so the
// install carries its own runtime:
//
//   <binDir>/portico-cni                    /bin/sh launcher (atomically replaced on upgrade)
//   <binDir>/.portico-cni/<hash>/node       the Node.js 24 binary that ran the installer
//   <binDir>/.portico-cni/<hash>/portico-cni.mjs   the plugin bundled into one file (dist/portico-cni.bundle.mjs)
//
// <hash> covers the Node version and the bundle, so reinstalling the same build is a no-op and an
// upgrade never rewrites files a running plugin is using. The previous version is kept, older
// ones are removed.

export const PLUGIN_NAME = 'portico-cni';
const VERSIONS_DIR = `.${PLUGIN_NAME}`;
/** Written by the build (scripts/bundle-cni.mjs: esbuild over dist/cmd/portico-cni.js), relative to appDir. */
export const PLUGIN_BUNDLE = 'portico-cni.bundle.mjs';
const STALE_STAGING_MS = 10 * 60_000;

export interface InstallOptions {
  binDir: string;
  /** The compiled app root (dist/), holding portico-cni.bundle.mjs. */
  appDir: string;
  /** The Node.js binary to ship (process.execPath of a Node 24 process). */
  nodeBinary: string;
  nodeVersion: string;
  log(message: string): void;
}

export interface InstallResult {
  launcher: string;
  versionDir: string;
  changed: boolean;
}

export function renderLauncher(hash: string): string {
  return [
    '#!/bin/sh',
    '# portico-cni launcher, written by `portico cni install`: runs the plugin on its bundled Node.js.',
    'case "$0" in',
    '  */*) dir="${0%/*}" ;;',
    '  *) dir="$(dirname "$(command -v "$0")")" ;;',
    'esac',
    `v="$dir/${VERSIONS_DIR}/${hash}"`,
    'unset NODE_OPTIONS NODE_PATH',
    `exec "$v/node" "$v/${PLUGIN_NAME}.mjs" "$@"`,
    '',
  ].join('\n');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes a file through a temporary name and rename(2), so readers never see half of it. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temp, content, { mode });
  await chmod(temp, mode);
  await rename(temp, path);
}

export async function installPlugin(options: InstallOptions): Promise<InstallResult> {
  const { binDir, log } = options;
  let script: string;
  const bundlePath = join(options.appDir, PLUGIN_BUNDLE);
  try {
    script = await readFile(bundlePath, 'utf8');
  } catch (error) {
    throw new CniError('PORTICO_ERR_CNI_INSTALL', `cannot read the plugin bundle ${bundlePath}: ${(error as Error).message} (npm run build writes it)`);
  }
  const nodeStat = await stat(options.nodeBinary);
  const hash = createHash('sha256').update(`${options.nodeVersion}\0${nodeStat.size}\0${script}`).digest('hex').slice(0, 16);
  const versionsDir = join(binDir, VERSIONS_DIR);
  const versionDir = join(versionsDir, hash);
  const launcher = join(binDir, PLUGIN_NAME);
  await mkdir(versionsDir, { recursive: true, mode: 0o755 });

  let changed = false;
  if (!(await exists(join(versionDir, '.complete')))) {
    changed = true;
    const staging = join(versionsDir, `.staging-${randomBytes(4).toString('hex')}`);
    await mkdir(staging, { recursive: true, mode: 0o755 });
    try {
      // A hard link when the binary is on the same file system (cheap reinstalls), else a copy.
      await link(options.nodeBinary, join(staging, 'node')).catch(() => copyFile(options.nodeBinary, join(staging, 'node')));
      await chmod(join(staging, 'node'), 0o755);
      await writeFile(join(staging, `${PLUGIN_NAME}.mjs`), script, { mode: 0o644 });
      await writeFile(join(staging, '.complete'), `${options.nodeVersion}\n`, { mode: 0o644 });
      if (!(await exists(join(versionDir, '.complete')))) {
        await rm(versionDir, { recursive: true, force: true });
        await rename(staging, versionDir).catch(async (error: NodeJS.ErrnoException) => {
          // Another installer finished the same version first: theirs is as good as ours.
          if (!(await exists(join(versionDir, '.complete')))) throw error;
        });
      }
    } catch (error) {
      throw new CniError('PORTICO_ERR_CNI_INSTALL', `cannot write ${versionDir}: ${(error as Error).message}`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    log(`installed node ${options.nodeVersion} and the plugin bundle in ${versionDir}`);
  }
  const launcherText = renderLauncher(hash);
  const current = await readFile(launcher, 'utf8').catch(() => undefined);
  if (current !== launcherText) {
    await writeAtomic(launcher, launcherText, 0o755);
    changed = true;
    log(`wrote ${launcher}`);
  }
  await pruneVersions(versionsDir, hash);
  return { launcher, versionDir, changed };
}

/** Keeps the current version and the most recent other one (a plugin may still be running it). */
async function pruneVersions(versionsDir: string, keep: string): Promise<void> {
  const entries = await readdir(versionsDir, { withFileTypes: true });
  const others: Array<{ name: string; mtime: number }> = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === keep) continue;
    if (entry.name.startsWith('.staging-')) {
      // Left behind by a crashed install (a running one is younger than this).
      const age = Date.now() - (await stat(join(versionsDir, entry.name))).mtimeMs;
      if (age > STALE_STAGING_MS) await rm(join(versionsDir, entry.name), { recursive: true, force: true });
      continue;
    }
    others.push({ name: entry.name, mtime: (await stat(join(versionsDir, entry.name))).mtimeMs });
  }
  others.sort((a, b) => b.mtime - a.mtime);
  for (const old of others.slice(1)) await rm(join(versionsDir, old.name), { recursive: true, force: true });
}

/** Fills `{{podCIDR}}` in a conflist template and checks the result is a conflist. */
export function renderConflist(template: string, values: { podCidr?: string }): string {
  let text = template;
  if (text.includes('{{podCIDR}}')) {
    if (!values.podCidr) throw new CniError('PORTICO_ERR_CNI_INSTALL', 'the conflist uses {{podCIDR}} but no pod CIDR was given (--pod-cidr or --pod-cidr-from-node)');
    text = text.replaceAll('{{podCIDR}}', values.podCidr);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CniError('PORTICO_ERR_CNI_INSTALL', `the conflist is not JSON: ${(error as Error).message}`);
  }
  const list = parsed as { name?: unknown; plugins?: unknown };
  if (typeof list.name !== 'string' || !Array.isArray(list.plugins) || list.plugins.length === 0) {
    throw new CniError('PORTICO_ERR_CNI_INSTALL', 'the conflist needs a "name" and a non-empty "plugins" list');
  }
  return `${JSON.stringify(parsed, null, 2)}\n`;
}

export async function installConflist(options: { confDir: string; fileName: string; content: string; log(message: string): void }): Promise<string> {
  await mkdir(options.confDir, { recursive: true, mode: 0o755 });
  const path = join(options.confDir, options.fileName);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current !== options.content) {
    await writeAtomic(path, options.content, 0o644);
    options.log(`wrote ${path}`);
  }
  return path;
}
