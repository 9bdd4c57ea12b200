import { spawn } from 'node:child_process';

// Runs a system tool (ip, nft, nsenter, flock) without a shell and collects its output. The one
// place the OS adapters spawn processes, so they share timeouts and error reporting.

export interface CommandSpec {
  command: string;
  args: readonly string[];
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Extra file descriptors for the child, placed at fd 3, 4, … (e.g. a lock file). */
  extraFds?: readonly number[];
  timeoutMs?: number;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(spec: CommandSpec): Promise<CommandResult>;
}

/** Thrown when a command cannot be started (ENOENT: the tool is not installed) or times out. */
export class CommandError extends Error {
  readonly command: string;
  readonly errno: string | undefined;
  constructor(command: string, message: string, errno?: string) {
    super(message);
    this.name = 'CommandError';
    this.command = command;
    this.errno = errno;
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class ExecCommandRunner implements CommandRunner {
  readonly #env: NodeJS.ProcessEnv;
  readonly #trace: ((line: string) => void) | undefined;

  /**
   * `env` defaults to this process's environment (the runtime gives plugins a system PATH);
   * `trace` receives one line per command with its duration and exit status.
   */
  constructor(options: { env?: NodeJS.ProcessEnv; trace?: (line: string) => void } = {}) {
    this.#env = options.env ?? process.env;
    this.#trace = options.trace;
  }

  async run(spec: CommandSpec): Promise<CommandResult> {
    if (!this.#trace) return this.#spawn(spec);
    const started = performance.now();
    const result = await this.#spawn(spec);
    this.#trace(`${(performance.now() - started).toFixed(1)} ms exit ${result.code}: ${spec.command} ${spec.args.join(' ')}`);
    return result;
  }

  #spawn(spec: CommandSpec): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const stdio: Array<'pipe' | 'ignore' | number> = [spec.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(spec.extraFds ?? [])];
      const child = spawn(spec.command, spec.args, { stdio, env: this.#env });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        reject(new CommandError(spec.command, `${spec.command} timed out after ${spec.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`, 'ETIMEDOUT'));
      }, spec.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const missing = error.code === 'ENOENT' ? ` (is ${spec.command} installed and on PATH?)` : '';
        reject(new CommandError(spec.command, `cannot run ${spec.command}: ${error.message}${missing}`, error.code));
      });
      child.on('close', (code, signal) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        });
      });
      if (spec.input !== undefined) {
        child.stdin!.on('error', () => {}); // the child may exit before reading everything
        child.stdin!.end(spec.input);
      }
    });
  }
}
