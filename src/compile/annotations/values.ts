// Shared readers for annotation values. Values are untrusted text: each reader returns the typed
// value or a problem naming the key and what was wrong, never throws.
import { formatCidr, maskedPrefix, parseCidr, parseIp } from '../../lib/cidr.js';

export interface AnnotationProblem {
  readonly key: string;
  readonly message: string;
  /** error: the feature fails closed (e.g. an access list that cannot be read denies everyone); warning: the default applies. */
  readonly severity: 'error' | 'warning';
}

export type Annotations = Readonly<Record<string, string>>;

/** An absolute http(s) URL of visible ASCII throughout (it ends up in a Location header or a subrequest). */
export const ABSOLUTE_HTTP_URL = /^https?:\/\/[\x21-\x2e\x30-\x3e\x40-\x7e]+(?:[/?#][\x21-\x7e]*)?$/i;

/**
 * The `$…` in `value` that are not among `allowed` (nginx variable names), `${name}` forms
 * included: Portico would send them literally.
 */
export function unknownVariables(value: string, allowed: readonly string[]): string[] {
  return value
    .split('$')
    .slice(1)
    .map((after) => /^[A-Za-z_][A-Za-z0-9_]*/.exec(after)?.[0] ?? after.slice(0, 12))
    .filter((name) => !allowed.includes(name));
}

/** An RFC 9110 token: header and cookie names. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `"true"` / `"false"` (any case, trimmed); anything else is a warning and `fallback` applies. */
export function readBool(raw: Annotations, key: string, fallback: boolean, problems: AnnotationProblem[]): boolean {
  const value = raw[key];
  if (value === undefined) return fallback;
  const normalised = value.trim().toLowerCase();
  if (normalised === 'true') return true;
  if (normalised === 'false') return false;
  problems.push({ key, severity: 'warning', message: `annotation ${key} must be "true" or "false", got ${JSON.stringify(value)}; using ${fallback}` });
  return fallback;
}

/**
 * A comma-separated CIDR list as ingress-nginx reads it: `10.0.0.0/8, 192.0.2.7, 2001:db8::/32`
 * (a bare address is a /32 or /128). Returns the normalised, sorted, de-duplicated list, or
 * undefined with a problem when any entry is not an address or CIDR.
 */
export function readCidrList(raw: Annotations, key: string, problems: AnnotationProblem[]): readonly string[] | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const out = new Set<string>();
  const bad: string[] = [];
  for (const part of value.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const ip = entry.includes('/') ? undefined : parseIp(entry);
    const prefix = ip !== undefined ? { ip, prefix: ip.family === 4 ? 32 : 128 } : parseCidr(entry);
    if (prefix === undefined) bad.push(entry);
    else out.add(formatCidr(maskedPrefix(prefix)));
  }
  if (bad.length > 0 || out.size === 0) {
    const what = bad.length > 0 ? `${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an IP address or CIDR` : 'lists no CIDR';
    problems.push({ key, severity: 'error', message: `annotation ${key}: ${what}` });
    return undefined;
  }
  return [...out].sort();
}

/** A non-empty string without control characters (it ends up in a header); undefined when absent. */
export function readHeaderValue(raw: Annotations, key: string, problems: AnnotationProblem[], valid: RegExp = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (valid.test(trimmed)) return trimmed;
  problems.push({ key, severity: 'warning', message: `annotation ${key}: ${JSON.stringify(value)} is not a valid value; ignored` });
  return undefined;
}
