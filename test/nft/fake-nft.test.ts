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

describe('FakeNft sets, maps and elements', () => {
  const vmapTable = () =>
    new Transaction(table)
      .addTable()
      .addChain({ name: 'a' })
      .addChain({ name: 'b' })
      .addSet({ name: 'vips', type: 'ipv4_addr . inet_proto . inet_service', valueType: 'verdict' })
      .addSet({ name: 'seen', type: 'ipv4_addr', flags: ['dynamic', 'timeout'], timeoutSeconds: 60 });

  it('dumps sets and maps with sorted elements, and lists table objects', async () => {
    const nft = new FakeNft();
    await nft.run(vmapTable().addElement({ set: 'vips', key: '10.0.0.2 . tcp . 80', value: 'goto b' }).addElement({ set: 'vips', key: '10.0.0.1 . tcp . 80', value: 'goto a' }).addElement({ set: 'seen', key: '10.1.1.1' }));
    expect(nft.dump()).toContain(
      ['\tmap vips {', '\t\ttype ipv4_addr . inet_proto . inet_service : verdict', '\t\telement 10.0.0.1 . tcp . 80 : goto a', '\t\telement 10.0.0.2 . tcp . 80 : goto b', '\t}'].join('\n'),
    );
    expect(nft.dump()).toContain(['\tset seen {', '\t\ttype ipv4_addr', '\t\tflags dynamic,timeout', '\t\ttimeout 60s', '\t\telement 10.1.1.1', '\t}'].join('\n'));
    expect(nft.elementCount()).toBe(3);
    expect(await nft.listTable(table)).toEqual({ chains: ['a', 'b'], sets: ['seen'], maps: ['vips'] });
    expect(await nft.listTable({ family: 'ip', name: 'none' })).toBeUndefined();
  });

  it('fails like the kernel: a duplicate key with another value, a missing element, a map entry to a missing chain, deleting what is in use', async () => {
    const nft = new FakeNft();
    await nft.run(vmapTable().addElement({ set: 'vips', key: '10.0.0.1 . tcp . 80', value: 'goto a' }));
    const before = nft.dump();
    const kinds = async (tx: Transaction) => nft.run(tx).then(() => 'ok', (e: { kind: string }) => e.kind);
    expect(await kinds(new Transaction(table).addElement({ set: 'vips', key: '10.0.0.1 . tcp . 80', value: 'goto b' }))).toBe('exists');
    expect(await kinds(new Transaction(table).addElement({ set: 'vips', key: '10.0.0.1 . tcp . 80', value: 'goto a' }))).toBe('ok'); // same value: no-op
    expect(await kinds(new Transaction(table).deleteElement({ set: 'vips', key: '10.0.0.9 . tcp . 80' }))).toBe('not-found');
    expect(await kinds(new Transaction(table).addElement({ set: 'vips', key: '10.0.0.3 . tcp . 80', value: 'goto nowhere' }))).toBe('not-found');
    expect(await kinds(new Transaction(table).deleteChain('a'))).toBe('busy'); // the map still jumps there
    await nft.run(new Transaction(table).addRule({ chain: 'b', rule: 'ip saddr @seen accept' }));
    expect(await kinds(new Transaction(table).deleteSet('seen'))).toBe('busy');
    expect(await kinds(new Transaction(table).addRule({ chain: 'b', rule: 'ip saddr @missing accept' }))).toBe('not-found');
    // A delete + re-add in one transaction replaces a value.
    await nft.run(new Transaction(table).deleteElement({ set: 'vips', key: '10.0.0.1 . tcp . 80' }).addElement({ set: 'vips', key: '10.0.0.1 . tcp . 80', value: 'goto b' }));
    expect(nft.dump()).toContain('element 10.0.0.1 . tcp . 80 : goto b');
    expect(nft.dump()).not.toBe(before);
  });

  it('flush table empties chains and sets but keeps them', async () => {
    const nft = new FakeNft();
    await nft.run(vmapTable().addRule({ chain: 'a', rule: 'accept' }).addElement({ set: 'seen', key: '10.1.1.1' }));
    await nft.run(new Transaction(table).flushTable());
    expect(nft.ruleCount()).toBe(0);
    expect(nft.elementCount()).toBe(0);
    expect((await nft.listTable(table))?.chains).toEqual(['a', 'b']);
  });
});

describe('nft errors', () => {
  it('classifies nft failures into kinds, so callers never match messages', async () => {
    const { classifyNftFailure } = await import('../../src/nft/runner.js');
    expect(classifyNftFailure('Error: No such file or directory; did you mean table ‘x’ in family ip?')).toBe('not-found');
    expect(classifyNftFailure('Error: Could not process rule: File exists')).toBe('exists');
    expect(classifyNftFailure('Error: Could not process rule: Device or resource busy')).toBe('busy');
    expect(classifyNftFailure('Error: Could not process rule: Operation not permitted')).toBe('permission');
    expect(classifyNftFailure('/dev/stdin:3:10-20: Error: syntax error, unexpected string')).toBe('syntax');
    expect(classifyNftFailure('something else')).toBe('other');
  });

  it('ExecNft maps a missing binary to kind unavailable and lists table objects from --terse JSON', async () => {
    const { ExecNft, parseTableObjects } = await import('../../src/nft/exec-nft.js');
    const { ExecCommandRunner } = await import('../../src/lib/run-command.js');
    const nft = new ExecNft({ runner: new ExecCommandRunner(), binary: 'portico-no-such-nft' });
    await expect(nft.listTable(table)).rejects.toMatchObject({ name: 'NftError', kind: 'unavailable' });
    expect(
      parseTableObjects(JSON.stringify({ nftables: [{ metainfo: {} }, { table: { name: 't' } }, { chain: { name: 'c1' } }, { set: { name: 's1' } }, { map: { name: 'm1' } }] })),
    ).toEqual({ chains: ['c1'], sets: ['s1'], maps: ['m1'] });
  });
});
