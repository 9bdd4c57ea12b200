import { CommandError, type CommandRunner } from '../lib/run-command.js';
import { classifyNftFailure, NftError, type NftListedRule, type NftRunner, type NftTableObjects } from './runner.js';
import type { NftTableRef, Transaction } from './transaction.js';

/** Runs transactions through `nft -f -` and lists rules with `nft --json`. */
export class ExecNft implements NftRunner {
  readonly #runner: CommandRunner;
  readonly #binary: string;
  readonly #timeoutMs: number | undefined;

  /** `timeoutMs`: per nft invocation (the runner's default, 60 s, when undefined). */
  constructor(options: { runner: CommandRunner; binary?: string; timeoutMs?: number }) {
    this.#runner = options.runner;
    this.#binary = options.binary ?? 'nft';
    this.#timeoutMs = options.timeoutMs;
  }

  async run(tx: Transaction): Promise<void> {
    if (tx.size === 0) return;
    const result = await this.#exec(['-f', '-'], tx.render());
    if (result.code !== 0) throw failure(result);
  }

  async listRules(ref: NftTableRef & { chain: string }): Promise<NftListedRule[]> {
    const result = await this.#exec(['--json', 'list', 'chain', ref.family, ref.name, ref.chain]);
    if (result.code !== 0) {
      const error = failure(result);
      if (error.kind === 'not-found') return [];
      throw error;
    }
    return parseListedRules(result.stdout);
  }

  async listTable(ref: NftTableRef): Promise<NftTableObjects | undefined> {
    // --terse: no set elements (a large service map would make this slow for nothing).
    const result = await this.#exec(['--json', '--terse', 'list', 'table', ref.family, ref.name]);
    if (result.code !== 0) {
      const error = failure(result);
      if (error.kind === 'not-found') return undefined;
      throw error;
    }
    return parseTableObjects(result.stdout);
  }

  async #exec(args: string[], input?: string) {
    try {
      return await this.#runner.run({ command: this.#binary, args, ...(input !== undefined && { input }), ...(this.#timeoutMs !== undefined && { timeoutMs: this.#timeoutMs }) });
    } catch (error) {
      if (error instanceof CommandError) throw new NftError('unavailable', error.message, { cause: error });
      throw error;
    }
  }
}

function failure(result: { code: number; stderr: string }): NftError {
  const text = result.stderr.trim() || `exit ${result.code}`;
  return new NftError(classifyNftFailure(text), `nft: ${text}`);
}

/** Rules from `nft --json list …` output. */
export function parseListedRules(json: string): NftListedRule[] {
  const parsed = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const rules: NftListedRule[] = [];
  for (const item of parsed.nftables ?? []) {
    const rule = item['rule'] as { chain?: unknown; handle?: unknown; comment?: unknown } | undefined;
    if (!rule || typeof rule.chain !== 'string' || typeof rule.handle !== 'number') continue;
    rules.push({ chain: rule.chain, handle: rule.handle, ...(typeof rule.comment === 'string' ? { comment: rule.comment } : {}) });
  }
  return rules;
}

/** Chain, set and map names from `nft --json --terse list table …` output. */
export function parseTableObjects(json: string): NftTableObjects {
  const parsed = JSON.parse(json) as { nftables?: Array<Record<string, { name?: unknown } | undefined>> };
  const objects: NftTableObjects = { chains: [], sets: [], maps: [] };
  for (const item of parsed.nftables ?? []) {
    for (const [kind, list] of [['chain', objects.chains], ['set', objects.sets], ['map', objects.maps]] as const) {
      const name = item[kind]?.name;
      if (typeof name === 'string') list.push(name);
    }
  }
  return objects;
}
