import { afterAll, describe, expect, it } from 'vitest';
import { exec, Sandbox, SKIP_REASON, skipTitle } from './helpers.js';

// SessionNft against the real nft, inside a throwaway namespace (the test re-runs a tiny script
// there, since a session is a child process of whoever creates it).
describe.skipIf(SKIP_REASON !== undefined)(skipTitle('SessionNft: one nft -i for many transactions'), () => {
  const sandbox = new Sandbox();
  afterAll(() => sandbox.cleanup());

  it('applies each transaction atomically, reports failures by kind, and keeps going after one', async () => {
    const ns = await sandbox.netns('sess');
    const script = `
      const { SessionNft } = await import(${JSON.stringify(new URL('../../dist/nft/session-nft.js', import.meta.url).pathname)});
      const { Transaction } = await import(${JSON.stringify(new URL('../../dist/nft/transaction.js', import.meta.url).pathname)});
      const { ExecCommandRunner } = await import(${JSON.stringify(new URL('../../dist/lib/run-command.js', import.meta.url).pathname)});
      const s = new SessionNft({ runner: new ExecCommandRunner(), maxSessionOps: 100 });
      const t = { family: 'ip', name: 'sesstest' };
      const out = [];
      await s.run(new Transaction(t).addTable().addChain({ name: 'c' }).addSet({ name: 'v', type: 'ipv4_addr . inet_proto . inet_service', valueType: 'verdict' }));
      for (let i = 0; i < 3; i++) await s.run(new Transaction(t).addElement({ set: 'v', key: '10.1.0.' + i + ' . tcp . 80', value: 'goto c' }));
      try { await s.run(new Transaction(t).addElement({ set: 'v', key: '10.2.0.1 . tcp . 80', value: 'goto c' }).addRule({ chain: 'nochain', rule: 'accept' })); out.push('no error'); } catch (e) { out.push(e.kind); }
      await s.run(new Transaction(t).addElement({ set: 'v', key: '10.3.0.1 . tcp . 80', value: 'goto c' }));
      s.close();
      console.log(JSON.stringify(out));
    `;
    const result = await exec('ip', ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', script]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual(['not-found']);
    const listed = await exec('ip', ['netns', 'exec', ns.name, 'nft', 'list', 'map', 'ip', 'sesstest', 'v']);
    const keys = [...listed.stdout.matchAll(/(10\.\d+\.0\.\d+) \. tcp \. 80/g)].map((m) => m[1]).sort();
    // The failed transaction added nothing (10.2.0.1), the one after it applied.
    expect(keys).toEqual(['10.1.0.0', '10.1.0.1', '10.1.0.2', '10.3.0.1']);
  });
});
