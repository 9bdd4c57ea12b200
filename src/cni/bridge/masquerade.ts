import { createHash } from 'node:crypto';
import { formatCidr, formatIp, maskedPrefix, parseCidr } from '../../lib/cidr.js';
import type { NftListedRule } from '../../nft/runner.js';
import { Transaction, type NftTableRef } from '../../nft/transaction.js';

// ipMasq with nftables: one table for the plugin, a `postrouting` NAT base chain that jumps to
// `pod-masq`, and in it one rule per pod address, owned by its attachment through the comment:
//   ip saddr 10.244.1.2 ip daddr != 10.244.1.0/24 ip daddr != 224.0.0.0/4 masquerade
//     comment "pcni <net8>:<att16> ip=10.244.1.2 net=<name> id=<cid12> if=eth0"
// The effect is the reference's iptables chain (no NAT inside the pod subnet or to multicast,
// masquerade otherwise). DEL and GC find rules by the hashes, so they need neither the netns nor
// the addresses.

export const MASQ_TABLE: NftTableRef = { family: 'inet', name: 'portico-cni' };
export const MASQ_CHAIN = 'pod-masq';
export const POSTROUTING_CHAIN = 'postrouting';
const PREFIX = 'pcni';

function hash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

export function networkHash(network: string): string {
  return hash(`portico-cni\0${network}`, 8);
}

export function attachmentHash(options: { network: string; containerId: string; ifname: string }): string {
  return hash(`${options.network}\0${options.containerId}\0${options.ifname}`, 16);
}

function ownerTag(options: { network: string; containerId: string; ifname: string }): string {
  return `${networkHash(options.network)}:${attachmentHash(options)}`;
}

export interface MasqComment {
  networkHash: string;
  attachmentHash: string;
  ip: string;
}

export function parseMasqComment(comment: string | undefined): MasqComment | undefined {
  const match = /^pcni ([0-9a-f]{8}):([0-9a-f]{16}) ip=(\S+)/.exec(comment ?? '');
  return match ? { networkHash: match[1]!, attachmentHash: match[2]!, ip: match[3]! } : undefined;
}

export interface MasqTarget {
  network: string;
  containerId: string;
  ifname: string;
  /** Pod addresses with their subnet prefix, e.g. `10.244.1.2/24`. */
  addresses: readonly string[];
}

export const JUMP_COMMENT = 'pcni jump';

/** The ADD transaction: ensure table and chains (and the one jump), then one rule per pod address. */
export function renderMasqAdd(target: MasqTarget): Transaction {
  const tx = new Transaction(MASQ_TABLE)
    .addTable({ comment: 'portico-cni: masquerading of pod traffic leaving the pod network' })
    .addChain({ name: MASQ_CHAIN, comment: 'one rule per pod address, owned by its attachment' })
    .addChain({ name: POSTROUTING_CHAIN, type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' })
    .flushChain(POSTROUTING_CHAIN)
    .addRule({ chain: POSTROUTING_CHAIN, rule: `jump ${MASQ_CHAIN}`, comment: JUMP_COMMENT });
  return addPodRules(tx, target);
}

/**
 * Only the pod's rules: the common case, where an earlier ADD made the table and chains. It
 * fails (nothing applied) when they are missing, and the caller falls back to renderMasqAdd.
 */
export function renderMasqRules(target: MasqTarget): Transaction {
  return addPodRules(new Transaction(MASQ_TABLE), target);
}

function addPodRules(tx: Transaction, target: MasqTarget): Transaction {
  const tag = ownerTag(target);
  for (const address of target.addresses) {
    const cidr = parseCidr(address);
    if (!cidr) throw new Error(`invalid pod address ${address}`);
    const ip = formatIp(cidr.ip);
    const subnet = formatCidr(maskedPrefix(cidr));
    const rule =
      cidr.ip.family === 4
        ? `ip saddr ${ip} ip daddr != ${subnet} ip daddr != 224.0.0.0/4 masquerade`
        : `ip6 saddr ${ip} ip6 daddr != ${subnet} ip6 daddr != ff00::/8 masquerade`;
    tx.addRule({
      chain: MASQ_CHAIN,
      rule,
      comment: `${PREFIX} ${tag} ip=${ip} net=${target.network} id=${target.containerId.slice(0, 12)} if=${target.ifname}`,
    });
  }
  return tx;
}

/** The listed rules that belong to the attachment. */
export function ownedRules(rules: readonly NftListedRule[], owner: { network: string; containerId: string; ifname: string }): NftListedRule[] {
  const net = networkHash(owner.network);
  const att = attachmentHash(owner);
  return rules.filter((rule) => {
    const parsed = parseMasqComment(rule.comment);
    return parsed?.networkHash === net && parsed.attachmentHash === att;
  });
}

/** Rules of the network whose attachment is not among `valid` (for GC). */
export function staleRules(rules: readonly NftListedRule[], options: { network: string; valid: ReadonlyArray<{ containerId: string; ifname: string }> }): NftListedRule[] {
  const net = networkHash(options.network);
  const keep = new Set(options.valid.map((v) => attachmentHash({ network: options.network, ...v })));
  return rules.filter((rule) => {
    const parsed = parseMasqComment(rule.comment);
    return parsed?.networkHash === net && !keep.has(parsed.attachmentHash);
  });
}

export function renderMasqDelete(rules: readonly NftListedRule[]): Transaction {
  const tx = new Transaction(MASQ_TABLE);
  for (const rule of rules) tx.deleteRule({ chain: rule.chain, handle: rule.handle });
  return tx;
}
