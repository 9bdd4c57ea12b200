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

/** ConfigMap proxy-set-headers: these fields go upstream, replacing the client's same-named ones. */
export function upstreamHeadersStep(headers: ReadonlyArray<readonly [string, string]>): RequestStep {
  const names = headers.map(([name]) => name.toLowerCase());
  return {
    name: 'proxy-set-headers',
    run: (_request, edits) => {
      edits.dropHeaders.push(...names);
      edits.headers.push(...headers);
      return undefined;
    },
  };
}

/** ConfigMap add-headers: these fields are set on the response to the client (the backend's same-named ones replaced). */
export function responseHeadersStep(headers: ReadonlyArray<readonly [string, string]>): RequestStep {
  return {
    name: 'add-headers',
    run: (_request, edits) => {
      edits.responseHeaders.push(...headers);
      return undefined;
    },
  };
}
