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

/** A named set, or a map when `valueType` is given (`verdict` for vmaps). */
export interface NftSetSpec {
  name: string;
  /** Key type, e.g. `ipv4_addr . inet_proto . inet_service`. */
  type: string;
  /** Maps only: the value type, e.g. `verdict`. */
  valueType?: string;
  /**
   * `type` and `valueType` are `typeof` expressions (`ip daddr . numgen random mod 1`): for keys
   * that have no type name, such as numgen's integer.
   */
  typeof?: boolean;
  flags?: ReadonlyArray<'constant' | 'interval' | 'timeout' | 'dynamic'>;
  /** Default element timeout in seconds (sets with the `timeout` flag). */
  timeoutSeconds?: number;
  comment?: string;
}

export interface NftElementSpec {
  /** The set or map. */
  set: string;
  /** The key in nft syntax, e.g. `10.96.0.1 . tcp . 80`. */
  key: string;
  /** Maps only: the value in nft syntax, e.g. `goto service-x`. */
  value?: string;
}

export type NftOp =
  | { op: 'add-table'; comment?: string }
  | { op: 'delete-table' }
  | { op: 'flush-table' }
  | { op: 'add-set'; set: NftSetSpec }
  | { op: 'flush-set'; set: string; map: boolean }
  | { op: 'delete-set'; set: string; map: boolean }
  | { op: 'add-element'; element: NftElementSpec }
  | { op: 'delete-element'; element: NftElementSpec }
  | { op: 'add-chain'; chain: NftChainSpec }
  | { op: 'flush-chain'; chain: string }
  | { op: 'delete-chain'; chain: string }
  | { op: 'add-rule'; rule: NftRuleSpec }
  | { op: 'delete-rule'; chain: string; handle: number };

// nft's unquoted identifiers: a letter, `_` or `.`, then letters, digits and `/ - _ .`. kube-proxy's
// chain names (`service-HASH-ns/name/tcp/port`) need the slashes; 200 stays under NFT_NAME_MAXLEN.
const NAME = /^[a-zA-Z_][a-zA-Z0-9_./-]{0,199}$/;
/** Set keys, map values and element text: nft expressions, no statement separators or quotes. */
const ELEMENT_TEXT = /^[a-zA-Z0-9_.:/ [\]-]+$/;
const SET_TYPE = /^[a-z0-9_ .]+$/;

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

  /** Removes every rule and every set/map element of the table; chains and sets stay. */
  flushTable(): this {
    this.#ops.push({ op: 'flush-table' });
    return this;
  }

  /** Adds a set, or a map when `valueType` is set; a no-op when it exists with the same type. */
  addSet(set: NftSetSpec): this {
    checkName(set.name);
    if (!SET_TYPE.test(set.type) || (set.valueType !== undefined && !SET_TYPE.test(set.valueType))) {
      throw new Error(`invalid nft set type ${JSON.stringify(set.type)} : ${JSON.stringify(set.valueType)}`);
    }
    if (set.timeoutSeconds !== undefined && (!Number.isInteger(set.timeoutSeconds) || set.timeoutSeconds <= 0)) {
      throw new Error(`invalid nft set timeout ${set.timeoutSeconds}`);
    }
    this.#ops.push({ op: 'add-set', set: { ...set, ...(set.comment !== undefined ? { comment: sanitizeComment(set.comment) } : {}) } });
    return this;
  }

  flushSet(name: string, options: { map?: boolean } = {}): this {
    checkName(name);
    this.#ops.push({ op: 'flush-set', set: name, map: options.map ?? false });
    return this;
  }

  deleteSet(name: string, options: { map?: boolean } = {}): this {
    checkName(name);
    this.#ops.push({ op: 'delete-set', set: name, map: options.map ?? false });
    return this;
  }

  addElement(element: NftElementSpec): this {
    checkElement(element);
    this.#ops.push({ op: 'add-element', element: { ...element } });
    return this;
  }

  /** Deletes an element by key (any value is ignored). */
  deleteElement(element: NftElementSpec): this {
    checkElement(element);
    this.#ops.push({ op: 'delete-element', element: { set: element.set, key: element.key } });
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
    // Rules come in runs per chain: validate a chain name once per run (a full sync adds 100k+ rules).
    if (rule.chain !== this.#lastRuleChain) {
      checkName(rule.chain);
      this.#lastRuleChain = rule.chain;
    }
    if (/[\n;#"]/.test(rule.rule)) throw new Error(`invalid nft rule ${JSON.stringify(rule.rule)}`);
    this.#ops.push({ op: 'add-rule', rule: rule.comment !== undefined ? { ...rule, comment: sanitizeComment(rule.comment) } : { chain: rule.chain, rule: rule.rule } });
    return this;
  }

  #lastRuleChain: string | undefined;

  deleteRule(options: { chain: string; handle: number }): this {
    checkName(options.chain);
    if (!Number.isInteger(options.handle) || options.handle <= 0) throw new Error(`invalid nft rule handle ${options.handle}`);
    this.#ops.push({ op: 'delete-rule', chain: options.chain, handle: options.handle });
    return this;
  }

  /** The transaction as `nft -f` input. */
  /**
   * `nft -f` text. A run of element adds (or deletes) becomes one statement per set, in the order
   * the sets first appear: the same batch, but nft evaluates a command per statement, and one per
   * element made it 1.7× slower on a full sync of 1,000 Services (10 endpoints each).
   */
  render(): string {
    const t = `${this.table.family} ${this.table.name}`;
    const lines: string[] = [];
    for (let i = 0; i < this.#ops.length; ) {
      const op = this.#ops[i]!;
      if (op.op !== 'add-element' && op.op !== 'delete-element') {
        lines.push(renderOp(t, op));
        i++;
        continue;
      }
      const bySet = new Map<string, string[]>();
      for (; i < this.#ops.length && this.#ops[i]!.op === op.op; i++) {
        const { element } = this.#ops[i] as { element: NftElementSpec };
        let items = bySet.get(element.set);
        if (!items) bySet.set(element.set, (items = []));
        items.push(op.op === 'add-element' && element.value !== undefined ? `${element.key} : ${element.value}` : element.key);
      }
      const verb = op.op === 'add-element' ? 'add' : 'delete';
      for (const [set, items] of bySet) lines.push(`${verb} element ${t} ${set} { ${items.join(', ')} }`);
    }
    return lines.join('\n') + (lines.length > 0 ? '\n' : '');
  }
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`invalid nft chain name ${JSON.stringify(name)}`);
}

