// canary: which requests of the main route go to the canary Ingress's backend, as ingress-nginx's
// balancer decides: the header first (an exact value, a pattern, or `always` / `never`), then the
// cookie (`always` / `never`), then the weight. `never` ends it on the main backend.
import { compileUserRegex } from '../../lib/path-regex.js';
import type { CanaryPolicy } from '../../model/route-model.js';
import type { RequestStep, StepRequest } from './step.js';

export function canaryStep(policy: CanaryPolicy, random: () => number): RequestStep {
  // The linear-time engine (a header value is the client's to craft); validated when compiled.
  const parsed = policy.headerPattern === undefined ? undefined : compileUserRegex(policy.headerPattern);
  const pattern = parsed?.ok ? parsed.regex : undefined;
  const byHeader = (request: StepRequest): boolean | undefined => {
    if (policy.header === undefined) return undefined;
    const value = request.header(policy.header);
    if (value === undefined) return undefined;
    if (policy.headerValue !== undefined) return value === policy.headerValue ? true : undefined;
    if (pattern !== undefined) return pattern.test(value) ? true : undefined;
    return value === 'always' ? true : value === 'never' ? false : undefined;
  };
  const byCookie = (request: StepRequest): boolean | undefined => {
    if (policy.cookie === undefined) return undefined;
    const value = cookieValue(request.header('cookie'), policy.cookie);
    return value === 'always' ? true : value === 'never' ? false : undefined;
  };
  return {
    name: 'canary',
    run: (request, edits) => {
      const chosen = byHeader(request) ?? byCookie(request) ?? (policy.weight > 0 && Math.floor(random() * policy.weightTotal) < policy.weight);
      if (chosen) edits.backend = policy.backend;
      return undefined;
    },
  };
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
