// Class selection: which Ingresses this controller owns. Depends only on IngressClasses and options.
import type { Ingress, IngressClass } from '../model/k8s-objects.js';

/** Legacy per-Ingress class annotation, consulted only when spec.ingressClassName is absent. */
export const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
/** Marks an IngressClass as the cluster default for Ingresses that name no class. */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

export interface ClassSelectionOptions {
  readonly controllerClass: string;
  readonly ingressClass: string;
  readonly watchIngressWithoutClass: boolean;
}

export interface ClassSelection {
  /** Names of the IngressClasses whose spec.controller is ours. */
  readonly classNames: ReadonlySet<string>;
  /** Whether Ingresses with neither ingressClassName nor the legacy annotation are ours. */
  readonly acceptClassless: boolean;
  readonly legacyClass: string;
}

export function compileClassSelection(
  classes: ReadonlyMap<string, IngressClass>,
  options: ClassSelectionOptions,
): ClassSelection {
  const classNames = new Set<string>();
  let ourDefault = false;
  for (const cls of classes.values()) {
    if (cls.spec?.controller !== options.controllerClass) continue;
    classNames.add(cls.metadata.name);
    if (cls.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true') ourDefault = true;
  }
  return {
    classNames,
    acceptClassless: ourDefault || options.watchIngressWithoutClass,
    legacyClass: options.ingressClass,
  };
}

/**
 * spec.ingressClassName decides when set (a missing or foreign class means the Ingress belongs to
 * someone else, so no diagnostic); else the legacy annotation; else the default-class rule.
 */
export function isIngressOwned(ingress: Ingress, selection: ClassSelection): boolean {
  const className = ingress.spec?.ingressClassName;
  if (className !== undefined && className !== '') return selection.classNames.has(className);
  const legacy = ingress.metadata.annotations?.[INGRESS_CLASS_ANNOTATION];
  if (legacy !== undefined) return legacy === selection.legacyClass;
  return selection.acceptClassless;
}
