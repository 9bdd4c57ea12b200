// Process management for the comparative benchmark: spawning (optionally pinned with taskset),
// waiting for readiness, process trees, CPU ticks and RSS from /proc, and stopping everything we
// started (by pid, never by name).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Linux USER_HZ (`getconf CLK_TCK`); /proc/<pid>/stat times are in these ticks. */
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const started = [];

/** `taskset -c <cpus>` prefix when `cpus` is set, else the command as is. */
export function pinnedCommand(cpus, command, args) {
  return cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]];
}

/**
 * Spawns a long-running process and resolves once `ready(outputSoFar)` returns a value (stdout and
 * stderr both count). Rejects if the process exits first or nothing is ready after `timeoutMs`.
 */
export function startProcess({ name, command, args, cpus, cwd, env, ready, timeoutMs = 30_000 }) {
  const [cmd, argv] = pinnedCommand(cpus, command, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let out = '';
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve({ name, child, pid: child.pid, output: () => out, ...value });
    };
    const timer = setTimeout(() => finish(new Error(`${name} not ready after ${timeoutMs} ms:\n${out.slice(-2000)}`)), timeoutMs);
    const onData = (chunk) => {
      if (done) {
        // Keep draining so the child never blocks on a full pipe; keep only a tail for diagnostics.
        out = (out + chunk).slice(-4000);
        return;
      }
      out += chunk;
      let value;
      try {
        value = ready(out);
      } catch (err) {
        finish(err);
        return;
      }
      if (value !== undefined) finish(undefined, value);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    // PROC_LOG_DIR keeps each process's whole output (e.g. Portico run with --trace-gc).
    if (process.env.PROC_LOG_DIR) {
      const log = createWriteStream(join(process.env.PROC_LOG_DIR, `${name}-${child.pid}.log`));
      child.stdout.pipe(log);
      child.stderr.pipe(log);
    }
    child.once('error', (err) => finish(new Error(`${name}: ${err.message}`)));
    // Some processes print nothing when they are up (nginx): ask `ready` once after spawning too.
    child.once('spawn', () => onData(''));
    child.once('exit', (code, signal) => finish(new Error(`${name} exited early (${code ?? signal}):\n${out.slice(-2000)}`)));
  });
}

/** SIGTERM to every process we started that is still running; resolves when they have exited. */
export async function stopAll(graceMs = 5_000) {
  const alive = started.filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(
    alive.map(
      (child) =>
        new Promise((resolve) => {
          const tree = processTree(child.pid);
          const timer = setTimeout(() => {
            killTree(tree);
            resolve();
          }, graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

/**
 * Synchronous last resort (process 'exit' handler): SIGKILL to every process we started and to its
 * descendants (a SIGKILLed nginx master cannot stop its workers, which would be left running).
 */
export function killAllNow() {
  for (const child of started) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    killTree(processTree(child.pid));
  }
}

/**
 * SIGKILL to the processes of a tree taken with processTree() (children last, so that a master
 * cannot fork a replacement). Only pids that tree listed, i.e. processes we started and their
 * descendants.
 */
export function killTree(tree) {
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Direct children of `pid` (from /proc/<pid>/task/<pid>/children). */
function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The process tree rooted at `pid`. A `taskset` wrapper execs its command, so the pid stays the
 * same; nginx's master forks its workers, which are found here.
 */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i]));
  return out;
}

/** utime + stime of the processes (all their threads, live or exited), in ticks. */
export function cpuTicks(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return sum;
}

/** Resident set size of the processes, bytes (VmRSS summed; shared pages count once per process). */
export function rssBytes(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      // exited
    }
  }
  return sum;
}

/** Busy/total ticks of the whole machine from /proc/stat. */
export function machineTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  const total = cpu.reduce((a, b) => a + b, 0);
  return { idle, total };
}

/** Busy/total ticks per CPU from /proc/stat: { '0': { idle, total }, '1': … }. */
export function coreTicks() {
  const out = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    // irq + softirq: with IRQ time accounting this kernel work (loopback packet delivery, mostly on
    // the sending CPU) is charged to no process, so it is not in the proxy's utime + stime.
    out[m[1]] = { idle: v[3] + v[4], irq: v[5] + v[6], total: v.reduce((a, b) => a + b, 0) };
  }
  return out;
}

/** Busy fraction of each CPU between two coreTicks() snapshots. */
export function coreBusy(a, b) {
  const out = {};
  for (const cpu of Object.keys(b)) {
    if (!a[cpu]) continue;
    const total = b[cpu].total - a[cpu].total;
    out[cpu] = total > 0 ? 1 - (b[cpu].idle - a[cpu].idle) / total : null;
  }
  return out;
}

/** irq + softirq fraction of each CPU between two coreTicks() snapshots. */
export function coreIrq(a, b) {
  const out = {};
  for (const cpu of Object.keys(b)) {
    if (!a[cpu]) continue;
    const total = b[cpu].total - a[cpu].total;
    out[cpu] = total > 0 ? (b[cpu].irq - a[cpu].irq) / total : null;
  }
  return out;
}

/**
 * Waits until the processes are idle (at most `maxTicks` CPU ticks in a `windowMs` window) or
 * `timeoutMs` passed; resolves with the time waited (ms). Used so that a proxy that just finished
 * its run (closing connections, GC) does not take CPU from the next one on the shared core.
 */
export async function waitIdle(pids, { windowMs = 250, maxTicks = 1, timeoutMs = 5_000 } = {}) {
  const start = performance.now();
  for (;;) {
    const a = cpuTicks(pids);
    await new Promise((r) => setTimeout(r, windowMs));
    if (cpuTicks(pids) - a <= maxTicks || performance.now() - start > timeoutMs) return performance.now() - start;
  }
}

/** Moves every thread of every process in `pids` to `cpus` (e.g. "0", "1", "0,1"). */
export function repin(pids, cpus) {
  for (const pid of pids) {
    for (const tid of threadsOf(pid)) spawnSync('taskset', ['-p', '-c', cpus, String(tid)], { stdio: 'ignore' });
  }
}

function threadsOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/** The machine's 1-minute load average and the number of CPUs we may use. */
export function machineLoad() {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  return { one, five, fifteen };
}

/** Whether a command can be run (`command -v`). */
export function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, close). Small race, fine on a bench box. */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `probe()` until it resolves truthy, or throws after `timeoutMs` (at once if `proc`, a
 * startProcess result, has exited, with its output).
 */
export async function waitUntil(what, probe, timeoutMs = 20_000, proc = undefined) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${what}: exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.output().slice(-2000)}`);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms${lastError ? `: ${lastError.message}` : ''}`);
}

/**
 * Runs a load generator to its end as the only child of a `sh`, whose /proc stat afterwards gives
 * the generator's exact CPU time (cutime + cstime of the waited-for child, all its threads).
 * Resolves with { code, out, err, wallSeconds, cpuSeconds (null when unknown) }.
 */
export function runTimedChild(cmd, argv) {
  const shScript = '"$@"; s=$?; echo "SH_STAT $(cat /proc/$$/stat)"; exit $s';
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn('sh', ['-c', shScript, 'sh', cmd, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('error', reject);
    child.once('exit', (code) => {
      const stat = /SH_STAT (.*)/.exec(out);
      let cpuSeconds = null;
      if (stat) {
        const fields = stat[1].slice(stat[1].lastIndexOf(')') + 2).split(' ');
        cpuSeconds = (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
      }
      resolve({ code, out, err, wallSeconds: (performance.now() - startedAt) / 1000, cpuSeconds });
    });
  });
}
