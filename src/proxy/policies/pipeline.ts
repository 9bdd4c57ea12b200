// Per-route steps: a route's policies (plain data from the compiler) become one composed pipeline
// when the route table is built, so a request on a route without policies pays one field check
// (`match.pipeline === undefined`) and a route with some runs exactly its own steps, never an `if`
// per feature. Steps are plane-neutral: they read a StepRequest and either answer the request
// themselves (a redirect, a refusal) or edit what goes upstream.
//
// Phases, in order: request steps (answers and upstream edits, sync; a step may return a promise,
// e.g. external auth, and the data plane waits for it), endpoint choice, the upstream request,
// response steps (header fields added to the upstream's response).
import type { ProxyTimeouts, Route, RouteMatch } from '../../model/route-model.js';
import type { Logger } from '../../lib/logger.js';
import type { PipelineMatch, RequestStep, ResponseStep, RoutePipeline, StepAnswer, StepRequest, StepResult, UpstreamEdits } from './step.js';
import { affinityStep } from './affinity.js';
import { basicAuthStep } from './basic-auth.js';
import { externalAuthStep } from './external-auth.js';
import { canaryStep } from './canary.js';
import { corsStep } from './cors.js';
import { appRootStep, redirectStep } from './redirect.js';
import { rateLimitStep, RateLimitStore } from './rate-limit.js';
import { rewriteStep } from './rewrite.js';
import { ewmaStep, hashByStep } from './balance.js';
import { connectionLimitStep, ConnectionLimitStore } from './connection-limit.js';
import { EwmaStore } from '../../balancer/ewma.js';
import { mirrorStep } from './mirror.js';
import { sourceRangeStep } from './source-range.js';
import { sslRedirectStep } from './ssl-redirect.js';
import { forwardedPrefixStep, responseHeadersStep, upstreamHeadersStep, upstreamVhostStep } from './upstream-headers.js';

export { RateLimitStore } from './rate-limit.js';
export { pickSticky } from './affinity.js';
export { pickEndpoint } from './balance.js';
export { ConnectionLimitStore } from './connection-limit.js';
export { EwmaStore } from '../../balancer/ewma.js';
export type { EndpointChooser, MirrorRequest, PipelineMatch, RequestStep, ResponseStep, RoutePipeline, StepAnswer, StepRequest, StepResponse, StepResult, UpstreamEdits } from './step.js';

const STEP_FAILED: StepAnswer = Object.freeze({ kind: 'error', status: 500, code: 'PORTICO_ERR_PROXY_STEP_FAILED' });

/** An asynchronous step result that never rejects: a failing step is logged and answered with 500. */
export function settleSteps(result: Promise<StepResult>, logger: Logger, match: RouteMatch): Promise<StepResult> {
  return result.catch((error: Error) => {
    logger.warn({ err: error, ingress: match.ingress }, 'a route step failed; answering 500');
    return STEP_FAILED;
  });
}

/** The header lines of a redirect or an empty answer (each `name: value\r\n`), for planes that write raw heads. */
export function answerFieldLines(answer: Exclude<StepAnswer, { kind: 'error' }>): string {
  if (answer.kind === 'redirect') return `location: ${answer.location}\r\n`;
  let lines = '';
  for (const [name, value] of answer.headers) lines += `${name}: ${value}\r\n`;
  return lines;
}

/** The upstream inactivity limit a route's proxy-read/send-timeout give (one timer: the larger), or undefined. */
export function upstreamTimeoutOf(timeouts: ProxyTimeouts | undefined): number | undefined {
  if (timeouts === undefined) return undefined;
  const io = Math.max(timeouts.readMs ?? 0, timeouts.sendMs ?? 0);
  return io > 0 ? io : undefined;
}

export function newUpstreamEdits(): UpstreamEdits {
  return { target: undefined, host: undefined, backend: undefined, sticky: undefined, chooser: undefined, release: undefined, mirror: undefined, headers: [], dropHeaders: [], responseHeaders: [] };
}

/**
 * The route's steps in their fixed order: access checks first (stricter than nginx, whose rewrite
 * phase — redirects — runs before its access phase: a refused client never learns where to go) and
 * the rate limits (a refused client spends no budget), then
 * the redirects in nginx's order (app-root at server level, the location's `return`, then the
 * ssl-redirect of rewrite_by_lua), then the edits of what goes upstream.
 */
