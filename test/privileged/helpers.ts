import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireFileLock } from '../../src/lib/file-lock.js';
import { ExecCommandRunner } from '../../src/lib/run-command.js';

// Shared machinery for tests that need root: throwaway network namespaces with unique names
// (`pcni-<random>-…`, always deleted), the installed portico-cni run the way a runtime runs it
// (`env -i` + CNI_* + a system PATH, inside the node's namespace), and TCP probes.

export const REPO = join(import.meta.dirname, '..', '..');
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const REFERENCE_DIR = '/usr/lib/cni';
const PROBE = join(import.meta.dirname, 'net-probe.mjs');

function which(tool: string): boolean {
  return SYSTEM_PATH.split(':').some((dir) => existsSync(join(dir, tool)));
}

function computeSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth, nftables)';
  const missing = ['ip', 'nft', 'nsenter', 'flock', 'env'].filter((tool) => !which(tool));
  if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install iproute2 nftables util-linux; .ci/run does it)`;
  const reference = ['bridge', 'host-local', 'loopback'].filter((p) => !existsSync(join(REFERENCE_DIR, p)));
  if (reference.length > 0) return `missing reference plugins ${reference.join(', ')} in ${REFERENCE_DIR} (apt-get install containernetworking-plugins; .ci/run does it)`;
  if (!existsSync(join(REPO, 'dist', 'cmd', 'portico.js'))) return 'dist/ is not built (npm run build; npm test does it)';
  const probe = `pcni-probe-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `cannot create network namespaces here: ${add.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

/** Why the privileged tests cannot run here, or undefined when they can. */
export const SKIP_REASON = computeSkipReason();
if (SKIP_REASON) console.warn(`privileged CNI tests skipped: ${SKIP_REASON}`);

export function skipTitle(title: string): string {
  return SKIP_REASON ? `${title} (skipped: ${SKIP_REASON})` : title;
}

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

export function exec(command: string, args: readonly string[], input?: string): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c));
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

export async function mustExec(command: string, args: readonly string[], input?: string): Promise<string> {
  const result = await exec(command, args, input);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** Namespaces (and probe servers) created by a test file; cleanup() removes every one. */
export class Sandbox {
  readonly id = randomBytes(3).toString('hex');
  readonly #namespaces: string[] = [];
  readonly #children: ChildProcess[] = [];

  name(suffix: string): string {
    return `pcni-${this.id}-${suffix}`;
  }

  async netns(suffix: string): Promise<{ name: string; path: string }> {
    const name = this.name(suffix);
    await mustExec('ip', ['netns', 'add', name]);
    this.#namespaces.push(name);
    return { name, path: `/run/netns/${name}` };
  }

  async deleteNetns(name: string): Promise<void> {
    await exec('ip', ['netns', 'del', name]);
    const index = this.#namespaces.indexOf(name);
    if (index >= 0) this.#namespaces.splice(index, 1);
  }

  /** Starts a TCP server in a namespace that answers with the client's address. */
  async listen(netns: string, host: string, port: number): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, PROBE, 'listen', host, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push(child);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c));
      child.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
      child.on('close', (code) => reject(new Error(`probe server in ${netns} exited ${code}: ${err}`)));
    });
  }

  async cleanup(): Promise<void> {
    for (const child of this.#children) child.kill('SIGKILL');
    for (const name of this.#namespaces.splice(0).reverse()) await exec('ip', ['netns', 'del', name]);
  }
}

/** Connects from a namespace; resolves with the server's answer (the address it saw) or undefined. */
export async function tcpProbe(netns: string, host: string, port: number): Promise<string | undefined> {
  const result = await exec('ip', ['netns', 'exec', netns, process.execPath, PROBE, 'connect', host, String(port), '2000']);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** Installs portico-cni once per machine state into a cache dir (idempotent; hard links node). */
export async function installedPlugin(): Promise<string> {
  const binDir = join(REPO, 'node_modules', '.cache', 'portico-cni-test', 'bin');
  await mkdir(binDir, { recursive: true });
  const lock = await acquireFileLock(join(binDir, '..', 'install.lock'), { runner: new ExecCommandRunner(), timeoutMs: 120_000 });
  try {
    await mustExec(process.execPath, [join(REPO, 'dist', 'cmd', 'portico.js'), 'cni', 'install', '--bin-dir', binDir]);
  } finally {
    await lock.release();
  }
  return join(binDir, 'portico-cni');
}

export interface PluginCall {
  plugin: string;
  command: string;
  /** The namespace the plugin runs in (the "node"). */
  node: string;
  config: unknown;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  cniPath?: string;
  /** Raw stdin instead of the JSON of `config`. */
  stdin?: string;
  /** Extra or replaced variables, e.g. { CNI_CONTAINERID: '' }. */
  env?: Record<string, string>;
}

export interface PluginResult extends Exec {
  json: any;
}

/** Runs a plugin as containerd does: empty environment, CNI_* variables, a system PATH. */
export async function runPlugin(call: PluginCall): Promise<PluginResult> {
  const env: Record<string, string> = {
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId ?? '',
    CNI_NETNS: call.netns ?? '',
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_PATH: call.cniPath ?? REFERENCE_DIR,
    ...(call.args !== undefined ? { CNI_ARGS: call.args } : {}),
    PATH: SYSTEM_PATH,
    ...call.env,
  };
  const vars = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  const result = await exec('ip', ['netns', 'exec', call.node, 'env', '-i', ...vars, call.plugin], call.stdin ?? JSON.stringify(call.config));
  let json: unknown;
  try {
    json = result.stdout.trim() === '' ? undefined : JSON.parse(result.stdout);
  } catch {
    json = undefined;
  }
  return { ...result, json };
}

export async function ipJson(netns: string, args: readonly string[]): Promise<any> {
  const out = await mustExec('ip', ['-n', netns, '-j', ...args]);
  return out.trim() === '' ? [] : JSON.parse(out);
}

/** Addresses of a namespace, without per-run identifiers (indexes, MACs). */
export async function addressesOf(netns: string, options: { rename?: Record<string, string> } = {}): Promise<string[]> {
  const links = (await ipJson(netns, ['-d', 'addr', 'show'])) as Array<{
    ifname: string;
    mtu: number;
    txqlen?: number;
    master?: string;
    flags: string[];
    linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean } };
    addr_info: Array<Record<string, unknown>>;
  }>;
  const out: string[] = [];
  for (const link of links) {
    const name = options.rename?.[link.ifname] ?? link.ifname;
    const master = link.master ? ` master ${options.rename?.[link.master] ?? link.master} hairpin ${link.linkinfo?.info_slave_data?.hairpin ? 'on' : 'off'}` : '';
    out.push(`${name} ${link.linkinfo?.info_kind ?? 'device'} mtu ${link.mtu} qlen ${link.txqlen ?? 0} ${link.flags.includes('UP') ? 'up' : 'down'}${master}`);
    for (const a of link.addr_info) {
      if (a['scope'] === 'link') continue; // fe80:: addresses derive from the random MAC
      out.push(`${name} ${a['family']} ${a['local']}/${a['prefixlen']} scope ${a['scope']}${a['broadcast'] ? ` brd ${a['broadcast']}` : ''}`);
    }
  }
  return out.sort();
}

/** Unicast routes of a namespace's main table, both families. */
export async function routesOf(netns: string, options: { rename?: Record<string, string> } = {}): Promise<string[]> {
  const out: string[] = [];
  for (const family of ['-4', '-6']) {
    const routes = (await mustExec('ip', ['-n', netns, '-j', family, 'route', 'show', 'table', 'main']).then((t) => (t.trim() ? JSON.parse(t) : []))) as Array<Record<string, unknown>>;
    for (const r of routes) {
      const dev = options.rename?.[String(r['dev'])] ?? r['dev'];
      if (String(r['dst']).startsWith('fe80:')) continue;
      out.push(`${family} ${r['dst']}${r['gateway'] ? ` via ${r['gateway']}` : ''} dev ${dev}${r['protocol'] ? ` proto ${r['protocol']}` : ''}${r['scope'] ? ` scope ${r['scope']}` : ''}${r['metric'] !== undefined ? ` metric ${r['metric']}` : ''}`);
    }
  }
  return out.sort();
}
