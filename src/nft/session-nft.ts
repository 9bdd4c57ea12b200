import { spawn, type ChildProcess } from 'node:child_process';
import type { CommandRunner } from '../lib/run-command.js';
import { ExecNft } from './exec-nft.js';
import { classifyNftFailure, NftError, type NftListedRule, type NftRunner, type NftTableObjects } from './runner.js';
import type { NftTableRef, Transaction } from './transaction.js';

export interface SessionNftOptions {
  runner: CommandRunner;
  binary?: string;
  /** Transactions larger than this go through a one-shot `nft -f` (full syncs). */
  maxSessionOps?: number;
  timeoutMs?: number;
}

// `describe` reads no kernel state and always answers: its line marks the end of a batch's output.
const MARKER_COMMAND = 'describe meta mark';
const MARKER_TEXT = 'datatype mark';

/**
 * Small transactions through one long-lived `nft -i`: a new nft process reads the table's chains
 * and sets from the kernel before every transaction (nft 1.0: ~60 ms per change at 10k Services),
 * while a session keeps its cache and re-reads only when the ruleset generation moved. Each
 * transaction is one input line, which nft applies as one atomic batch. Large transactions and
 * listings use one-shot processes (ExecNft). A session that dies or hangs is replaced.
 */
export class SessionNft implements NftRunner {
  readonly #oneShot: ExecNft;
  readonly #binary: string;
  readonly #maxSessionOps: number;
  readonly #timeoutMs: number;
  #child: ChildProcess | undefined;
  #output = '';
  #waiter: (() => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: SessionNftOptions) {
    this.#binary = options.binary ?? 'nft';
    this.#oneShot = new ExecNft({ runner: options.runner, binary: this.#binary, ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) });
    this.#maxSessionOps = options.maxSessionOps ?? 5000;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  run(tx: Transaction): Promise<void> {
    if (tx.size === 0) return Promise.resolve();
    if (tx.size > this.#maxSessionOps) return this.#serial(() => this.#oneShot.run(tx));
    return this.#serial(() => this.#runInSession(tx));
  }

  listRules(ref: NftTableRef & { chain: string }): Promise<NftListedRule[]> {
    return this.#oneShot.listRules(ref);
  }

  listTable(ref: NftTableRef): Promise<NftTableObjects | undefined> {
    return this.#oneShot.listTable(ref);
  }

  /** Ends the session process. */
  close(): void {
    this.#child?.stdin?.end();
    this.#child?.kill();
    this.#child = undefined;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #session(): ChildProcess {
    if (this.#child && this.#child.exitCode === null && !this.#child.killed) return this.#child;
    // stderr into stdout, so an error is always read before the marker that follows it.
    const child = spawn('sh', ['-c', 'exec "$0" -i 2>&1', this.#binary], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.#output += chunk;
      this.#waiter?.();
    });
    child.on('exit', () => {
      if (this.#child === child) this.#child = undefined;
      this.#waiter?.();
    });
    child.on('error', () => undefined);
    child.stdin!.on('error', () => undefined);
    this.#child = child;
    this.#output = '';
    return child;
  }

  async #runInSession(tx: Transaction): Promise<void> {
    const child = this.#session();
    this.#output = '';
    // One line: nft applies everything on it as one batch, all or nothing.
    const line = tx.render().trimEnd().split('\n').join(' ; ');
    child.stdin!.write(`${line}\n${MARKER_COMMAND}\n`);
    const done = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), this.#timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(ok);
      };
      this.#waiter = () => {
        if (this.#output.includes(MARKER_TEXT)) finish(true);
        else if (this.#child !== child) finish(false);
      };
      this.#waiter();
    });
    const output = this.#output;
    this.#output = '';
    if (!done) {
      this.close();
      throw new NftError('unavailable', `nft -i: no answer within ${this.#timeoutMs} ms or the session ended${output ? `: ${output.trim().slice(0, 500)}` : ''}`);
    }
    const text = output.slice(0, output.indexOf(MARKER_TEXT));
    if (/Error:/.test(text)) {
      throw new NftError(classifyNftFailure(text), `nft: ${text.replace(/[^\n]*datatype[^\n]*$/, '').trim()}`);
    }
  }
}
