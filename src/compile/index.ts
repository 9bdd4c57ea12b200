// The pure compiler: ObjectSnapshot → RouteModel (routes) and → BackendEndpoints (endpoint fast path).
// No I/O, timers or logging: problems come back as Diagnostics.
import type { Ingress, ObjectSnapshot } from '../model/k8s-objects.js';
import { objectKey } from '../model/k8s-objects.js';
import type { RouteModel } from '../model/route-model.js';
import { compileClassSelection, isIngressOwned } from './ingress-class.js';
import { compileIngress } from './ingress.js';
import { compareStrings } from '../lib/compare.js';
import { RouteModelBuilder } from './route-model-builder.js';

export { compileBackends } from './backends.js';

export interface CompileOptions {
  /** IngressClass spec.controller value this controller answers to. */
  controllerClass: string;
  /** Value of the legacy `kubernetes.io/ingress.class` annotation this controller answers to. */
  ingressClass: string;
  /** Own Ingresses that name no class even when none of our IngressClasses is the default. */
  watchIngressWithoutClass: boolean;
  /** `*-snippet` annotations: refuse the Ingress (default) or serve it without them. */
  snippetAnnotations?: 'refuse' | 'ignore';
}

export const DEFAULT_COMPILE_OPTIONS: CompileOptions = Object.freeze({
  controllerClass: 'portico.dev/ingress-controller',
  ingressClass: 'portico',
  watchIngressWithoutClass: false,
});

/**
 * Reads only IngressClasses and Ingresses, so Service/EndpointSlice changes never need a route
 * rebuild. Output is deterministic whatever the snapshot's insertion order.
 */
export function compileRoutes(snapshot: ObjectSnapshot, options: CompileOptions): RouteModel {
  const selection = compileClassSelection(snapshot.ingressClasses, options);
  const owned = [...snapshot.ingresses.values()].filter((ing) => isIngressOwned(ing, selection));
  // Oldest first, so the first claim on a host/path or the defaultBackend is the winner.
  const ordered = owned.map((ing) => ({ ing, key: objectKey(ing), created: creationTime(ing) })).sort(
    (a, b) => a.created - b.created || compareStrings(a.key, b.key),
  );
  const builder = new RouteModelBuilder();
  const ingressOptions = options.snippetAnnotations !== undefined ? { snippetAnnotations: options.snippetAnnotations } : {};
  for (const { ing } of ordered) builder.add(compileIngress(ing, ingressOptions));
  return builder.build();
}

/** Milliseconds since the epoch; a missing or unparsable timestamp sorts last. */
function creationTime(ingress: Ingress): number {
  const ts = ingress.metadata.creationTimestamp;
  const ms = ts === undefined ? Number.NaN : Date.parse(ts);
  return Number.isNaN(ms) ? Number.MAX_VALUE : ms;
}
