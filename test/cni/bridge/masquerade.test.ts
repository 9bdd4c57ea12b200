import { describe, expect, it } from 'vitest';
import { attachmentHash, networkHash, ownedRules, parseMasqComment, renderMasqAdd, renderMasqDelete, renderMasqRules, staleRules } from '../../../src/cni/bridge/masquerade.js';

describe('masquerade rules', () => {
  const owner = { network: 'podnet', containerId: '0123456789abcdef0123456789abcdef', ifname: 'eth0' };

  it('renders one rule per address with an ownership comment', () => {
    const tx = renderMasqAdd({ ...owner, addresses: ['10.244.1.2/24', 'fd00:1::2/64'] });
    const att = attachmentHash(owner);
    const net = networkHash('podnet');
    expect(tx.render()).toBe(
      [
        'add table inet portico-cni { comment "portico-cni: masquerading of pod traffic leaving the pod network" ; }',
        'add chain inet portico-cni pod-masq { comment "one rule per pod address, owned by its attachment" ; }',
        'add chain inet portico-cni postrouting { type nat hook postrouting priority srcnat ; policy accept ; }',
        'flush chain inet portico-cni postrouting',
        'add rule inet portico-cni postrouting jump pod-masq comment "pcni jump"',
        `add rule inet portico-cni pod-masq ip saddr 10.244.1.2 ip daddr != 10.244.1.0/24 ip daddr != 224.0.0.0/4 masquerade comment "pcni ${net}:${att} ip=10.244.1.2 net=podnet id=0123456789ab if=eth0"`,
        `add rule inet portico-cni pod-masq ip6 saddr fd00:1::2 ip6 daddr != fd00:1::/64 ip6 daddr != ff00::/8 masquerade comment "pcni ${net}:${att} ip=fd00:1::2 net=podnet id=0123456789ab if=eth0"`,
        '',
      ].join('\n'),
    );
    expect(renderMasqRules({ ...owner, addresses: ['10.244.1.2/24'] }).render()).toBe(
      `add rule inet portico-cni pod-masq ip saddr 10.244.1.2 ip daddr != 10.244.1.0/24 ip daddr != 224.0.0.0/4 masquerade comment "pcni ${net}:${att} ip=10.244.1.2 net=podnet id=0123456789ab if=eth0"\n`,
    );
  });

  it('finds the rules of one attachment and the stale ones of a network', () => {
    const comment = (o: typeof owner, ip: string) => `pcni ${networkHash(o.network)}:${attachmentHash(o)} ip=${ip} net=${o.network}`;
    const other = { ...owner, containerId: 'other' };
    const foreign = { ...owner, network: 'othernet' };
    const rules = [
      { chain: 'pod-masq', handle: 4, comment: comment(owner, '10.0.0.2') },
      { chain: 'pod-masq', handle: 5, comment: comment(other, '10.0.0.3') },
      { chain: 'pod-masq', handle: 6, comment: comment(foreign, '10.9.0.2') },
      { chain: 'pod-masq', handle: 7 },
    ];
    expect(ownedRules(rules, owner).map((r) => r.handle)).toEqual([4]);
    expect(staleRules(rules, { network: 'podnet', valid: [other] }).map((r) => r.handle)).toEqual([4]);
    expect(renderMasqDelete(ownedRules(rules, owner)).render()).toBe('delete rule inet portico-cni pod-masq handle 4\n');
    expect(parseMasqComment(rules[0]!.comment)).toEqual({ networkHash: networkHash('podnet'), attachmentHash: attachmentHash(owner), ip: '10.0.0.2' });
    expect(parseMasqComment('something else')).toBeUndefined();
  });
});
