// portico migrate-check -f FILE|DIR…: what Portico will do with each ingress-nginx annotation of the
// Ingresses given (supported, different, invalid, ignored, refused) and with ingress-nginx's
// ConfigMap. Exit status 1 when something would behave differently from ingress-nginx, 0 when not.
import { parseAllDocuments } from 'yaml';
import { buildMigrationReport, type AnnotationVerdict, type MigrationReport } from '../compile/migrate-check.js';
import { NGINX_PREFIX } from '../compile/annotations/index.js';
import { PorticoError } from '../lib/errors.js';
import type { Ingress } from '../model/k8s-objects.js';
import { parseManifest } from '../source/parse-manifest.js';
import { KubeClient, loadKubeConfig } from '../k8s/kube-client.js';
import { MIGRATE_CHECK_API_ACCESS, RESOURCES } from '../k8s/api-access.js';
import { parseFlags, parseSnippetAnnotations, type FlagSpec } from './flags.js';
import { expandShortFlags, readInputs } from './manifest-inputs.js';

export const MIGRATE_CHECK_FLAGS = {
  filename: { type: 'string', description: 'A manifest file or directory (repeat -f; - reads stdin), e.g. the output of kubectl get ingress,configmap -A -o yaml' },
  kubeconfig: { type: 'string', description: 'Read the Ingresses and ingress-nginx\'s ConfigMap from this cluster instead (list only; with -f too, both are checked)' },
  output: { type: 'string', default: 'text', description: 'text or json' },
  'snippet-annotations': { type: 'string', default: 'refuse', description: 'As the controller will run: refuse or ignore' },
  configmap: { type: 'string', description: 'namespace/name of ingress-nginx\'s controller ConfigMap (default: any ConfigMap named ingress-nginx-controller or nginx-configuration)' },
} as const satisfies Record<string, FlagSpec>;

export async function runMigrateCheckCommand(argv: readonly string[]) {
  const { args, files, positionals } = expandShortFlags(argv);
  if (positionals.length > 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `unexpected argument ${JSON.stringify(positionals[0])} (give files with -f)`);
  const flags = parseFlags(args, MIGRATE_CHECK_FLAGS);
  if (flags.output !== 'text' && flags.output !== 'json') throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--output must be text or json, got ${JSON.stringify(flags.output)}`);
  if (flags.configmap !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(flags.configmap)) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--configmap must be namespace/name, got ${JSON.stringify(flags.configmap)}`);
  }
  const inputs = files.length === 0 && flags.kubeconfig !== undefined ? [] : await readInputs(files, { directories: true });
  if (flags.kubeconfig !== undefined) inputs.push(await readCluster(flags.kubeconfig, flags.configmap));
  const ingresses: Ingress[] = [];
  const configMaps: Array<{ name: string; data: Record<string, string> }> = [];
  for (const { text, source } of inputs) {
    const parsed = parseManifest(text, source);
    for (const object of parsed.objects) if (object.kind === 'Ingress') ingresses.push(object);
    for (const problem of parsed.problems) if (!problem.message.includes('ConfigMap')) process.stderr.write(`migrate-check: ${problem.where}: ${problem.message}\n`);
    configMaps.push(...readConfigMaps(text));
  }
  const report = buildMigrationReport({ ingresses, configMaps }, { snippetAnnotations: parseSnippetAnnotations(flags['snippet-annotations']), ...(flags.configmap !== undefined && { configMap: flags.configmap }) });
  process.stdout.write(flags.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  process.exitCode = report.changesBehaviour ? 1 : 0;
  return { close: async () => undefined, done: true as const };
}

/**
 * The cluster's Ingresses (every namespace) and ConfigMaps (the --configmap namespace, else every
 * namespace: the report picks ingress-nginx's by name), as one List manifest. Two list calls, nothing
 * written.
 */
