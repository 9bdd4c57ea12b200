import { CniError } from './cni-error.js';

// CNI_ARGS: `K=V;K2=V2`. Keys other than the known ones are an error unless IgnoreUnknown is
// true, as in the reference plugins (containerd and CRI-O always send IgnoreUnknown=1).

const KNOWN_KEYS = new Set(['IgnoreUnknown', 'IP', 'MAC', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

export type CniArgs = ReadonlyMap<string, string>;

export function parseCniArgs(text: string | undefined): CniArgs {
  const args = new Map<string, string>();
  if (text === undefined || text === '') return args;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const parts = pair.split('=');
    if (parts.length !== 2 || parts[0] === '') throw new CniError('PORTICO_ERR_CNI_ENV', `CNI_ARGS: invalid pair ${JSON.stringify(pair)} (want KEY=VALUE)`);
    args.set(parts[0]!, parts[1]!);
  }
  const ignoreUnknown = /^(1|true)$/i.test(args.get('IgnoreUnknown') ?? '');
  if (!ignoreUnknown) {
    const unknown = [...args.keys()].filter((key) => !KNOWN_KEYS.has(key));
    if (unknown.length > 0) {
      throw new CniError('PORTICO_ERR_CNI_ENV', `CNI_ARGS: unknown keys ${unknown.map((k) => JSON.stringify(k)).join(', ')} (add IgnoreUnknown=1 to ignore them)`);
    }
  }
  return args;
}
