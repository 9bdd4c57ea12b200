import { describe, expect, it } from 'vitest';
import { FaultPlan } from '../../src/lib/fault-plan.js';
import { parseListedRules } from '../../src/nft/exec-nft.js';
import { FakeNft } from '../../src/nft/fake-nft.js';
import { Transaction } from '../../src/nft/transaction.js';

const table = { family: 'inet', name: 't' } as const;

function base(): Transaction {
  return new Transaction(table)
    .addTable()
    .addChain({ name: 'masq' })
    .addChain({ name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' })
    .flushChain('postrouting')
    .addRule({ chain: 'postrouting', rule: 'jump masq' });
}

describe('FakeNft', () => {
  it('applies transactions and dumps the ruleset', async () => {
    const nft = new FakeNft();
    await nft.run(base().addRule({ chain: 'masq', rule: 'ip saddr 10.0.0.2 masquerade', comment: 'a' }));
    await nft.run(base().addRule({ chain: 'masq', rule: 'ip saddr 10.0.0.3 masquerade', comment: 'b' }));
    expect(nft.dump()).toBe(
      [
        'table inet t {',
        '\tchain masq {',
        '\t\tip saddr 10.0.0.2 masquerade comment "a"',
        '\t\tip saddr 10.0.0.3 masquerade comment "b"',
        '\t}',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tjump masq',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
    const rules = await nft.listRules({ ...table, chain: 'masq' });
    expect(rules.map((r) => r.comment)).toEqual(['a', 'b']);
    await nft.run(new Transaction(table).deleteRule({ chain: 'masq', handle: rules[0]!.handle }));
    expect((await nft.listRules({ ...table, chain: 'masq' })).map((r) => r.comment)).toEqual(['b']);
    expect(nft.ruleCount()).toBe(2);
  });

  it('is atomic: a failing operation leaves the ruleset unchanged', async () => {
    const nft = new FakeNft();
    await nft.run(base());
    const before = nft.dump();
    await expect(nft.run(new Transaction(table).addRule({ chain: 'masq', rule: 'accept' }).deleteRule({ chain: 'masq', handle: 999 }))).rejects.toThrow(/No such file/);
    expect(nft.dump()).toBe(before);
  });

  it('rejects references to missing tables, chains and jump targets', async () => {
    const nft = new FakeNft();
    await expect(nft.run(new Transaction(table).addChain({ name: 'c' }))).rejects.toThrow(/table/);
    await expect(nft.run(new Transaction(table).addTable().addRule({ chain: 'c', rule: 'accept' }))).rejects.toThrow(/chain/);
    await expect(nft.run(new Transaction(table).addTable().addChain({ name: 'c' }).addRule({ chain: 'c', rule: 'jump nowhere' }))).rejects.toThrow(/jump target/);
    expect(nft.dump()).toBe('');
    expect(await nft.listRules({ ...table, chain: 'c' })).toEqual([]);
  });

  it('fails the step a FaultPlan names', async () => {
    const nft = new FakeNft({ faults: new FaultPlan({ failAt: 0 }) });
    await expect(nft.run(base())).rejects.toThrow(/injected fault/);
    expect(nft.dump()).toBe('');
  });
});

describe('parseListedRules', () => {
  it('reads handles and comments from nft --json output', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { chain: { family: 'inet', table: 't', name: 'masq', handle: 1 } },
        { rule: { family: 'inet', table: 't', chain: 'masq', handle: 4, comment: 'pcni x', expr: [] } },
        { rule: { family: 'inet', table: 't', chain: 'masq', handle: 5, expr: [] } },
      ],
    });
    expect(parseListedRules(json)).toEqual([
      { chain: 'masq', handle: 4, comment: 'pcni x' },
      { chain: 'masq', handle: 5 },
    ]);
  });
});
