import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgePlugin } from '../cni/bridge/bridge.js';
import { DiskStore } from '../cni/ipam/host-local/disk-store.js';
import { HostLocal } from '../cni/ipam/host-local/host-local.js';
import { runSkel } from '../cni/skel.js';
import { ExecNetHost } from '../host/exec-net-host.js';
import { missingTools } from '../host/tools.js';
import { ExecNft } from '../nft/exec-nft.js';
import { ExecCommandRunner } from '../lib/run-command.js';

// Wiring of the CNI plugin with the real OS adapters: used by `portico cni` and by the installed
// `portico-cni` executable (whose entry imports only this, to start fast).

const IPAM_LOCK_TIMEOUT_MS = 30_000;

async function readStdin(): Promise<string> {
  try {
    return readFileSync(0, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
}

/** Where ip, nsenter, flock and nft are looked up when the runtime passes no PATH at all. */
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs one plugin invocation from the process environment; returns the exit status. */
export async function runCniPlugin(processEnv: NodeJS.ProcessEnv = process.env): Promise<number> {
  const env = processEnv['PATH'] ? processEnv : { ...processEnv, PATH: FALLBACK_PATH };
  const log = (message: string) => process.stderr.write(`portico-cni: ${message}\n`);
  const debug = env['PORTICO_CNI_DEBUG'] === '1';
  const runner = new ExecCommandRunner({ env, ...(debug ? { trace: (line: string) => log(line) } : {}) });
  const plugin = new BridgePlugin({
    host: new ExecNetHost({ runner }),
    nft: new ExecNft({ runner }),
    ipam: new HostLocal({
      openStore: (options) => new DiskStore({ ...options, runner, lockTimeoutMs: IPAM_LOCK_TIMEOUT_MS }),
      readFile: (path) => readFile(path, 'utf8'),
    }),
    randomSuffix: () => randomBytes(4).toString('hex'),
    sleep: (ms) => sleep(ms),
    log,
    missingTools: (names) => missingTools(names, env['PATH']),
  });
  return runSkel(plugin, {
    env,
    readStdin,
    writeStdout: (text) => process.stdout.write(text),
    writeStderr: (text) => process.stderr.write(text),
  });
}
