import { describe, expect, it } from 'vitest';
import { ExecNetHost } from '../../src/host/exec-net-host.js';
import { HostError } from '../../src/host/net-host.js';
import type { CommandResult, CommandRunner, CommandSpec } from '../../src/lib/run-command.js';

/** Records commands and answers them from a script. */
class ScriptedRunner implements CommandRunner {
  readonly calls: CommandSpec[] = [];
  constructor(private readonly answer: (spec: CommandSpec) => Partial<CommandResult>) {}
  async run(spec: CommandSpec): Promise<CommandResult> {
    this.calls.push(spec);
    return { code: 0, stdout: '', stderr: '', ...this.answer(spec) };
  }
}

const link = (name: string, extra: object = {}) => JSON.stringify([{ ifindex: 2, ifname: name, flags: ['UP'], mtu: 1500, operstate: 'UP', address: '02:00:00:00:00:01', ...extra }]);

describe('ExecNetHost', () => {
  it('runs container changes as one nsenter + sh + ip batch, sysctls first, with reads around them', async () => {
    const runner = new ScriptedRunner(() => ({ stdout: `${link('lo')}\n${link('eth0')}\n` }));
    const ns = new ExecNetHost({ runner }).namespace('/run/netns/pod');
    const applied = await ns.apply(
      [
        { op: 'sysctl', key: 'net/ipv4/conf/eth0/arp_notify', value: '1', optional: true },
        { op: 'add-addr', dev: 'eth0', cidr: '10.1.0.2/24' },
        { op: 'set-up', name: 'eth0' },
      ],
      { readBefore: ['lo'], readBack: ['eth0'] },
    );
    expect(runner.calls).toHaveLength(1);
    const call = runner.calls[0]!;
    expect(call.command).toBe('nsenter');
    expect(call.args.slice(0, 3)).toEqual(['--net=/run/netns/pod', '/bin/sh', '-c']);
    expect(call.args.slice(4)).toEqual(['sh', 'ip', 'net/ipv4/conf/eth0/arp_notify', '1', '1']);
    expect(call.input).toBe('addr show dev lo\naddr add 10.1.0.2/24 broadcast + dev eth0\nlink set dev eth0 up\naddr show dev eth0\n');
    expect(applied.before.map((l) => l.name)).toEqual(['lo']);
    expect(applied.after.map((l) => l.name)).toEqual(['eth0']);
  });

  it('maps a failing batch line back to the change that failed', async () => {
    const runner = new ScriptedRunner(() => ({ code: 1, stderr: 'RTNETLINK answers: File exists\nCommand failed -:3\n' }));
    const ns = new ExecNetHost({ runner }).namespace();
    const error = await ns
      .apply([
        { op: 'set-up', name: 'a' },
        { op: 'set-up', name: 'b' },
        { op: 'add-addr', dev: 'b', cidr: '10.0.0.1/24' },
      ], { readBefore: ['lo'] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostError);
    expect((error as HostError).kind).toBe('exists');
    expect((error as HostError).changeIndex).toBe(1);
    expect((error as HostError).message).toMatch(/set b up in host namespace: RTNETLINK answers: File exists/);
  });

  it('treats a missing device as absent on lookup and delete', async () => {
    const runner = new ScriptedRunner(() => ({ code: 1, stderr: 'Device "eth0" does not exist.\n' }));
    const ns = new ExecNetHost({ runner }).namespace('/run/netns/pod');
    expect(await ns.lookupLink('eth0')).toBeUndefined();
    const deleting = new ExecNetHost({ runner: new ScriptedRunner(() => ({ code: 1, stderr: 'Cannot find device "eth0"\n' })) }).namespace('/run/netns/pod');
    expect(await deleting.deleteLink('eth0')).toBe(false);
    expect(runner.calls[0]!.args).toEqual(['--net=/run/netns/pod', 'ip', '-d', '-j', 'addr', 'show', 'dev', 'eth0']);
  });

  it('refuses sysctl keys that could escape /proc/sys', async () => {
    const ns = new ExecNetHost({ runner: new ScriptedRunner(() => ({})) }).namespace('/run/netns/pod');
    await expect(ns.apply([{ op: 'sysctl', key: 'net/../../etc/passwd', value: '1' }])).rejects.toThrow(/invalid sysctl key/);
    await expect(ns.apply([{ op: 'sysctl', key: 'net/ipv4/ip_forward', value: '1; reboot' }])).rejects.toThrow(/invalid sysctl value/);
  });
});
