import { describe, expect, it } from 'vitest';
import { sanitizeComment, Transaction } from '../../src/nft/transaction.js';

const table = { family: 'inet', name: 'portico-cni' } as const;

describe('Transaction', () => {
  it('renders operations as nft -f text, in order', () => {
    const tx = new Transaction(table)
      .addTable({ comment: 'owned by portico' })
      .addChain({ name: 'pod-masq', comment: 'rules' })
      .addChain({ name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' })
      .flushChain('postrouting')
      .addRule({ chain: 'postrouting', rule: 'jump pod-masq' })
      .addRule({ chain: 'pod-masq', rule: 'ip saddr 10.0.0.2 masquerade', comment: 'pcni x' })
      .deleteRule({ chain: 'pod-masq', handle: 7 })
      .deleteChain('pod-masq')
      .deleteTable();
    expect(tx.render()).toBe(
      [
        'add table inet portico-cni { comment "owned by portico" ; }',
        'add chain inet portico-cni pod-masq { comment "rules" ; }',
        'add chain inet portico-cni postrouting { type nat hook postrouting priority srcnat ; policy accept ; }',
        'flush chain inet portico-cni postrouting',
        'add rule inet portico-cni postrouting jump pod-masq',
        'add rule inet portico-cni pod-masq ip saddr 10.0.0.2 masquerade comment "pcni x"',
        'delete rule inet portico-cni pod-masq handle 7',
        'delete chain inet portico-cni pod-masq',
        'delete table inet portico-cni',
        '',
      ].join('\n'),
    );
    expect(tx.size).toBe(9);
  });

  it('renders nothing for an empty transaction', () => {
    expect(new Transaction(table).render()).toBe('');
  });

  it('refuses names and rules that would break the nft syntax', () => {
    expect(() => new Transaction({ family: 'inet', name: 'bad name' })).toThrow(/table name/);
    expect(() => new Transaction(table).addChain({ name: 'x;y' })).toThrow(/chain name/);
    expect(() => new Transaction(table).addRule({ chain: 'c', rule: 'accept; flush ruleset' })).toThrow(/rule/);
    expect(() => new Transaction(table).addRule({ chain: 'c', rule: 'accept\nflush ruleset' })).toThrow(/rule/);
    expect(() => new Transaction(table).deleteRule({ chain: 'c', handle: 0 })).toThrow(/handle/);
  });

  it('sanitizes comments to what nft accepts inside quotes, at most 128 bytes', () => {
    expect(sanitizeComment('id="x";\\n')).toBe('id=_x___n');
    expect(sanitizeComment('a'.repeat(200))).toHaveLength(128);
  });
});

describe('Transaction sets, maps and elements', () => {
  it('renders them as nft -f text', () => {
    const tx = new Transaction({ family: 'ip', name: 'portico-proxy' })
      .addSet({ name: 'service-ips', type: 'ipv4_addr . inet_proto . inet_service', valueType: 'verdict', comment: 'vips' })
      .addSet({ name: 'affinity-X-ns/svc/tcp/p__10.0.0.1/80', type: 'ipv4_addr', flags: ['dynamic', 'timeout'], timeoutSeconds: 10800 })
      .addElement({ set: 'service-ips', key: '10.96.0.1 . tcp . 80', value: 'goto service-X-ns/svc/tcp/p' })
      .deleteElement({ set: 'service-ips', key: '10.96.0.1 . tcp . 80', value: 'ignored' })
      .flushSet('service-ips', { map: true })
      .deleteSet('affinity-X-ns/svc/tcp/p__10.0.0.1/80')
      .flushTable();
    expect(tx.render().split('\n')).toEqual([
      'add map ip portico-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vips" ; }',
      'add set ip portico-proxy affinity-X-ns/svc/tcp/p__10.0.0.1/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }',
      'add element ip portico-proxy service-ips { 10.96.0.1 . tcp . 80 : goto service-X-ns/svc/tcp/p }',
      'delete element ip portico-proxy service-ips { 10.96.0.1 . tcp . 80 }',
      'flush map ip portico-proxy service-ips',
      'delete set ip portico-proxy affinity-X-ns/svc/tcp/p__10.0.0.1/80',
      'flush table ip portico-proxy',
      '',
    ]);
  });

  it('renders a run of element adds or deletes as one statement per set, keeping the order of the runs', () => {
    const tx = new Transaction({ family: 'ip', name: 't' })
      .deleteElement({ set: 'a', key: '1' })
      .deleteElement({ set: 'b', key: '2' })
      .deleteElement({ set: 'a', key: '3' })
      .addElement({ set: 'm', key: '1', value: 'goto c' })
      .addElement({ set: 'a', key: '4' })
      .addElement({ set: 'm', key: '2', value: 'drop' })
      .flushChain('c')
      .addElement({ set: 'a', key: '5' })
      .addSet({ name: 'x', type: 'ipv4_addr', typeof: false })
      .addSet({ name: 'y', typeof: true, type: 'ip daddr . numgen random mod 1', valueType: 'ip daddr . tcp dport' });
    expect(tx.render().split('\n')).toEqual([
      'delete element ip t a { 1, 3 }',
      'delete element ip t b { 2 }',
      'add element ip t m { 1 : goto c, 2 : drop }',
      'add element ip t a { 4 }',
      'flush chain ip t c',
      'add element ip t a { 5 }',
      'add set ip t x { type ipv4_addr ; }',
      'add map ip t y { typeof ip daddr . numgen random mod 1 : ip daddr . tcp dport ; }',
      '',
    ]);
    expect(tx.size).toBe(10);
  });

  it('refuses element text and set types that would break the syntax', () => {
    const tx = new Transaction(table);
    expect(() => tx.addElement({ set: 's', key: '10.0.0.1 }; flush ruleset; {' })).toThrow(/element/);
    expect(() => tx.addElement({ set: 's', key: '10.0.0.1', value: 'goto "x"' })).toThrow(/element/);
    expect(() => tx.addSet({ name: 's', type: 'ipv4_addr; flush ruleset' })).toThrow(/set type/);
    expect(() => tx.addSet({ name: 's', type: 'ipv4_addr', timeoutSeconds: 0 })).toThrow(/timeout/);
    expect(() => tx.addChain({ name: 'x'.repeat(201) })).toThrow(/chain name/);
  });
});
