import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { PorticoError } from '../lib/errors.js';
import { ExecCommandRunner, type CommandResult } from '../lib/run-command.js';

// The lab's hands on the host: commands, detached processes that outlive the CLI call (found again
// by pid file or by the lab path in their command line), CNI plugin calls, TCP readiness.

const runner = new ExecCommandRunner();
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function run(command: string, args: readonly string[], input?: string): Promise<CommandResult> {
  return runner.run({ command, args, ...(input !== undefined && { input }) });
}

/** Runs a command that must succeed; the error names the command and what it said. */
export async function must(command: string, args: readonly string[], input?: string): Promise<string> {
  const result = await run(command, args, input);
  if (result.code !== 0) throw new PorticoError('PORTICO_ERR_LAB_HOST', `${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
  return result.stdout;
}

/**
 * Starts `argv` inside a network namespace, detached from this process (its own session, output
 * to `logFile`), so it keeps running after the CLI exits. Returns its pid (`ip netns exec` execs,
 * so the pid is the program's).
 */
export function spawnInNetns(options: { netns: string; argv: readonly string[]; logFile: string; env?: Record<string, string> }): number {
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', options.netns, ...options.argv], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env['PATH'] ?? SYSTEM_PATH, ...options.env },
    });
    child.unref();
    if (child.pid === undefined) throw new PorticoError('PORTICO_ERR_LAB_HOST', `cannot start ${options.argv.join(' ')} in ${options.netns}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGTERM, then SIGKILL what is still there after `graceMs`; resolves when all are gone. */
export async function stopProcesses(pids: readonly number[], graceMs = 3000): Promise<void> {
  const living = pids.filter(alive);
  for (const pid of living) process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < graceMs && living.some(alive); waited += 50) await sleep(50);
  for (const pid of living.filter(alive)) process.kill(pid, 'SIGKILL');
  for (let waited = 0; waited < 2000 && living.some(alive); waited += 20) await sleep(20);
}

/** The pids that are still ours: alive and their command line mentions `marker` (a reused pid is someone else's). */
export async function ownedPids(pids: readonly number[], marker: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.includes(marker))) out.push(pid);
  }
  return out;
}

/** Every process whose command line mentions `marker` (the lab's state path), this one excepted. */
export async function processesMentioning(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.includes(marker))) pids.push(Number(entry));
  }
  return pids;
}

// Probes run inside a node's namespace (the host has no routes to pod networks: several labs may
// use the same pod CIDRs), as one short-lived Node.js process each.
const TCP_PROBE = `
const [host, port, timeoutMs] = process.argv.slice(1);
const { connect } = process.getBuiltinModule('node:net');
const deadline = Date.now() + Number(timeoutMs);
for (;;) {
  const ok = await new Promise((resolve) => {
    const socket = connect({ host, port: Number(port), timeout: 500 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
  if (ok) process.exit(0);
  if (Date.now() > deadline) process.exit(1);
  await new Promise((resolve) => setTimeout(resolve, 50));
}`;

const HTTP_GET = `
const [url] = process.argv.slice(1);
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  process.stdout.write(await response.text());
} catch {
  process.exit(1);
}`;

/** Resolves true once host:port accepts a TCP connection from inside `netns`, false after `timeoutMs`. */
export async function waitForTcpInNetns(netns: string, host: string, port: number, timeoutMs: number): Promise<boolean> {
  const result = await run('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', TCP_PROBE, host, String(port), String(timeoutMs)]);
  return result.code === 0;
}

/** GET from inside `netns`: the body, or undefined when it failed. */
export async function httpGetInNetns(netns: string, url: string): Promise<string | undefined> {
  const result = await run('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', HTTP_GET, url]);
  return result.code === 0 ? result.stdout : undefined;
}

/** Calls the CNI plugin the way a runtime does: empty environment, CNI_* variables, config on stdin. */
export async function callCni(options: { plugin: string; command: 'ADD' | 'DEL'; nodeNetns: string; podNetnsPath: string; containerId: string; config: unknown }): Promise<{ ip?: string }> {
  const env = [
    `CNI_COMMAND=${options.command}`,
    `CNI_CONTAINERID=${options.containerId}`,
    `CNI_NETNS=${options.podNetnsPath}`,
    'CNI_IFNAME=eth0',
    `CNI_PATH=${options.plugin.replace(/\/[^/]+$/, '')}`,
    `PATH=${SYSTEM_PATH}`,
  ];
  const result = await run('ip', ['netns', 'exec', options.nodeNetns, 'env', '-i', ...env, options.plugin], JSON.stringify(options.config));
  if (result.code !== 0) throw new PorticoError('PORTICO_ERR_LAB_POD', `portico-cni ${options.command} ${options.containerId} failed: ${result.stdout.trim() || result.stderr.trim()}`);
  if (options.command === 'DEL') return {};
  const parsed = JSON.parse(result.stdout) as { ips?: Array<{ address: string }> };
  const address = parsed.ips?.[0]?.address;
  return address ? { ip: address.split('/')[0]! } : {};
}