function checkElement(element: NftElementSpec): void {
  checkName(element.set);
  if (!ELEMENT_TEXT.test(element.key) || (element.value !== undefined && !ELEMENT_TEXT.test(element.value))) {
    throw new Error(`invalid nft element ${JSON.stringify(element.key)} : ${JSON.stringify(element.value)}`);
  }
}

function renderSet(table: string, s: NftSetSpec): string {
  const parts = [`${s.typeof ? 'typeof' : 'type'} ${s.type}${s.valueType !== undefined ? ` : ${s.valueType}` : ''} ;`];
  if (s.flags && s.flags.length > 0) parts.push(`flags ${s.flags.join(',')} ;`);
  if (s.timeoutSeconds !== undefined) parts.push(`timeout ${s.timeoutSeconds}s ;`);
  if (s.comment !== undefined) parts.push(`comment "${s.comment}" ;`);
  return `add ${s.valueType !== undefined ? 'map' : 'set'} ${table} ${s.name} { ${parts.join(' ')} }`;
}

function renderOp(table: string, op: NftOp): string {
  switch (op.op) {
    case 'add-table':
      return op.comment !== undefined ? `add table ${table} { comment "${op.comment}" ; }` : `add table ${table}`;
    case 'delete-table':
      return `delete table ${table}`;
    case 'flush-table':
      return `flush table ${table}`;
    case 'add-set':
      return renderSet(table, op.set);
    case 'flush-set':
      return `flush ${op.map ? 'map' : 'set'} ${table} ${op.set}`;
    case 'delete-set':
      return `delete ${op.map ? 'map' : 'set'} ${table} ${op.set}`;
    case 'add-element':
      return `add element ${table} ${op.element.set} { ${op.element.key}${op.element.value !== undefined ? ` : ${op.element.value}` : ''} }`;
    case 'delete-element':
      return `delete element ${table} ${op.element.set} { ${op.element.key} }`;
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
