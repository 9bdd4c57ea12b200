import { PorticoError, type ErrorCode } from '../lib/errors.js';
import { parseCniArgs, type CniArgs } from './cni-args.js';
import { CniError } from './cni-error.js';
import { isObject, type JsonObject } from './json-fields.js';
import { renderResult, type CniResult } from './result.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS, isSupportedVersion, versionAtLeast, type CniVersion } from './versions.js';

// The CNI protocol edge: environment, stdin, stdout, exit status. It validates what the spec and
// the reference skel validate, dispatches to a plugin, prints the result in the requested version,
// and turns errors into the spec's error object on stdout. The only place that knows the numeric
// CNI error codes.

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';

export interface CniRequest {
  command: Exclude<CniCommand, 'VERSION'>;
  /** Empty for GC and STATUS. */
  containerId: string;
  /** May be empty for DEL. */
  netns: string;
  ifname: string;
  args: CniArgs;
  path: readonly string[];
  cniVersion: CniVersion;
  /** The parsed network config (stdin). */
  config: JsonObject;
}

export interface CniPlugin {
  add(request: CniRequest): Promise<CniResult>;
  del(request: CniRequest): Promise<void>;
  check(request: CniRequest): Promise<void>;
  gc(request: CniRequest): Promise<void>;
  status(request: CniRequest): Promise<void>;
}

export interface CniIo {
  env: Readonly<Record<string, string | undefined>>;
  readStdin(): Promise<string>;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
}

/** CNI spec error codes for the catalog codes; anything else is 999 (internal), as in the reference plugins. */
const CNI_CODES: Partial<Record<ErrorCode, number>> = {
  PORTICO_ERR_CNI_VERSION: 1,
  PORTICO_ERR_CNI_UNSUPPORTED_FIELD: 2,
  PORTICO_ERR_CNI_UNKNOWN_CONTAINER: 3,
  PORTICO_ERR_CNI_ENV: 4,
  PORTICO_ERR_CNI_IO: 5,
  PORTICO_ERR_CNI_DECODE: 6,
  PORTICO_ERR_CNI_CONFIG: 7,
  PORTICO_ERR_CNI_NETNS: 8,
  PORTICO_ERR_CNI_TRY_AGAIN: 11,
  PORTICO_ERR_CNI_UNAVAILABLE: 50,
  PORTICO_ERR_CNI_DEGRADED: 51,
};
export const CNI_INTERNAL_CODE = 999;

export function cniCodeFor(error: unknown): number {
  return error instanceof PorticoError ? (CNI_CODES[error.code] ?? CNI_INTERNAL_CODE) : CNI_INTERNAL_CODE;
}

const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];
const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};
/** The minimum config version per command (CHECK came with 0.4.0, GC and STATUS with 1.1.0). */
const MINIMUM_VERSION: Partial<Record<CniCommand, string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Interface names the kernel accepts and ip batches carry: 1-15 of [A-Za-z0-9_.-], not `.`/`..`. */
export function checkInterfaceName(name: string, what: string): void {
  if (name.length > 15) throw new CniError('PORTICO_ERR_CNI_ENV', `${what} ${JSON.stringify(name)} is too long: interface names have at most 15 characters`);
  if (name === '.' || name === '..') throw new CniError('PORTICO_ERR_CNI_ENV', `${what} ${JSON.stringify(name)} is not a valid interface name`);
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new CniError('PORTICO_ERR_CNI_ENV', `${what} ${JSON.stringify(name)} has characters portico-cni does not accept in interface names (use A-Z a-z 0-9 _ . -)`);
  }
}

function env(io: CniIo, name: string): string {
  return io.env[name] ?? '';
}

function about(): string {
  return `portico-cni: CNI plugin (bridge + host-local IPAM)\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`;
}

