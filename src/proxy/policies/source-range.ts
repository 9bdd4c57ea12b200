// Source ranges: the request's client (the connection's own address; a forwarded-for address only
// behind the proxies the ConfigMap's proxy-real-ip-cidr names, see src/lib/real-ip.ts) against the deny list, then the allow list; refused clients get 403. The verdict per
// address is cached (bounded), so a busy client costs one Map lookup, not a CIDR scan.
import { parseCidr, parseIp, prefixContains, type IpPrefix } from '../../lib/cidr.js';
import type { SourceRangePolicy } from '../../model/route-model.js';
import type { RequestStep, StepAnswer } from './step.js';

const FORBIDDEN: StepAnswer = Object.freeze({ kind: 'error', status: 403, code: 'PORTICO_ERR_PROXY_FORBIDDEN' });
const CACHE_MAX = 4096;

export function sourceRangeStep(policy: SourceRangePolicy): RequestStep {
  const deny = (policy.deny ?? []).map((text) => parseCidr(text)!).filter(Boolean) as IpPrefix[];
  const allow = policy.allow === undefined ? undefined : (policy.allow.map((text) => parseCidr(text)!).filter(Boolean) as IpPrefix[]);
  const verdicts = new Map<string, boolean>();
  const permitted = (address: string): boolean => {
    const ip = parseIp(address);
    if (ip === undefined) return false;
    if (deny.some((prefix) => prefixContains(prefix, ip))) return false;
    return allow === undefined || allow.some((prefix) => prefixContains(prefix, ip));
  };
  return {
    name: 'source-range',
    run: (request) => {
      let ok = verdicts.get(request.clientAddress);
      if (ok === undefined) {
        ok = permitted(request.clientAddress);
        if (verdicts.size >= CACHE_MAX) verdicts.clear();
        verdicts.set(request.clientAddress, ok);
      }
      return ok ? undefined : FORBIDDEN;
    },
  };
}
