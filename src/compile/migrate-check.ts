// `portico migrate-check`: what Portico will do with each ingress-nginx annotation of each Ingress,
// and with the ingress-nginx ConfigMap, as data (the command renders it). Pure: objects in, report out.
import type { Ingress } from '../model/k8s-objects.js';
import { objectKey } from '../model/k8s-objects.js';
import { ANNOTATION_DIFFERENCES, isSnippet, NGINX_PREFIX, parseIngressAnnotations, SUPPORTED_ANNOTATIONS } from './annotations/index.js';
import { CONFIGMAP_DIFFERENCES, parseControllerConfigMap } from './configmap.js';

export type Verdict = 'supported' | 'different' | 'invalid' | 'ignored' | 'refused';

export interface AnnotationVerdict {
  readonly annotation: string;
  readonly value: string;
  readonly verdict: Verdict;
  /** What differs, what is wrong, or what happens instead. */
  readonly note?: string;
}

export interface IngressReport {
  /** `namespace/name`. */
  readonly ingress: string;
  /** spec.ingressClassName, else the kubernetes.io/ingress.class annotation. */
  readonly className: string | undefined;
  readonly annotations: readonly AnnotationVerdict[];
}

export interface MigrationReport {
  readonly ingresses: readonly IngressReport[];
  /** The --configmap ConfigMap, else those that look like ingress-nginx's (name ends in `ingress-nginx-controller` or `nginx-configuration`): their keys. */
  readonly configMaps: ReadonlyArray<{ readonly name: string; readonly keys: readonly AnnotationVerdict[] }>;
  /** Something would behave differently from ingress-nginx (invalid, ignored or refused): exit 1. */
  readonly changesBehaviour: boolean;
}

const CONFIGMAP_NAME = /(?:^|-)(?:ingress-nginx-controller|nginx-configuration)$/;

export interface MigrationInput {
  readonly ingresses: readonly Ingress[];
  /** ConfigMaps as read (`namespace/name` and data); only ingress-nginx's are reported. */
  readonly configMaps: ReadonlyArray<{ readonly name: string; readonly data: Readonly<Record<string, string>> }>;
}

export function buildMigrationReport(input: MigrationInput, options: { readonly snippetAnnotations?: 'refuse' | 'ignore'; /** `namespace/name` of the controller ConfigMap, whatever its name (--configmap). */ readonly configMap?: string } = {}): MigrationReport {
  const ingresses = [...input.ingresses].sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
  const reports = ingresses.map((ingress) => reportIngress(ingress, options));
  const configMaps = input.configMaps
    .filter((c) => (options.configMap !== undefined ? c.name === options.configMap : CONFIGMAP_NAME.test(c.name.slice(c.name.indexOf('/') + 1))))
    .map((c) => ({ name: c.name, keys: reportConfigMap(c.name, c.data) }));
  const changesBehaviour = [...reports.flatMap((r) => r.annotations), ...configMaps.flatMap((c) => c.keys)].some((v) => v.verdict === 'invalid' || v.verdict === 'ignored' || v.verdict === 'refused');
  return { ingresses: reports, configMaps, changesBehaviour };
}

function reportIngress(ingress: Ingress, options: { readonly snippetAnnotations?: 'refuse' | 'ignore' }): IngressReport {
  const raw = ingress.metadata.annotations ?? {};
  const { problems } = parseIngressAnnotations(ingress);
  const problemOf = new Map(problems.map((p) => [p.key, p.message]));
  const verdicts = Object.keys(raw)
    .filter((key) => key.startsWith(NGINX_PREFIX))
    .sort()
    .map((annotation): AnnotationVerdict => {
      const value = raw[annotation]!;
      if (isSnippet(annotation)) {
        return options.snippetAnnotations === 'ignore'
          ? { annotation, value, verdict: 'ignored', note: 'snippets are never executed; served without it (--snippet-annotations=ignore)' }
          : { annotation, value, verdict: 'refused', note: 'snippets are never executed; the whole Ingress is not served (--snippet-annotations=ignore serves it without)' };
      }
      if (!SUPPORTED_ANNOTATIONS.has(annotation)) return { annotation, value, verdict: 'ignored', note: 'not implemented by Portico yet' };
      const problem = problemOf.get(annotation);
      if (problem !== undefined) return { annotation, value, verdict: 'invalid', note: problem };
      const difference = ANNOTATION_DIFFERENCES[annotation];
      return difference === undefined ? { annotation, value, verdict: 'supported' } : { annotation, value, verdict: 'different', note: difference };
    });
  const className = ingress.spec?.ingressClassName ?? raw['kubernetes.io/ingress.class'];
  return { ingress: objectKey(ingress), className, annotations: verdicts };
}

/** Each key of an ingress-nginx controller ConfigMap, as `portico controller --configmap` reads it. */
function reportConfigMap(name: string, data: Readonly<Record<string, string>>): AnnotationVerdict[] {
  const namespace = name.includes('/') ? name.slice(0, name.indexOf('/')) : 'default';
  const parsed = parseControllerConfigMap(data, namespace);
  const problemOf = new Map(parsed.problems.map((p) => [p.key, p.message]));
  const differenceOf = new Map(parsed.different.map((p) => [p.key, p.message]));
  const unsupported = new Set(parsed.unsupported);
  return Object.keys(data)
    .sort()
    .map((key): AnnotationVerdict => {
      const value = String(data[key]);
      if (unsupported.has(key)) return { annotation: key, value, verdict: 'ignored', note: 'not implemented by Portico' };
      const problem = problemOf.get(key);
      if (problem !== undefined) return { annotation: key, value, verdict: 'invalid', note: problem };
      // Applied, with a warning (allow-snippet-annotations: "true" without running snippets; a real-IP key trusting every peer).
      const warning = differenceOf.get(key);
      if (warning !== undefined) return { annotation: key, value, verdict: 'different', note: warning };
      const difference = CONFIGMAP_DIFFERENCES[key];
      return difference === undefined ? { annotation: key, value, verdict: 'supported' } : { annotation: key, value, verdict: 'different', note: difference };
    });
}
