// Desired state → one nft transaction. A full sync rewrites every chain and map it owns and removes
// whatever else is in the table; a partial sync touches only the chains, sets and elements of the
// Services that changed. Affinity sets are never flushed: their dynamic entries are the stickiness.
import { Transaction, type NftSetSpec, type NftTableRef } from '../nft/transaction.js';
import type { NftTableObjects } from '../nft/runner.js';
import type { BaseRuleset, ChainState, ElementState, ServiceFragment } from './ruleset.js';

export const TABLE_COMMENT = 'rules for portico service-proxy';

/** One Service's fragment before and after a change (undefined: absent). */
export interface FragmentChange {
  readonly before: ServiceFragment | undefined;
  readonly after: ServiceFragment | undefined;
}

/**
 * A full sync. With `previous` (the applied fragments, trusted: the last sync succeeded and every
 * chain it made still exists), as kube-proxy's: base chains, sets and maps are re-created and
 * refilled, Service chains are written only where they differ from `previous`. Without it, every
 * chain is flushed and refilled. Either way affinity sets are kept, and whatever `existing` lists
 * that is no longer wanted is flushed and deleted.
 */
export function renderFullSync(
  table: NftTableRef,
  base: BaseRuleset,
  fragments: ReadonlyMap<string, ServiceFragment>,
  existing: NftTableObjects | undefined,
  previous?: ReadonlyMap<string, ServiceFragment>,
  /** Elements of base sets owned by no single Service (the hairpin set). */
  shared: readonly ElementState[] = [],
): Transaction {
  const tx = new Transaction(table).addTable({ comment: TABLE_COMMENT });
  const wantedChains = new Set<string>(base.chains.keys());
  const dynamicSets = new Map<string, NftSetSpec>();
  for (const fragment of fragments.values()) {
    for (const name of fragment.chains.keys()) wantedChains.add(name);
    for (const [name, set] of fragment.sets) dynamicSets.set(name, set);
  }
  for (const set of base.sets.values()) tx.addSet(set).flushSet(set.name, { map: set.valueType !== undefined });
  for (const set of dynamicSets.values()) tx.addSet(set);
  for (const chain of base.chains.values()) tx.addChain(chain.spec).flushChain(chain.spec.name);
  const written: ChainState[] = [...base.chains.values()];
  for (const [key, fragment] of fragments) {
    const before = previous?.get(key);
    for (const [name, chain] of fragment.chains) {
      const old = before?.chains.get(name);
      if (old !== undefined && sameRules(old, chain)) continue;
      tx.addChain(chain.spec);
      if (previous === undefined || old !== undefined) tx.flushChain(name);
      written.push(chain);
    }
  }
  for (const chain of written) for (const rule of chain.rules) tx.addRule({ chain: chain.spec.name, rule });
  for (const e of base.elements) tx.addElement(e);
  for (const e of shared) tx.addElement(e);
  for (const fragment of fragments.values()) for (const e of fragment.elements) tx.addElement(e);
  const stale = new Set<string>();
  for (const name of existing?.chains ?? []) if (!wantedChains.has(name)) stale.add(name);
  for (const fragment of previous?.values() ?? []) for (const name of fragment.chains.keys()) if (!wantedChains.has(name)) stale.add(name);
  for (const name of stale) tx.flushChain(name);
  for (const name of stale) tx.deleteChain(name);
  const staleSets = new Set<string>();
  for (const name of existing?.sets ?? []) if (!base.sets.has(name) && !dynamicSets.has(name)) staleSets.add(name);
  for (const fragment of previous?.values() ?? []) for (const name of fragment.sets.keys()) if (!dynamicSets.has(name)) staleSets.add(name);
  for (const name of staleSets) tx.deleteSet(name);
  for (const name of existing?.maps ?? []) if (!base.sets.has(name)) tx.deleteSet(name, { map: true });
  return tx;
}

/** Only what changed: new chains and sets first, refilled chains, element diffs, then removals. */
export function renderPartialSync(
  table: NftTableRef,
  changes: readonly FragmentChange[],
  shared: { readonly adds: readonly ElementState[]; readonly deletes: readonly ElementState[] } = { adds: [], deletes: [] },
): Transaction {
  const tx = new Transaction(table);
  for (const { before, after } of changes) {
    if (!after) continue;
    for (const [name, set] of after.sets) if (!before?.sets.has(name)) tx.addSet(set);
    for (const [name, chain] of after.chains) if (!before?.chains.has(name)) tx.addChain(chain.spec);
  }
  for (const { before, after } of changes) {
    if (!after) continue;
    for (const [name, chain] of after.chains) {
      const old = before?.chains.get(name);
      if (old !== undefined && sameRules(old, chain)) continue;
      if (old !== undefined) tx.flushChain(name);
      for (const rule of chain.rules) tx.addRule({ chain: name, rule });
    }
  }
  // Deletes before adds: a key may move from one Service to another in the same sync.
  const adds: Array<{ set: string; key: string; value?: string }> = [];
  for (const { before, after } of changes) {
    const old = elementMap(before);
    const next = elementMap(after);
    for (const [id, e] of old) {
      const now = next.get(id);
      if (now === undefined || now.value !== e.value) tx.deleteElement(e);
    }
    for (const [id, e] of next) {
      const was = old.get(id);
      if (was === undefined || was.value !== e.value) adds.push(e);
    }
  }
  for (const e of shared.deletes) tx.deleteElement(e);
  for (const e of adds) tx.addElement(e);
  for (const e of shared.adds) tx.addElement(e);
  const removedChains: string[] = [];
  const removedSets: string[] = [];
  for (const { before, after } of changes) {
    if (!before) continue;
    for (const name of before.chains.keys()) if (!after?.chains.has(name)) removedChains.push(name);
    for (const name of before.sets.keys()) if (!after?.sets.has(name)) removedSets.push(name);
  }
  for (const name of removedChains) tx.flushChain(name);
  for (const name of removedChains) tx.deleteChain(name);
  for (const name of removedSets) tx.deleteSet(name);
  return tx;
}

function sameRules(a: ChainState, b: ChainState): boolean {
  return a.rules.length === b.rules.length && a.rules.every((rule, i) => rule === b.rules[i]);
}

function elementMap(fragment: ServiceFragment | undefined): Map<string, { set: string; key: string; value?: string }> {
  const map = new Map<string, { set: string; key: string; value?: string }>();
  for (const e of fragment?.elements ?? []) map.set(`${e.set}\u0000${e.key}`, e);
  return map;
}
