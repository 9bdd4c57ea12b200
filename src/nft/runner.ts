import type { NftTableRef, Transaction } from './transaction.js';

/** A rule as listed back: its handle and comment (the rule body is not needed to find owned rules). */
export interface NftListedRule {
  chain: string;
  handle: number;
  comment?: string;
}

/** The names of what a table holds (no rules, no elements). */
export interface NftTableObjects {
  chains: string[];
  sets: string[];
  maps: string[];
}

export interface NftRunner {
  /** Applies the transaction atomically: all of it or nothing. */
  run(tx: Transaction): Promise<void>;
  /** The rules of a chain in order; empty when the table or chain does not exist. */
  listRules(ref: NftTableRef & { chain: string }): Promise<NftListedRule[]>;
  /** The chains, sets and maps of a table; undefined when the table does not exist. */
  listTable(ref: NftTableRef): Promise<NftTableObjects | undefined>;
}

/**
 * What went wrong, as the kernel or the tool says it: `not-found` (ENOENT: a missing table, chain,
 * set, element or jump target), `exists` (EEXIST), `busy` (EBUSY: deleting a chain or set still in
 * use), `syntax` (nft rejected the text), `permission` (EPERM: not root / no CAP_NET_ADMIN),
 * `unavailable` (the nft binary is missing or timed out), `other`.
 */
export type NftErrorKind = 'not-found' | 'exists' | 'busy' | 'syntax' | 'permission' | 'unavailable' | 'other';

export class NftError extends Error {
  readonly kind: NftErrorKind;
  constructor(kind: NftErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NftError';
    this.kind = kind;
  }
}

/** The kind of an nft failure, from its stderr (the one place that reads nft's messages). */
export function classifyNftFailure(stderr: string): NftErrorKind {
  if (/No such file or directory/i.test(stderr)) return 'not-found';
  if (/File exists/i.test(stderr)) return 'exists';
  if (/Device or resource busy/i.test(stderr)) return 'busy';
  if (/Operation not permitted|Permission denied/i.test(stderr)) return 'permission';
  if (/syntax error|unexpected|Could not parse|Could not resolve|invalid|\/dev\/stdin:\d+:\d+/i.test(stderr)) return 'syntax';
  return 'other';
}
