import type { NftTableRef, Transaction } from './transaction.js';

/** A rule as listed back: its handle and comment (the rule body is not needed to find owned rules). */
export interface NftListedRule {
  chain: string;
  handle: number;
  comment?: string;
}

export interface NftRunner {
  /** Applies the transaction atomically: all of it or nothing. */
  run(tx: Transaction): Promise<void>;
  /** The rules of a chain in order; empty when the table or chain does not exist. */
  listRules(ref: NftTableRef & { chain: string }): Promise<NftListedRule[]>;
}

export class NftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NftError';
  }
}
