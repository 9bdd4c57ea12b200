// An nftables transaction is a value: a list of operations on one table, rendered as `nft -f`
// text and applied atomically by an NftRunner (exec or fake). Modelled on knftables.

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';

export interface NftTableRef {
  family: NftFamily;
  name: string;
}

export interface NftChainSpec {
  name: string;
  /** Base chains only: `nat`, `filter`, `route`. */
  type?: 'nat' | 'filter' | 'route';
  hook?: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** e.g. `srcnat`, `dstnat`, `filter`, or a number. */
  priority?: string;
  policy?: 'accept' | 'drop';
  comment?: string;
}

export interface NftRuleSpec {
  chain: string;
  /** The rule body in nft syntax, without the comment. */
  rule: string;
  comment?: string;
}

export type NftOp =
  | { op: 'add-table'; comment?: string }
  | { op: 'delete-table' }
  | { op: 'add-chain'; chain: NftChainSpec }
  | { op: 'flush-chain'; chain: string }
  | { op: 'delete-chain'; chain: string }
  | { op: 'add-rule'; rule: NftRuleSpec }
  | { op: 'delete-rule'; chain: string; handle: number };

const NAME = /^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/;

/** Characters that may appear inside a quoted nft comment (no quotes, no backslashes). */
export function sanitizeComment(text: string): string {
  return text.replace(/[^a-zA-Z0-9 _.:=/,@+-]/g, '_').slice(0, 128);
}

export class Transaction {
  readonly table: NftTableRef;
  readonly #ops: NftOp[] = [];

  constructor(table: NftTableRef) {
    if (!NAME.test(table.name)) throw new Error(`invalid nft table name ${JSON.stringify(table.name)}`);
    this.table = table;
  }

  get ops(): readonly NftOp[] {
    return this.#ops;
  }

  get size(): number {
    return this.#ops.length;
  }

  addTable(options: { comment?: string } = {}): this {
    this.#ops.push({ op: 'add-table', ...(options.comment !== undefined ? { comment: sanitizeComment(options.comment) } : {}) });
    return this;
  }

  deleteTable(): this {
    this.#ops.push({ op: 'delete-table' });
    return this;
  }

  addChain(chain: NftChainSpec): this {
    checkName(chain.name);
    this.#ops.push({ op: 'add-chain', chain: { ...chain, ...(chain.comment !== undefined ? { comment: sanitizeComment(chain.comment) } : {}) } });
    return this;
  }

  flushChain(chain: string): this {
    checkName(chain);
    this.#ops.push({ op: 'flush-chain', chain });
    return this;
  }

  deleteChain(chain: string): this {
    checkName(chain);
    this.#ops.push({ op: 'delete-chain', chain });
    return this;
  }

  addRule(rule: NftRuleSpec): this {
    checkName(rule.chain);
    if (/[\n;#"]/.test(rule.rule)) throw new Error(`invalid nft rule ${JSON.stringify(rule.rule)}`);
    this.#ops.push({ op: 'add-rule', rule: { ...rule, ...(rule.comment !== undefined ? { comment: sanitizeComment(rule.comment) } : {}) } });
    return this;
  }

  deleteRule(options: { chain: string; handle: number }): this {
    checkName(options.chain);
    if (!Number.isInteger(options.handle) || options.handle <= 0) throw new Error(`invalid nft rule handle ${options.handle}`);
    this.#ops.push({ op: 'delete-rule', chain: options.chain, handle: options.handle });
    return this;
  }

  /** The transaction as `nft -f` input. */
  render(): string {
    const t = `${this.table.family} ${this.table.name}`;
    return this.#ops.map((op) => renderOp(t, op)).join('\n') + (this.#ops.length > 0 ? '\n' : '');
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`invalid nft chain name ${JSON.stringify(name)}`);
}

function renderOp(table: string, op: NftOp): string {
  switch (op.op) {
    case 'add-table':
      return op.comment !== undefined ? `add table ${table} { comment "${op.comment}" ; }` : `add table ${table}`;
    case 'delete-table':
      return `delete table ${table}`;
    case 'add-chain': {
      const c = op.chain;
      const parts: string[] = [];
      if (c.type && c.hook) parts.push(`type ${c.type} hook ${c.hook} priority ${c.priority ?? '0'} ;`);
      if (c.policy) parts.push(`policy ${c.policy} ;`);
      if (c.comment !== undefined) parts.push(`comment "${c.comment}" ;`);
      return parts.length > 0 ? `add chain ${table} ${c.name} { ${parts.join(' ')} }` : `add chain ${table} ${c.name}`;
    }
    case 'flush-chain':
      return `flush chain ${table} ${op.chain}`;
    case 'delete-chain':
      return `delete chain ${table} ${op.chain}`;
    case 'add-rule':
      return `add rule ${table} ${op.rule.chain} ${op.rule.rule}${op.rule.comment !== undefined ? ` comment "${op.rule.comment}"` : ''}`;
    case 'delete-rule':
      return `delete rule ${table} ${op.chain} handle ${op.handle}`;
  }
}
