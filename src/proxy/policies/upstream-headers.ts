// upstream-vhost: the backend gets this Host instead of the client's (X-Forwarded-Host keeps the
// client's). x-forwarded-prefix: the backend gets X-Forwarded-Prefix with the annotation's value.
import type { RequestStep } from './step.js';

export function upstreamVhostStep(host: string): RequestStep {
  return {
    name: 'upstream-vhost',
    run: (_request, edits) => {
      edits.host = host;
      return undefined;
    },
  };
}

export function forwardedPrefixStep(prefix: string): RequestStep {
  const field = ['X-Forwarded-Prefix', prefix] as const;
  return {
    name: 'x-forwarded-prefix',
    run: (_request, edits) => {
      edits.headers.push(field);
      return undefined;
    },
  };
}