async function readCluster(kubeconfigPath: string, configMap: string | undefined): Promise<{ text: string; source: string }> {
  const client = new KubeClient(loadKubeConfig({ kubeconfigPath }), { access: MIGRATE_CHECK_API_ACCESS });
  const namespace = configMap?.split('/')[0];
  const [ingresses, configMaps] = await Promise.all([
    client.list(RESOURCES.ingresses),
    // Who may list Ingresses but not ConfigMaps still gets the annotations checked.
    client.list(RESOURCES.configMaps, namespace !== undefined ? { namespace } : {}).catch((error: Error) => {
      process.stderr.write(`migrate-check: cannot list ConfigMaps (${error.message}); checking the Ingresses only\n`);
      return { items: [], resourceVersion: '' };
    }),
  ]);
  // List items come without their kind.
  const items = [
    ...ingresses.items.map((item) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', ...(item as object) })),
    ...configMaps.items.map((item) => ({ apiVersion: 'v1', kind: 'ConfigMap', ...(item as object) })),
  ];
  return { text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), source: client.server };
}

/** ConfigMaps in a manifest (Portico's object parser has no ConfigMap kind). */
function readConfigMaps(text: string): Array<{ name: string; data: Record<string, string> }> {
  const out: Array<{ name: string; data: Record<string, string> }> = [];
  const visit = (doc: unknown) => {
    if (typeof doc !== 'object' || doc === null) return;
    const o = doc as { kind?: unknown; items?: unknown; metadata?: { name?: unknown; namespace?: unknown }; data?: unknown };
    if (o.kind === 'List' && Array.isArray(o.items)) return o.items.forEach(visit);
    if (o.kind !== 'ConfigMap' || typeof o.metadata?.name !== 'string') return;
    const data = typeof o.data === 'object' && o.data !== null ? Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, String(v)])) : {};
    out.push({ name: `${typeof o.metadata.namespace === 'string' ? o.metadata.namespace : 'default'}/${o.metadata.name}`, data });
  };
  for (const document of parseAllDocuments(text)) visit(document.toJS());
  return out;
}

export function renderReport(report: MigrationReport): string {
  const lines: string[] = [];
  const shown = (value: string) => (/^[\x20-\x7e]{0,80}$/.test(value) ? value : `${JSON.stringify(value.slice(0, 60))}${value.length > 60 ? '…' : ''}`);
  const line = (v: AnnotationVerdict, prefix = '') => `  ${v.verdict.padEnd(10)} ${v.annotation.slice(prefix.length)}: ${shown(v.value)}${v.note === undefined ? '' : ` — ${v.note}`}`;
  for (const ingress of report.ingresses) {
    lines.push(`Ingress ${ingress.ingress}${ingress.className === undefined ? '' : ` (class ${ingress.className})`}`);
    if (ingress.annotations.length === 0) lines.push('  (no nginx.ingress.kubernetes.io annotations)');
    for (const v of ingress.annotations) lines.push(line(v, NGINX_PREFIX));
  }
  for (const configMap of report.configMaps) {
    lines.push(`ConfigMap ${configMap.name}`);
    for (const v of configMap.keys) lines.push(line(v));
  }
  const all = [...report.ingresses.flatMap((i) => i.annotations), ...report.configMaps.flatMap((c) => c.keys)];
  const count = (verdict: string) => all.filter((v) => v.verdict === verdict).length;
  const classes = [...new Set(report.ingresses.map((i) => i.className).filter((c): c is string => c !== undefined && c !== 'portico'))].sort();
  if (classes.length > 0) lines.push(`Class ${classes.join(', ')}: Portico serves class portico by default; run it with --ingress-class ${classes[0]} (the annotation), or give Portico an IngressClass of that name with spec.controller = its --controller-class.`);
  lines.push(
    `${report.ingresses.length} Ingresses, ${all.length} annotations and keys: ${count('supported')} supported, ${count('different')} supported with a difference, ${count('invalid')} invalid, ${count('ignored')} ignored, ${count('refused')} refused.`,
    report.changesBehaviour ? 'Something would behave differently from ingress-nginx (exit 1).' : 'Nothing would behave differently from ingress-nginx.',
  );
  return `${lines.join('\n')}\n`;
}
