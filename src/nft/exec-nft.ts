import type { CommandRunner } from '../lib/run-command.js';
import { NftError, type NftListedRule, type NftRunner } from './runner.js';
import type { NftTableRef, Transaction } from './transaction.js';

/** Runs transactions through `nft -f -` and lists rules with `nft --json`. */
export class ExecNft implements NftRunner {
  readonly #runner: CommandRunner;
  readonly #binary: string;

  constructor(options: { runner: CommandRunner; binary?: string }) {
    this.#runner = options.runner;
    this.#binary = options.binary ?? 'nft';
  }

  async run(tx: Transaction): Promise<void> {
    if (tx.size === 0) return;
    const result = await this.#runner.run({ command: this.#binary, args: ['-f', '-'], input: tx.render() });
    if (result.code !== 0) throw new NftError(`nft: ${result.stderr.trim() || `exit ${result.code}`}`);
  }

  async listRules(ref: NftTableRef & { chain: string }): Promise<NftListedRule[]> {
    const result = await this.#runner.run({ command: this.#binary, args: ['--json', 'list', 'chain', ref.family, ref.name, ref.chain] });
    if (result.code !== 0) {
      if (/No such file or directory/.test(result.stderr)) return [];
      throw new NftError(`nft: ${result.stderr.trim() || `exit ${result.code}`}`);
    }
    return parseListedRules(result.stdout);
  }
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
