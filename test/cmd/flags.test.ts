import { describe, expect, it } from 'vitest';
import { runControllerCommand } from '../../src/cmd/controller-command.js';
import { parseFlags, renderFlagHelp } from '../../src/cmd/flags.js';

const spec = {
  manifests: { type: 'string', description: 'dir' },
  'http-port': { type: 'port', default: 8080, description: 'port' },
  'watch-ingress-without-class': { type: 'boolean', description: 'flag' },
  'log-level': { type: 'string', default: 'info', choices: ['info', 'debug'], description: 'level' },
} as const;

describe('parseFlags', () => {
  it('parses values, defaults and booleans', () => {
    expect(parseFlags(['--manifests', 'deploy', '--http-port=0', '--watch-ingress-without-class'], spec)).toEqual({
      manifests: 'deploy',
      'http-port': 0,
      'watch-ingress-without-class': true,
      'log-level': 'info',
    });
  });

  it.each([
    [['--nope'], /Unknown option '--nope'/],
    [['--http-port', 'eighty'], /--http-port must be a port number 0-65535, got "eighty"/],
    [['--http-port', '70000'], /--http-port must be a port number/],
    [['--log-level', 'loud'], /--log-level must be one of info, debug, got "loud"/],
    [['--manifests'], /--manifests/],
    [['--manifests='], /--manifests must not be empty/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseFlags(argv, spec)).toThrowError(message);
  });

  it('renders help with defaults', () => {
    expect(renderFlagHelp(spec)).toContain('--http-port N');
    expect(renderFlagHelp(spec)).toContain('(default 8080)');
  });

  it('controller: --shutdown-grace-period and --shutdown-drain-timeout take seconds and name the flag when wrong', async () => {
    for (const [flag, value] of [['--shutdown-grace-period', 'soon'], ['--shutdown-drain-timeout', '-1'], ['--shutdown-grace-period', '5s']]) {
      await expect(runControllerCommand(['--manifests', '/nonexistent', `${flag}=${value}`])).rejects.toMatchObject({
        code: 'PORTICO_ERR_CLI_FLAG',
        message: expect.stringContaining(`${flag} must be a number of seconds`),
      });
    }
  });

  it('controller: --configmap takes namespace/name', async () => {
    for (const value of ['just-a-name', 'a/b/c', 'Upper/case']) {
      await expect(runControllerCommand(['--manifests', '/nonexistent', `--configmap=${value}`])).rejects.toMatchObject({
        code: 'PORTICO_ERR_CLI_FLAG',
        message: expect.stringContaining('--configmap must be namespace/name'),
      });
    }
  });

  it('controller: --max-connections-per-client takes a whole number and names the flag when wrong', async () => {
    for (const value of ['-1', 'many', '1.5']) {
      await expect(runControllerCommand(['--manifests', '/nonexistent', `--max-connections-per-client=${value}`])).rejects.toMatchObject({
        code: 'PORTICO_ERR_CLI_FLAG',
        message: expect.stringContaining('--max-connections-per-client must be a whole number'),
      });
    }
  });

  it('controller: --access-log-fields names the unknown field', async () => {
    await expect(runControllerCommand(['--manifests', '/nonexistent', '--access-log-fields', 'status,bogus'])).rejects.toMatchObject({
      code: 'PORTICO_ERR_CLI_FLAG',
      message: expect.stringContaining('unknown field "bogus"'),
    });
  });
});
