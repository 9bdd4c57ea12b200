import type { FaultPlan } from '../lib/fault-plan.js';
import { NftError, type NftListedRule, type NftRunner } from './runner.js';
import type { NftChainSpec, NftOp, NftTableRef, Transaction } from './transaction.js';

interface FakeRule {
  handle: number;
  rule: string;
  comment?: string;
}

interface FakeChain {
  spec: NftChainSpec;
  handle: number;
  rules: FakeRule[];
}

interface FakeTable {
  family: string;
  name: string;
  comment?: string;
  nextHandle: number;
  chains: Map<string, FakeChain>;
}

/**
 * An in-memory nftables: applies transactions atomically with the kernel's errors for missing
 * objects and dangling jumps, and dumps the ruleset as `nft list ruleset` would.
 */
export class FakeNft implements NftRunner {
  #tables = new Map<string, FakeTable>();
  readonly #faults: FaultPlan | undefined;
  /** Every transaction applied, rendered, in order. */
  readonly history: string[] = [];

  constructor(options: { faults?: FaultPlan } = {}) {
    this.#faults = options.faults;
  }

  async run(tx: Transaction): Promise<void> {
    this.#faults?.step('nft run');
    if (tx.size === 0) return;
    const next = cloneTables(this.#tables);
    for (const op of tx.ops) applyOp(next, tx.table, op);
    for (const table of next.values()) checkJumps(table);
    this.#tables = next;
    this.history.push(tx.render());
  }

  async listRules(ref: NftTableRef & { chain: string }): Promise<NftListedRule[]> {
    this.#faults?.step('nft list');
    const chain = this.#tables.get(`${ref.family} ${ref.name}`)?.chains.get(ref.chain);
    if (!chain) return [];
    return chain.rules.map((r) => ({ chain: ref.chain, handle: r.handle, ...(r.comment !== undefined ? { comment: r.comment } : {}) }));
  }

  /** The ruleset as text, tables and chains in name order, rules in order (no handles). */
  dump(): string {
    const out: string[] = [];
    for (const key of [...this.#tables.keys()].sort()) {
      const table = this.#tables.get(key)!;
      out.push(`table ${key} {`);
      if (table.comment !== undefined) out.push(`\tcomment "${table.comment}"`);
      for (const name of [...table.chains.keys()].sort()) {
        const chain = table.chains.get(name)!;
        out.push(`\tchain ${name} {`);
        if (chain.spec.comment !== undefined) out.push(`\t\tcomment "${chain.spec.comment}"`);
        if (chain.spec.type) out.push(`\t\ttype ${chain.spec.type} hook ${chain.spec.hook} priority ${chain.spec.priority ?? '0'}; policy ${chain.spec.policy ?? 'accept'};`);
        for (const rule of chain.rules) out.push(`\t\t${rule.rule}${rule.comment !== undefined ? ` comment "${rule.comment}"` : ''}`);
        out.push('\t}');
      }
      out.push('}');
    }
    return out.join('\n') + (out.length > 0 ? '\n' : '');
  }

  /** Number of rules in the whole ruleset. */
  ruleCount(): number {
    let count = 0;
    for (const table of this.#tables.values()) for (const chain of table.chains.values()) count += chain.rules.length;
    return count;
  }
}

function cloneTables(tables: Map<string, FakeTable>): Map<string, FakeTable> {
  const copy = new Map<string, FakeTable>();
  for (const [key, table] of tables) {
    const chains = new Map<string, FakeChain>();
    for (const [name, chain] of table.chains) chains.set(name, { spec: { ...chain.spec }, handle: chain.handle, rules: chain.rules.map((r) => ({ ...r })) });
    copy.set(key, { ...table, chains });
  }
  return copy;
}

function missing(what: string): NftError {
  return new NftError(`Error: Could not process rule: No such file or directory (${what})`);
}

function applyOp(tables: Map<string, FakeTable>, ref: NftTableRef, op: NftOp): void {
  const key = `${ref.family} ${ref.name}`;
  if (op.op === 'add-table') {
    const existing = tables.get(key);
    if (existing) {
      if (op.comment !== undefined) existing.comment = op.comment;
    } else {
      tables.set(key, { family: ref.family, name: ref.name, ...(op.comment !== undefined ? { comment: op.comment } : {}), nextHandle: 1, chains: new Map() });
    }
    return;
  }
  const table = tables.get(key);
  if (!table) throw missing(`table ${key}`);
  switch (op.op) {
    case 'delete-table':
      tables.delete(key);
      return;
    case 'add-chain': {
      const existing = table.chains.get(op.chain.name);
      if (existing) {
        if ((existing.spec.type ?? '') !== (op.chain.type ?? '') || (existing.spec.hook ?? '') !== (op.chain.hook ?? '')) {
          throw new NftError(`Error: Could not process rule: File exists (chain ${op.chain.name} has another type)`);
        }
        return;
      }
      table.chains.set(op.chain.name, { spec: { ...op.chain }, handle: table.nextHandle++, rules: [] });
      return;
    }
    case 'flush-chain': {
      const chain = table.chains.get(op.chain);
      if (!chain) throw missing(`chain ${key} ${op.chain}`);
      chain.rules = [];
      return;
    }
    case 'delete-chain': {
      const chain = table.chains.get(op.chain);
      if (!chain) throw missing(`chain ${key} ${op.chain}`);
      if (chain.rules.length > 0) throw new NftError(`Error: Could not process rule: Device or resource busy (chain ${op.chain} is not empty)`);
      table.chains.delete(op.chain);
      return;
    }
    case 'add-rule': {
      const chain = table.chains.get(op.rule.chain);
      if (!chain) throw missing(`chain ${key} ${op.rule.chain}`);
      chain.rules.push({ handle: table.nextHandle++, rule: op.rule.rule, ...(op.rule.comment !== undefined ? { comment: op.rule.comment } : {}) });
      return;
    }
    case 'delete-rule': {
      const chain = table.chains.get(op.chain);
      if (!chain) throw missing(`chain ${key} ${op.chain}`);
      const index = chain.rules.findIndex((r) => r.handle === op.handle);
      if (index < 0) throw missing(`rule handle ${op.handle}`);
      chain.rules.splice(index, 1);
      return;
    }
  }
}

function checkJumps(table: FakeTable): void {
  for (const chain of table.chains.values()) {
    for (const rule of chain.rules) {
      const target = /\b(?:jump|goto)\s+(\S+)/.exec(rule.rule)?.[1];
      if (target !== undefined && !table.chains.has(target)) throw missing(`jump target chain ${target}`);
    }
  }
}
