import type { CniDns } from '../../result.js';

/** resolv.conf text → DNS settings, as host-local reads its `resolvConf` file. */
export function parseResolvConf(text: string): CniDns {
  const dns: CniDns = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const fields = line.split(/\s+/);
    if (fields.length < 2) continue;
    switch (fields[0]) {
      case 'nameserver':
        (dns.nameservers ??= []).push(fields[1]!);
        break;
      case 'domain':
        dns.domain = fields[1]!;
        break;
      case 'search':
        (dns.search ??= []).push(...fields.slice(1));
        break;
      case 'options':
        (dns.options ??= []).push(...fields.slice(1));
        break;
    }
  }
  return dns;
}
