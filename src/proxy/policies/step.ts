// The contract between route steps and the data planes that run them (see pipeline.ts).
import type { ErrorCode } from '../../lib/errors.js';
import type { AffinityPolicy, BackendRef, Endpoint, RouteMatch } from '../../model/route-model.js';

/** What a step sees of a request. The data plane builds it only for routes with a pipeline. */
export interface StepRequest {
  readonly method: string;
  /** The Host the request was routed on (the header, or the absolute-form authority), as sent. */
  readonly host: string;
  /** The origin-form target: path and query as sent. */
  readonly target: string;
  readonly proto: 'http' | 'https';
  /** The connection's peer address (never a header). */
  readonly clientAddress: string;
  /** The first value of a request header; `name` is lower-case. */
  header(name: string): string | undefined;
  /** Every request header field, in order, as received (external auth forwards them). */
  fields(): ReadonlyArray<readonly [string, string]>;
}

/** Portico answers the request itself; nothing goes upstream. */
export type StepAnswer =
  | { readonly kind: 'error'; readonly status: number; readonly code: ErrorCode; /** Added to Portico's error reply (WWW-Authenticate). */ readonly headers?: ReadonlyArray<readonly [name: string, value: string]> }
  | { readonly kind: 'redirect'; /** 300–308. */ readonly status: number; readonly location: string }
  /** An empty-bodied answer with these fields (a CORS preflight's 204). */
  | { readonly kind: 'respond'; readonly status: number; readonly headers: ReadonlyArray<readonly [name: string, value: string]> };

/** What request steps change in the upstream request. One object per request, filled by the steps. */
export interface UpstreamEdits {
  /** Replaces the request target (rewrites). */
  target: string | undefined;
  /** Replaces the Host header. */
  host: string | undefined;
  /** Another backend for this request (a canary's). */
  backend: BackendRef | undefined;
  /** affinity: cookie: the data plane picks the endpoint with pickSticky. */
  sticky: StickyChoice | undefined;
  /** Header fields added to the upstream request, after the proxy's own. */
  readonly headers: Array<readonly [name: string, value: string]>;
  /** Lower-case names of the client's fields to drop from the upstream request (set by a step that replaces them). */
  readonly dropHeaders: string[];
  /** Header fields set on the response to the client, replacing the upstream's fields of the same names (CORS); Set-Cookie is added beside the upstream's (affinity). */
  readonly responseHeaders: Array<readonly [name: string, value: string]>;
  /** upstream-hash-by, load-balance: ewma: picks the endpoint in place of the backend's round robin (a sticky cookie still wins). */
  chooser: EndpointChooser | undefined;
  /** limit-connections: the data plane calls it once, when the request is over (answered, relayed, failed or abandoned). */
  release: (() => void) | undefined;
  /** mirror-target: a copy of the request goes there too (engine data plane). */
  mirror: MirrorRequest | undefined;
}

/** A balancer hint: how this request's endpoint is chosen among the backend's current ones. */
export interface EndpointChooser {
  pick(endpoints: readonly Endpoint[], exclude?: ReadonlySet<string>): Endpoint | undefined;
  /** How the chosen endpoint answered (ewma's latency feed: ms to the response head, ok below 500); absent when the chooser learns nothing. */
  readonly observe?: (endpointKey: string, ms: number, ok: boolean) => void;
}

/** Where a mirror copy of the request goes. */
export interface MirrorRequest {
  /** The mirror URL with its variables expanded (absolute http(s)). */
  readonly url: URL;
  /** The Host the copy carries. */
  readonly host: string;
  /** Copy the request body too (mirror-request-body, default on). */
  readonly body: boolean;
}

/** What an affinity step leaves for the endpoint choice. */
export interface StickyChoice {
  readonly policy: AffinityPolicy;
  /** The Set-Cookie Path. */
  readonly path: string;
  /** The client's cookie value, if it sent one. */
  readonly value: string | undefined;
  /** The request came over TLS (the cookie gets Secure). */
  readonly https: boolean;
}

export type StepResult = StepAnswer | undefined;

export interface RequestStep {
  readonly name: string;
  run(request: StepRequest, edits: UpstreamEdits): StepResult | Promise<StepResult>;
}

/** The response as response steps see it. */
export interface StepResponse {
  readonly status: number;
  /** The first value of a response header; `name` is lower-case. */
  header(name: string): string | undefined;
}

export interface ResponseStep {
  readonly name: string;
  /** Header fields to add to the response, or undefined. */
  run(request: StepRequest, response: StepResponse): ReadonlyArray<readonly [string, string]> | undefined;
}

export interface RoutePipeline {
  /** Step names in the order they run (debug views, tests). */
  readonly steps: readonly string[];
  /** Runs the request steps in order; the first answer ends it. A promise only when a step is asynchronous. */
  request(request: StepRequest, edits: UpstreamEdits): StepResult | Promise<StepResult>;
  /** Response header additions, or undefined when the route has no response step. */
  readonly response: ((request: StepRequest, response: StepResponse) => Array<readonly [string, string]>) | undefined;
}

/** A route match with its composed pipeline (undefined: the route has no per-route feature). */
export interface PipelineMatch extends RouteMatch {
  readonly pipeline?: RoutePipeline;
}
