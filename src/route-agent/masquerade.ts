import { formatCidr, type IpFamily, type IpPrefix } from '../lib/cidr.js';
import { Transaction, type NftTableRef } from '../nft/transaction.js';

// The node agent's NAT, in a table of its own per family (flannel's FLANNEL-POSTRTG): pod traffic
// to a destination outside the cluster CIDR leaves with the node's address; pod ↔ pod traffic is
// never masqueraded (pods see each other's real addresses). The whole table is rewritten in one
// transaction (add + flush + fill), so there is never a moment without the rules.

export const NODE_AGENT_TABLE = 'portico-node';

export function masqueradeTable(family: IpFamily): NftTableRef {
  return { family: family === 4 ? 'ip' : 'ip6', name: NODE_AGENT_TABLE };
}

/** The table for one family, or undefined when the cluster CIDR has none of that family. */
export function buildMasqueradeTransaction(family: IpFamily, clusterCIDRs: readonly IpPrefix[]): Transaction | undefined {
  const cidrs = clusterCIDRs.filter((c) => c.ip.family === family);
  if (cidrs.length === 0) return undefined;
  const ip = family === 4 ? 'ip' : 'ip6';
  const multicast = family === 4 ? '224.0.0.0/4' : 'ff00::/8';
  const tx = new Transaction(masqueradeTable(family))
    .addTable({ comment: 'portico node-agent: masquerade pod traffic leaving the cluster' })
    .flushTable()
    .addSet({ name: 'cluster-cidrs', type: family === 4 ? 'ipv4_addr' : 'ipv6_addr', flags: ['interval'], comment: '--cluster-cidr' })
    .addChain({ name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' });
  for (const cidr of cidrs) tx.addElement({ set: 'cluster-cidrs', key: formatCidr(cidr) });
  tx.addRule({ chain: 'postrouting', rule: `${ip} saddr @cluster-cidrs ${ip} daddr @cluster-cidrs return`, comment: 'pod to pod: source kept' });
  tx.addRule({ chain: 'postrouting', rule: `${ip} saddr @cluster-cidrs ${ip} daddr != ${multicast} masquerade`, comment: 'pod to outside the cluster' });
  return tx;
}
