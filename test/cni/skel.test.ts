import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/cni-error.js';
import type { CniPlugin, CniRequest } from '../../src/cni/skel.js';
import { cniCodeFor, renderError, runSkel } from '../../src/cni/skel.js';
import { PorticoError } from '../../src/lib/errors.js';

const okResult = { interfaces: [], ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }], routes: [], dns: {} };

function recordingPlugin(calls: CniRequest[], fail?: Error): CniPlugin {
  const handle = async (request: CniRequest) => {
    calls.push(request);
    if (fail) throw fail;
  };
  return {
    add: async (request) => {
      await handle(request);
      return okResult;
    },
    del: handle,
    check: handle,
    gc: handle,
    status: handle,
  };
}

async function run(env: Record<string, string | undefined>, stdin: string | Error, plugin: CniPlugin = recordingPlugin([])) {
  let stdout = '';
  let stderr = '';
  const code = await runSkel(plugin, {
    env,
    readStdin: async () => {
      if (stdin instanceof Error) throw stdin;
      return stdin;
    },
    writeStdout: (t) => (stdout += t),
    writeStderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr, json: stdout ? JSON.parse(stdout) : undefined };
}

const full = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/p', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const config = (version: unknown = '1.0.0', extra: object = {}) => JSON.stringify({ cniVersion: version, name: 'net', type: 'portico-cni', ...extra });

describe('skel: environment', () => {
  it.each([
    ['no CNI_COMMAND', { ...full, CNI_COMMAND: undefined }, 'required env variables [CNI_COMMAND] missing'],
    ['ADD without the rest', { CNI_COMMAND: 'ADD' }, 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing'],
    ['DEL needs no netns', { CNI_COMMAND: 'DEL', CNI_PATH: '/x' }, 'required env variables [CNI_CONTAINERID,CNI_IFNAME] missing'],
    ['empty container id', { ...full, CNI_CONTAINERID: '' }, 'required env variables [CNI_CONTAINERID] missing'],
    ['unknown command', { ...full, CNI_COMMAND: 'FOO' }, 'unknown CNI_COMMAND: FOO'],
    ['bad container id', { ...full, CNI_CONTAINERID: 'a b' }, 'CNI_CONTAINERID "a b" has invalid characters'],
    ['long ifname', { ...full, CNI_IFNAME: 'eth0123456789012' }, 'CNI_IFNAME "eth0123456789012" is too long'],
    ['dot ifname', { ...full, CNI_IFNAME: '..' }, 'CNI_IFNAME ".." is not a valid interface name'],
    ['ifname with slash', { ...full, CNI_IFNAME: 'eth/0' }, 'CNI_IFNAME "eth/0" has characters'],
    ['relative netns', { ...full, CNI_NETNS: 'run/netns/p' }, 'CNI_NETNS "run/netns/p" must be an absolute path'],
    ['CNI_ARGS pair', { ...full, CNI_ARGS: 'IP' }, 'CNI_ARGS: invalid pair "IP"'],
    ['CNI_ARGS unknown key', { ...full, CNI_ARGS: 'FOO=bar' }, 'CNI_ARGS: unknown keys "FOO"'],
  ])('%s → code 4', async (_name, env, message) => {
    const calls: CniRequest[] = [];
    const result = await run(env, config(), recordingPlugin(calls));
    expect(result.code).toBe(1);
    expect(result.json.code).toBe(4);
    expect(result.json.msg).toContain(message);
    expect(calls).toHaveLength(0);
  });

  it('accepts unknown CNI_ARGS keys with IgnoreUnknown, as runtimes send them', async () => {
    const calls: CniRequest[] = [];
    const result = await run({ ...full, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web;FOO=bar;IP=10.0.0.9' }, config(), recordingPlugin(calls));
    expect(result.code).toBe(0);
    expect(calls[0]!.args.get('IP')).toBe('10.0.0.9');
  });

  it('prints the about text on stderr when CNI_COMMAND is missing', async () => {
    const result = await run({}, '');
    expect(result.stderr).toContain('CNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  });
});

describe('skel: config and versions', () => {
  it('answers VERSION without reading stdin', async () => {
    const result = await run({ CNI_COMMAND: 'VERSION' }, new Error('must not read'));
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n');
  });

  it.each([
    ['unreadable stdin', new Error('EIO'), 5, 'error reading the network config from stdin: EIO'],
    ['bad JSON', '{bad', 6, 'error decoding the network config on stdin'],
    ['not an object', '[1,2]', 7, 'the network config must be a JSON object'],
    ['missing cniVersion', JSON.stringify({ name: 'n' }), 1, 'incompatible CNI versions'],
    ['unsupported cniVersion', config('0.2.0'), 1, 'incompatible CNI versions'],
    ['future cniVersion', config('1.2.0'), 1, 'incompatible CNI versions'],
    ['missing name', JSON.stringify({ cniVersion: '1.0.0' }), 7, 'missing network name (name)'],
    ['bad name', config('1.0.0', { name: 'a/b' }), 7, 'name "a/b" is invalid'],
  ])('%s → code %i', async (_name, stdin, code, message) => {
    const result = await run(full, stdin);
    expect(result.json.code).toBe(code);
    expect(result.json.msg).toContain(message);
  });

  it('names the supported versions in the details of a version error', async () => {
    const result = await run(full, config('0.2.0'));
    expect(result.json).toEqual({ code: 1, msg: 'incompatible CNI versions', details: 'config is "0.2.0", plugin supports ["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]' });
  });

  it.each([
    ['CHECK', '0.3.1', 'needs 0.4.0'],
    ['GC', '1.0.0', 'needs 1.1.0'],
    ['STATUS', '1.0.0', 'needs 1.1.0'],
  ])('refuses %s on a %s config with code 1', async (command, version, message) => {
    const result = await run({ ...full, CNI_COMMAND: command }, config(version));
    expect(result.json).toMatchObject({ cniVersion: version, code: 1, msg: expect.stringContaining(message) });
  });

  it('GC and STATUS need no container variables', async () => {
    const calls: CniRequest[] = [];
    for (const command of ['GC', 'STATUS']) {
      const result = await run({ CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin' }, config('1.1.0'), recordingPlugin(calls));
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('');
    }
    expect(calls.map((c) => c.command)).toEqual(['GC', 'STATUS']);
  });

  it('prints the ADD result in the requested version', async () => {
    const v031 = await run(full, config('0.3.1'));
    expect(v031.json).toEqual({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1' }], dns: {} });
    const v110 = await run(full, config('1.1.0'));
    expect(v110.json).toEqual({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }], dns: {} });
    expect(v110.stdout).toContain('\n    "ips": [');
  });
});

describe('skel: errors', () => {
  it('maps catalog codes to CNI codes and anything else to 999', () => {
    expect(cniCodeFor(new CniError('PORTICO_ERR_CNI_TRY_AGAIN', 'x'))).toBe(11);
    expect(cniCodeFor(new CniError('PORTICO_ERR_CNI_UNAVAILABLE', 'x'))).toBe(50);
    expect(cniCodeFor(new CniError('PORTICO_ERR_CNI_DEGRADED', 'x'))).toBe(51);
    expect(cniCodeFor(new CniError('PORTICO_ERR_CNI_UNKNOWN_CONTAINER', 'x'))).toBe(3);
    expect(cniCodeFor(new CniError('PORTICO_ERR_CNI_UNSUPPORTED_FIELD', 'x'))).toBe(2);
    expect(cniCodeFor(new CniError('PORTICO_ERR_CNI_HOST', 'x'))).toBe(999);
    expect(cniCodeFor(new PorticoError('PORTICO_ERR_CLI_FLAG', 'x'))).toBe(999);
    expect(cniCodeFor(new Error('boom'))).toBe(999);
  });

  it('prints the spec error object on stdout and the stack of unexpected errors on stderr', async () => {
    const result = await run(full, config('1.0.0'), recordingPlugin([], new Error('kaboom')));
    expect(result.code).toBe(1);
    expect(result.json).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'kaboom' });
    expect(result.stderr).toContain('kaboom');
    expect(renderError(new CniError('PORTICO_ERR_CNI_CONFIG', 'bad', { details: 'more' }), undefined)).toBe('{\n    "code": 7,\n    "msg": "bad",\n    "details": "more"\n}');
  });
});
