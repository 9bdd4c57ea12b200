// Ingress rule host validation and normalisation (networking.k8s.io/v1 rules).

export type HostParseResult =
  | { readonly ok: true; readonly host: string; readonly wildcard: boolean }
  | { readonly ok: false; readonly reason: string };

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

/**
 * Parses a rule host: a DNS-1123 subdomain (`foo.bar.com`) or a wildcard whose `*` is the whole
 * first label (`*.bar.com`). Upper case is lower-cased rather than rejected; IP addresses are
 * refused as the API does. The caller handles empty/absent hosts (hostless rules).
 */
export function parseIngressHost(raw: string): HostParseResult {
  const host = raw.toLowerCase();
  const colons = host.split(':').length - 1;
  if (colons === 1 && !host.startsWith('[')) return { ok: false, reason: 'must not include a port' };
  if (colons > 0 || IPV4.test(host)) return { ok: false, reason: 'must be a DNS name, not an IP address' };
  const wildcard = host.startsWith('*.');
  const name = wildcard ? host.slice(2) : host;
  if (name.includes('*')) {
    return { ok: false, reason: "'*' is only allowed as the whole first label (*.example.com)" };
  }
  if (name.length === 0) return { ok: false, reason: 'has no DNS name' };
  if (host.length > MAX_HOST_LENGTH) {
    return { ok: false, reason: `is longer than ${MAX_HOST_LENGTH} characters` };
  }
  for (const label of name.split('.')) {
    if (label.length > MAX_LABEL_LENGTH) {
      return { ok: false, reason: `has a label longer than ${MAX_LABEL_LENGTH} characters` };
    }
    if (!DNS_LABEL.test(label)) {
      return {
        ok: false,
        reason: 'is not a valid DNS name (labels of a-z, 0-9 and -, starting and ending alphanumeric)',
      };
    }
  }
  return { ok: true, host, wildcard };
}