export function buildRoutePipeline(route: Route, context: PipelineContext = processContext()): RoutePipeline | undefined {
  const policies = route.policies;
  const request: RequestStep[] = [];
  if (policies?.sourceRange) request.push(sourceRangeStep(policies.sourceRange));
  // nginx's access phase: allow/deny, then auth_basic.
  if (policies?.basicAuth) request.push(basicAuthStep(policies.basicAuth));
  if (policies?.externalAuth !== undefined) request.push(externalAuthStep(policies.externalAuth));
  // One zone per Ingress, as ingress-nginx (its paths share it).
  if (policies?.rateLimit) request.push(rateLimitStep(policies.rateLimit, route.ingress, context.rateLimits));
  // nginx's preaccess phase has limit_conn beside limit_req; the zone is the Ingress's too.
  if (policies?.connectionLimit) request.push(connectionLimitStep(policies.connectionLimit, route.ingress, context.connectionLimits ?? processContext().connectionLimits!));
  if (policies?.appRoot !== undefined) request.push(appRootStep(policies.appRoot));
  if (policies?.redirect) request.push(redirectStep(policies.redirect));
  // nginx answers a CORS preflight (a location `return 204`) before rewrite_by_lua's ssl-redirect:
  // a browser never follows a redirect on a preflight.
  if (policies?.cors) request.push(corsStep(policies.cors));
  if (route.sslRedirect === true) request.push(sslRedirectStep());
  if (policies?.canary) request.push(canaryStep(policies.canary, context.random ?? Math.random));
  if (policies?.affinity) request.push(affinityStep(policies.affinity, route.path));
  // upstream-hash-by wins over load-balance, as ingress-nginx (its chash balancer replaces the other).
  if (policies?.upstreamHashBy !== undefined) request.push(hashByStep(policies.upstreamHashBy));
  else if (policies?.loadBalance === 'ewma') request.push(ewmaStep(context.ewma ?? processContext().ewma!));
  if (policies?.rewriteTarget !== undefined) request.push(rewriteStep(route.path, policies.rewriteTarget));
  if (policies?.upstreamVhost !== undefined) request.push(upstreamVhostStep(policies.upstreamVhost));
  if (policies?.forwardedPrefix !== undefined) request.push(forwardedPrefixStep(policies.forwardedPrefix));
  if (policies?.upstreamHeaders !== undefined) request.push(upstreamHeadersStep(policies.upstreamHeaders));
  if (policies?.responseHeaders !== undefined) request.push(responseHeadersStep(policies.responseHeaders));
  if (policies?.mirror) request.push(mirrorStep(policies.mirror));
  const response: ResponseStep[] = [];
  if (request.length === 0 && response.length === 0) return undefined;
  return Object.freeze({
    steps: [...request, ...response].map((step) => step.name),
    request: composeRequest(request),
    response: response.length === 0 ? undefined : composeResponse(response),
  });
}

/** What steps keep across route-table builds: rate-limit state, and the clock it runs on. */
export interface PipelineContext {
  readonly rateLimits: RateLimitStore;
  /** [0, 1): canary weights (Math.random unless a test pins it). */
  readonly random?: () => number;
  /** limit-connections' in-flight counts (the process's unless a test passes its own). */
  readonly connectionLimits?: ConnectionLimitStore;
  /** load-balance: ewma's latency averages per endpoint (the process's unless a test passes its own). */
  readonly ewma?: EwmaStore;
}

let processWide: PipelineContext | undefined;
/** The process's context: one per serving process (a worker has its own). */
function processContext(): PipelineContext {
  return (processWide ??= { rateLimits: new RateLimitStore(), connectionLimits: new ConnectionLimitStore(), ewma: new EwmaStore() });
}

/** A route table `extend` hook over `context` (tests pass their own clock). */
export function pipelineExtender(context: PipelineContext): (match: RouteMatch) => PipelineMatch {
  return (match) => {
    const pipeline = match.route === undefined ? undefined : buildRoutePipeline(match.route, context);
    return pipeline === undefined ? match : { ...match, pipeline };
  };
}

/** The route table's `extend` hook: every route match gets its pipeline once, at build time. */
export function withPipeline(match: RouteMatch): PipelineMatch {
  return pipelineExtender(processContext())(match);
}

function composeRequest(steps: readonly RequestStep[]): RoutePipeline['request'] {
  if (steps.length === 0) return () => undefined;
  if (steps.length === 1) {
    const only = steps[0]!;
    return (request, edits) => only.run(request, edits);
  }
  const from = (i: number, request: StepRequest, edits: UpstreamEdits): StepResult | Promise<StepResult> => {
    for (; i < steps.length; i++) {
      const result = steps[i]!.run(request, edits);
      if (result instanceof Promise) {
        const next = i + 1;
        return result.then((answer) => (answer !== undefined ? answer : from(next, request, edits)));
      }
      if (result !== undefined) return result;
    }
    return undefined;
  };
  return (request, edits) => from(0, request, edits);
}

function composeResponse(steps: readonly ResponseStep[]): NonNullable<RoutePipeline['response']> {
  return (request, response) => {
    const out: Array<readonly [string, string]> = [];
    for (const step of steps) {
      const fields = step.run(request, response);
      if (fields !== undefined) out.push(...fields);
    }
    return out;
  };
}
