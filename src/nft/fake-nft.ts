import type { FaultPlan } from '../lib/fault-plan.js';
import { NftError, type NftListedRule, type NftRunner, type NftTableObjects } from './runner.js';
import type { NftChainSpec, NftOp, NftSetSpec, NftTableRef, Transaction } from './transaction.js';

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

interface FakeSet {
  spec: NftSetSpec;
  /** key → value ('' for sets). */
  elements: Map<string, string>;
}

interface FakeTable {
  family: string;
  name: string;
  comment?: string;
  nextHandle: number;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

/**
 * An in-memory nftables, as knftables' fake: applies transactions atomically with the kernel's
 * errors for missing objects, duplicate map keys, busy deletes and dangling jumps (from rules or
 * verdict-map elements), and dumps the ruleset in a stable text form for golden tests.
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

  async listTable(ref: NftTableRef): Promise<NftTableObjects | undefined> {
    this.#faults?.step('nft list');
    const table = this.#tables.get(`${ref.family} ${ref.name}`);
    if (!table) return undefined;
    const sets = [...table.sets.values()];
    return {
      chains: [...table.chains.keys()],
      sets: sets.filter((s) => s.spec.valueType === undefined).map((s) => s.spec.name),
      maps: sets.filter((s) => s.spec.valueType !== undefined).map((s) => s.spec.name),
    };
  }

  /**
   * The ruleset as text: tables, sets/maps and chains in name order, set elements sorted, rules in
   * order (no handles). With `table`, only that table.
   */
  dump(table?: NftTableRef): string {
    const out: string[] = [];
    const keys = table ? [`${table.family} ${table.name}`].filter((k) => this.#tables.has(k)) : [...this.#tables.keys()].sort();
    for (const key of keys) {
      const t = this.#tables.get(key)!;
      out.push(`table ${key} {`);
      if (t.comment !== undefined) out.push(`\tcomment "${t.comment}"`);
      for (const name of [...t.sets.keys()].sort()) {
        const { spec, elements } = t.sets.get(name)!;
        out.push(`\t${spec.valueType !== undefined ? 'map' : 'set'} ${name} {`);
        out.push(`\t\t${spec.typeof ? 'typeof' : 'type'} ${spec.type}${spec.valueType !== undefined ? ` : ${spec.valueType}` : ''}`);
        if (spec.flags && spec.flags.length > 0) out.push(`\t\tflags ${spec.flags.join(',')}`);
        if (spec.timeoutSeconds !== undefined) out.push(`\t\ttimeout ${spec.timeoutSeconds}s`);
        if (spec.comment !== undefined) out.push(`\t\tcomment "${spec.comment}"`);
        for (const k of [...elements.keys()].sort()) out.push(`\t\telement ${k}${spec.valueType !== undefined ? ` : ${elements.get(k)}` : ''}`);
        out.push('\t}');
      }
      for (const name of [...t.chains.keys()].sort()) {
        const chain = t.chains.get(name)!;
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

  /** Number of set and map elements in the whole ruleset. */
  elementCount(): number {
    let count = 0;
    for (const table of this.#tables.values()) for (const set of table.sets.values()) count += set.elements.size;
    return count;
  }
}

function cloneTables(tables: Map<string, FakeTable>): Map<string, FakeTable> {
  const copy = new Map<string, FakeTable>();
  for (const [key, table] of tables) {
    const chains = new Map<string, FakeChain>();
    for (const [name, chain] of table.chains) chains.set(name, { spec: { ...chain.spec }, handle: chain.handle, rules: chain.rules.map((r) => ({ ...r })) });
    const sets = new Map<string, FakeSet>();
    for (const [name, set] of table.sets) sets.set(name, { spec: set.spec, elements: new Map(set.elements) });
    copy.set(key, { ...table, chains, sets });
  }
  return copy;
}

function missing(what: string): NftError {
  return new NftError('not-found', `Error: Could not process rule: No such file or directory (${what})`);
}

function applyOp(tables: Map<string, FakeTable>, ref: NftTableRef, op: NftOp): void {
  const key = `${ref.family} ${ref.name}`;
  if (op.op === 'add-table') {
    const existing = tables.get(key);
    if (existing) {
      if (op.comment !== undefined) existing.comment = op.comment;
    } else {
      tables.set(key, { family: ref.family, name: ref.name, ...(op.comment !== undefined ? { comment: op.comment } : {}), nextHandle: 1, chains: new Map(), sets: new Map() });
    }
    return;
  }
  const table = tables.get(key);
  if (!table) throw missing(`table ${key}`);
  switch (op.op) {
    case 'delete-table':
      tables.delete(key);
      return;
    case 'flush-table':
      for (const chain of table.chains.values()) chain.rules = [];
      for (const set of table.sets.values()) set.elements.clear();
      return;
    case 'add-chain': {
      const existing = table.chains.get(op.chain.name);
      if (existing) {
        if ((existing.spec.type ?? '') !== (op.chain.type ?? '') || (existing.spec.hook ?? '') !== (op.chain.hook ?? '')) {
          throw new NftError('exists', `Error: Could not process rule: File exists (chain ${op.chain.name} has another type)`);
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
      if (chain.rules.length > 0) throw new NftError('busy', `Error: Could not process rule: Device or resource busy (chain ${op.chain} is not empty)`);
      if (referencesTo(table, op.chain).length > 0) {
        throw new NftError('busy', `Error: Could not process rule: Device or resource busy (chain ${op.chain} is referenced)`);
      }
      table.chains.delete(op.chain);
      return;
    }
    case 'add-rule': {
      const chain = table.chains.get(op.rule.chain);
      if (!chain) throw missing(`chain ${key} ${op.rule.chain}`);
      for (const m of op.rule.rule.matchAll(SET_REF)) if (!table.sets.has(m[1]!)) throw missing(`set ${m[1]}`);
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
    case 'add-set': {
      const existing = table.sets.get(op.set.name);
      if (existing) {
        if (existing.spec.type !== op.set.type || existing.spec.valueType !== op.set.valueType || !existing.spec.typeof !== !op.set.typeof) {
          throw new NftError('exists', `Error: Could not process rule: File exists (set ${op.set.name} has another type)`);
        }
        return;
      }
      table.sets.set(op.set.name, { spec: { ...op.set }, elements: new Map() });
      return;
    }
    case 'flush-set': {
      const set = table.sets.get(op.set);
      if (!set || (set.spec.valueType !== undefined) !== op.map) throw missing(`${op.map ? 'map' : 'set'} ${op.set}`);
      set.elements.clear();
      return;
    }
    case 'delete-set': {
      const set = table.sets.get(op.set);
      if (!set || (set.spec.valueType !== undefined) !== op.map) throw missing(`${op.map ? 'map' : 'set'} ${op.set}`);
      for (const chain of table.chains.values()) {
        if (chain.rules.some((r) => [...r.rule.matchAll(SET_REF)].some((m) => m[1] === op.set))) {
          throw new NftError('busy', `Error: Could not process rule: Device or resource busy (set ${op.set} is used by chain ${chain.spec.name})`);
        }
      }
      table.sets.delete(op.set);
      return;
    }
    case 'add-element': {
      const set = table.sets.get(op.element.set);
      if (!set) throw missing(`set ${op.element.set}`);
      const value = op.element.value ?? '';
      if ((set.spec.valueType !== undefined) !== (op.element.value !== undefined)) {
        throw new NftError('syntax', `Error: element ${op.element.key} ${set.spec.valueType !== undefined ? 'needs' : 'takes no'} value for ${op.element.set}`);
      }
      const existing = set.elements.get(op.element.key);
      if (existing !== undefined && existing !== value) {
        throw new NftError('exists', `Error: Could not process rule: File exists (element ${op.element.key} in ${op.element.set})`);
      }
      set.elements.set(op.element.key, value);
      return;
    }
    case 'delete-element': {
      const set = table.sets.get(op.element.set);
      if (!set) throw missing(`set ${op.element.set}`);
      if (!set.elements.delete(op.element.key)) throw missing(`element ${op.element.key} in ${op.element.set}`);
      return;
    }
  }
}

const JUMP = /\b(?:jump|goto)\s+([a-zA-Z0-9_./-]+)/g;
const SET_REF = /@([a-zA-Z0-9_./-]+)/g;

/** Where a chain is the target of a jump/goto: rules and verdict-map elements. */
function referencesTo(table: FakeTable, chain: string): string[] {
  const refs: string[] = [];
  for (const c of table.chains.values()) {
    for (const rule of c.rules) for (const m of rule.rule.matchAll(JUMP)) if (m[1] === chain) refs.push(`chain ${c.spec.name}`);
  }
  for (const set of table.sets.values()) {
    for (const value of set.elements.values()) for (const m of value.matchAll(JUMP)) if (m[1] === chain) refs.push(`map ${set.spec.name}`);
  }
  return refs;
}

function checkJumps(table: FakeTable): void {
  for (const chain of table.chains.values()) {
    for (const rule of chain.rules) {
      for (const m of rule.rule.matchAll(JUMP)) if (!table.chains.has(m[1]!)) throw missing(`jump target chain ${m[1]}`);
    }
  }
  for (const set of table.sets.values()) {
    for (const value of set.elements.values()) {
      for (const m of value.matchAll(JUMP)) if (!table.chains.has(m[1]!)) throw missing(`jump target chain ${m[1]} in map ${set.spec.name}`);
    }
  }
}