/** Validates the environment and config, runs the command, prints. Returns the exit status. */
export async function runSkel(plugin: CniPlugin, io: CniIo): Promise<number> {
  let cniVersion: string | undefined;
  try {
    const command = env(io, 'CNI_COMMAND');
    if (command === '') {
      io.writeStderr(about());
      throw new CniError('PORTICO_ERR_CNI_ENV', 'required env variables [CNI_COMMAND] missing');
    }
    if (!(COMMANDS as readonly string[]).includes(command)) {
      throw new CniError('PORTICO_ERR_CNI_ENV', `unknown CNI_COMMAND: ${command} (want one of ${COMMANDS.join(', ')})`);
    }
    const cmd = command as CniCommand;
    const missing = REQUIRED[cmd].filter((name) => env(io, name) === '');
    if (missing.length > 0) throw new CniError('PORTICO_ERR_CNI_ENV', `required env variables [${missing.join(',')}] missing`);
    if (cmd === 'VERSION') {
      io.writeStdout(`${JSON.stringify({ cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`);
      return 0;
    }

    let stdin: string;
    try {
      stdin = await io.readStdin();
    } catch (error) {
      throw new CniError('PORTICO_ERR_CNI_IO', `error reading the network config from stdin: ${(error as Error).message}`);
    }
    let config: unknown;
    try {
      config = JSON.parse(stdin);
    } catch (error) {
      throw new CniError('PORTICO_ERR_CNI_DECODE', `error decoding the network config on stdin: ${(error as Error).message}`);
    }
    if (!isObject(config)) throw new CniError('PORTICO_ERR_CNI_CONFIG', 'the network config must be a JSON object');
    const version = config['cniVersion'];
    if (typeof version === 'string') cniVersion = version;
    if (!isSupportedVersion(version)) {
      cniVersion = undefined;
      throw new CniError('PORTICO_ERR_CNI_VERSION', 'incompatible CNI versions', {
        details: `config is ${version === undefined ? 'missing cniVersion' : JSON.stringify(version)}, plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
      });
    }
    const minimum = MINIMUM_VERSION[cmd];
    if (minimum !== undefined && !versionAtLeast(version, minimum)) {
      throw new CniError('PORTICO_ERR_CNI_VERSION', `config version ${version} does not allow ${cmd} (needs ${minimum} or later)`);
    }
    const name = config['name'];
    if (name === undefined || name === '') throw new CniError('PORTICO_ERR_CNI_CONFIG', 'missing network name (name)');
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new CniError('PORTICO_ERR_CNI_CONFIG', `name ${JSON.stringify(name)} is invalid: a network name starts with a letter or digit, then letters, digits, _ . -`);
    }

    const containerId = env(io, 'CNI_CONTAINERID');
    const ifname = env(io, 'CNI_IFNAME');
    const netns = env(io, 'CNI_NETNS');
    if (cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK') {
      if (!NAME.test(containerId)) {
        throw new CniError('PORTICO_ERR_CNI_ENV', `CNI_CONTAINERID ${JSON.stringify(containerId)} has invalid characters (want a letter or digit, then letters, digits, _ . -)`);
      }
      checkInterfaceName(ifname, 'CNI_IFNAME');
    }
    if (netns !== '' && !/^\/[^\s"'#\\]*$/.test(netns)) {
      throw new CniError('PORTICO_ERR_CNI_ENV', `CNI_NETNS ${JSON.stringify(netns)} must be an absolute path without whitespace, quotes or #`);
    }
    const request: CniRequest = {
      command: cmd,
      containerId,
      netns,
      ifname,
      args: parseCniArgs(io.env['CNI_ARGS']),
      path: env(io, 'CNI_PATH').split(':').filter((p) => p !== ''),
      cniVersion: version,
      config,
    };
    switch (cmd) {
      case 'ADD':
        io.writeStdout(renderResult(await plugin.add(request), version));
        return 0;
      case 'DEL':
        await plugin.del(request);
        return 0;
      case 'CHECK':
        await plugin.check(request);
        return 0;
      case 'GC':
        await plugin.gc(request);
        return 0;
      case 'STATUS':
        await plugin.status(request);
        return 0;
    }
  } catch (error) {
    io.writeStdout(renderError(error, cniVersion));
    if (cniCodeFor(error) === CNI_INTERNAL_CODE && !(error instanceof PorticoError)) {
      io.writeStderr(`portico-cni: ${(error as Error).stack ?? String(error)}\n`);
    }
    return 1;
  }
}

/** The spec's error object: `{cniVersion?, code, msg, details?}`. */
export function renderError(error: unknown, cniVersion: string | undefined): string {
  const out: JsonObject = {};
  if (cniVersion !== undefined && isSupportedVersion(cniVersion)) out['cniVersion'] = cniVersion;
  out['code'] = cniCodeFor(error);
  out['msg'] = error instanceof Error ? error.message : String(error);
  if (error instanceof CniError && error.details !== undefined) out['details'] = error.details;
  return JSON.stringify(out, null, 4);
}
