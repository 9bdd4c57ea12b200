// ssl-redirect / force-ssl-redirect: a plain-HTTP request gets a 308 to the same host and target on
// https (308 keeps the method and body; ingress-nginx uses 308 too). No port: HTTPS is on 443 in
// front of us.
import type { RequestStep } from './step.js';

export function sslRedirectStep(): RequestStep {
  return {
    name: 'ssl-redirect',
    run: (request) => (request.proto === 'http' ? { kind: 'redirect', status: 308, location: `https://${hostWithoutPort(request.host)}${request.target}` } : undefined),
  };
}

export function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
