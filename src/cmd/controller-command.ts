import { fork } from 'node:child_process';
import { DEFAULT_COMPILE_OPTIONS } from '../compile/index.js';
import { metricsOptionsOf, startController, type RunningController } from '../controller/start-controller.js';
import { METRICS_COMPAT, type MetricsCompat } from '../metrics/metrics.js';
import { availableCpus } from '../workers/cpu-count.js';
import type { ForkWorker } from '../workers/primary.js';
import { runWorker, WORKER_ID_ENV, workerIdOf, type RunningWorker } from '../workers/worker.js';
import { PorticoError } from '../lib/errors.js';
import { parseAccessLogFields } from '../proxy/access-log.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../lib/logger.js';
import { parseNginxSize } from '../compile/annotations/index.js';
import { globalDefaultBackend } from '../compile/annotations/default-backend.js';
import { parseFlags, parseSnippetAnnotations, type FlagSpec } from './flags.js';
import { nodeFlagGiven, SEMI_SPACE_MB } from '../lib/young-generation.js';
import { SERVING_MALLOC_ARENA_MAX } from '../lib/serving-memory.js';

/** Flag names follow ingress-nginx where the concept matches. */
export const CONTROLLER_FLAGS = {
  manifests: { type: 'string', description: 'Serve a directory of YAML/JSON manifests (watched) instead of the Kubernetes API' },
  kubeconfig: { type: 'string', description: 'kubeconfig file for the Kubernetes API (default: in-cluster config, else KUBECONFIG or ~/.kube/config)' },
  'watch-namespace': { type: 'string', description: 'Watch only this namespace (default: all namespaces)' },
  configmap: { type: 'string', description: 'namespace/name of ingress-nginx\'s controller ConfigMap: its global settings (proxy-body-size, timeouts, ssl-redirect, hsts*, add-headers …) as defaults under the annotations; watched, applied without a restart' },
  'publish-service': { type: 'string', description: 'namespace/name of the Service whose address goes into Ingress status' },
  'publish-status-address': { type: 'string', description: 'Comma-separated addresses for Ingress status (wins over --publish-service)' },
  'election-id': { type: 'string', default: 'portico-leader', description: 'Name of the Lease used for leader election (only the leader writes status and Events)' },
  'http-port': { type: 'port', default: 8080, description: 'HTTP listener port (0 picks a free port)' },
  'https-port': { type: 'port', default: 8443, description: 'HTTPS listener port (certificates by SNI from Ingress spec.tls Secrets)' },
  'default-ssl-certificate': { type: 'string', description: 'namespace/name of the kubernetes.io/tls Secret served when no other certificate matches (default: a self-signed one generated at start)' },
  hsts: { type: 'string', default: 'true', choices: ['true', 'false'], description: 'Send Strict-Transport-Security on HTTPS responses' },
  'hsts-max-age': { type: 'string', default: '31536000', description: 'HSTS max-age in seconds' },
  'hsts-include-subdomains': { type: 'string', default: 'true', choices: ['true', 'false'], description: 'Add includeSubDomains to HSTS' },
  http2: { type: 'string', default: 'true', choices: ['true', 'false'], description: 'HTTP/2 to clients (engine data plane): ALPN h2 on the HTTPS port and h2c prior knowledge on the HTTP port, as ingress-nginx\'s use-http2' },
  'metrics-compat': { type: 'string', default: 'none', choices: METRICS_COMPAT, description: 'nginx: /metrics also carries ingress-nginx\'s nginx_ingress_controller_* request and configuration metrics (its names, labels and buckets), so its dashboards work unchanged; none: only Portico\'s portico_* ones' },
  'admin-port': { type: 'port', default: 10254, description: 'Admin port: /healthz, /readyz, /metrics, /debug/ (routes, backends, certificates, stats)' },
  'bind-address': { type: 'string', description: 'Address the listeners bind to (default: all interfaces)' },
  'ingress-class': { type: 'string', default: DEFAULT_COMPILE_OPTIONS.ingressClass, description: 'Value of the legacy kubernetes.io/ingress.class annotation we own' },
  'controller-class': { type: 'string', default: DEFAULT_COMPILE_OPTIONS.controllerClass, description: 'IngressClass spec.controller value we own' },
  'watch-ingress-without-class': { type: 'boolean', description: 'Also serve Ingresses that name no class at all' },
  'default-backend-service': { type: 'string', description: 'namespace/name of a Service (its first port) that answers requests no rule matches (instead of Portico\'s 404) and the ConfigMap\'s custom-http-errors, as ingress-nginx\'s flag' },
  'proxy-body-size': { type: 'string', default: '1m', description: 'Largest request body where an Ingress sets no proxy-body-size annotation, in nginx size syntax (1m, 512k, 0 = no limit); over it the client gets 413 (ingress-nginx\'s default 1m)' },
  'snippet-annotations': { type: 'string', default: 'refuse', description: 'Ingresses with nginx *-snippet annotations (never executed): refuse (not served, as ingress-nginx with snippets disabled) or ignore (served without the snippet)' },
  'data-plane': { type: 'string', default: 'engine', choices: ['node', 'engine'], description: 'engine: Portico\'s own HTTP/1.1 engine (src/engine, the default); node: node:http + undici (the previous data plane)' },
  'max-connections-per-client': { type: 'string', default: '1024', description: 'Engine data plane: open connections one client address may hold; over it a new connection gets 503 and is closed (0: unlimited)' },
  'log-level': { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
  'disable-access-log': { type: 'boolean', description: 'Do not write one access-log line per request' },
  'access-log-fields': { type: 'string', description: 'Access-log fields to write, comma-separated: field names or ingress-nginx variables ($remote_addr, $status, $req_id …) (default: all)' },
  'shutdown-grace-period': { type: 'string', default: '5', description: 'Seconds to keep accepting new connections after SIGTERM while /readyz answers 503 (load balancers in front catch up)' },
  workers: { type: 'string', default: 'auto', description: 'Processes serving traffic: N, or auto (the CPUs this process may use, cgroup quota included). 1: one process, as without workers; N ≥ 2: a primary (source, compile, admin port) and N workers each listening on the ports (SO_REUSEPORT)' },
  'shutdown-drain-timeout': { type: 'string', default: '25', description: 'Seconds in-flight requests then get to finish before connections are cut (grace + drain must fit terminationGracePeriodSeconds)' },
} as const satisfies Record<string, FlagSpec>;

export type ControllerFlags = ReturnType<typeof parseFlags<typeof CONTROLLER_FLAGS>>;

/** Upper bound for --workers N: far above any core count a controller pod gets, low enough to catch a typo. */
const MAX_WORKERS = 1024;

/** `--workers N|auto` → a process count ≥ 1 (`auto`: the CPUs we may use, see cpu-count.ts). */
export function parseWorkers(raw: string | undefined, cpus: () => number = availableCpus): number {
  if (raw === undefined || raw === 'auto') return cpus();
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_WORKERS) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--workers must be auto or a whole number 1-${MAX_WORKERS}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * V8 memory flags every worker gets unless the operator set them (Node flags or NODE_OPTIONS): a
 * small young generation and an old-space cap keep a worker near 100 MB under load instead of
 * 110–150 (README "Memory"). The primary (or the one process) gets the semi-space size by replacing
 * itself at start (lib/serving-memory.ts); the old-space cap only the operator's flag sets.
 */
export const WORKER_V8_FLAGS = [`--max-semi-space-size=${SEMI_SPACE_MB}`, '--max-old-space-size=384'] as const;

export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const missing = WORKER_V8_FLAGS.filter((flag) => !nodeFlagGiven(flag.slice(0, flag.indexOf('=')), execArgv, nodeOptions));
  return [...execArgv, ...missing];
}

/**
 * A worker gets MALLOC_ARENA_MAX=2 unless the operator set it: Node's threads (libuv pool, V8 GC
 * helpers, OpenSSL) otherwise each get a glibc arena of their own and keep its high-water mark
 * resident — ~40 MB more RSS per process under the churn load (README "Memory"). glibc reads it
 * only at process start: the primary got it by replacing itself (lib/serving-memory.ts) or from the
 * image and the Deployment.
 */
export function workerEnv(env: NodeJS.ProcessEnv, id: number): NodeJS.ProcessEnv {
  return { MALLOC_ARENA_MAX: SERVING_MALLOC_ARENA_MAX, ...env, [WORKER_ID_ENV]: String(id) };
}

/**
 * Forks worker `id`: the same CLI entry with the same arguments and Node flags, marked by
 * PORTICO_WORKER_ID; it shares our stdout/stderr (one log stream) and talks over the IPC channel.
 */
const forkWorker: ForkWorker = (id) =>
  fork(process.argv[1]!, process.argv.slice(2), {
    env: workerEnv(process.env, id),
    execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

export async function runControllerCommand(argv: readonly string[]): Promise<RunningController | RunningWorker> {
  const flags = parseFlags(argv, CONTROLLER_FLAGS);
  const workers = parseWorkers(flags.workers);
  if (flags.manifests !== undefined && flags.kubeconfig !== undefined) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--manifests and --kubeconfig are exclusive: serve a directory or watch an API server');
  }
  const publishService = flags['publish-service'];
  if (publishService !== undefined && !/^[^/\s]+\/[^/\s]+$/.test(publishService)) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--publish-service must be namespace/name, got ${JSON.stringify(publishService)}`);
  }
  const configMap = flags.configmap;
  if (configMap !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(configMap)) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--configmap must be namespace/name, got ${JSON.stringify(configMap)}`);
  }
  const maxAge = Number(flags['hsts-max-age']);
  if (!Number.isInteger(maxAge) || maxAge < 0) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--hsts-max-age must be a whole number of seconds, got ${JSON.stringify(flags['hsts-max-age'])}`);
  }
  const defaultCert = flags['default-ssl-certificate'];
  if (defaultCert !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(defaultCert)) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--default-ssl-certificate must be namespace/name, got ${JSON.stringify(defaultCert)}`);
  }
  const gracePeriodSeconds = parseSeconds('shutdown-grace-period', flags['shutdown-grace-period']);
  const drainTimeoutSeconds = parseSeconds('shutdown-drain-timeout', flags['shutdown-drain-timeout']);
  const maxPerClient = flags['max-connections-per-client'];
  if (maxPerClient === undefined || !/^\d+$/.test(maxPerClient)) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--max-connections-per-client must be a whole number (0: unlimited), got ${JSON.stringify(maxPerClient)}`);
  }
  const accessLogFields = flags['access-log-fields'] !== undefined ? parseAccessLogFields(flags['access-log-fields']) : undefined;
  const defaultBackendService = flags['default-backend-service'];
  if (defaultBackendService !== undefined && globalDefaultBackend(defaultBackendService) === undefined) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--default-backend-service must be namespace/name, got ${JSON.stringify(defaultBackendService)}`);
  }
  const maxBodySize = parseNginxSize(flags['proxy-body-size'] ?? '1m');
  if (maxBodySize === undefined) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--proxy-body-size must be a size such as 1m, 512k or 0, got ${JSON.stringify(flags['proxy-body-size'])}`);
  const logger = createLogger({ level: flags['log-level'] as LogLevel });
  const hsts = flags.hsts === 'true' ? { maxAge, includeSubDomains: flags['hsts-include-subdomains'] === 'true' } : false;
  const metricsCompat = flags['metrics-compat'] as MetricsCompat;
  const controllerClass = flags['controller-class'] ?? DEFAULT_COMPILE_OPTIONS.controllerClass;
  // A process forked by a primary (--workers N ≥ 2) serves traffic with the configuration it is sent.
  const workerId = workerIdOf(process.env, process.send !== undefined);
  if (workerId !== undefined) {
    try {
      return await runWorker({
        id: workerId,
        channel: process as unknown as Parameters<typeof runWorker>[0]['channel'],
        logger,
        dataPlane: flags['data-plane'] as 'node' | 'engine',
        maxConnectionsPerClient: Number(maxPerClient),
        maxBodySize,
        http2: flags.http2 !== 'false',
        ...(flags['bind-address'] !== undefined && { bindAddress: flags['bind-address'] }),
        ...(flags['disable-access-log'] && { accessLog: false as const }),
        ...(accessLogFields && { accessLogFields }),
        hsts,
        metrics: metricsOptionsOf(metricsCompat, controllerClass),
        shutdownGracePeriodMs: gracePeriodSeconds * 1000,
        shutdownDrainTimeoutMs: drainTimeoutSeconds * 1000,
        exit: (code) => process.exit(code),
      });
    } catch (error) {
      process.disconnect?.(); // else the IPC channel keeps this process alive after the error is printed
      throw error;
    }
  }
  const source =
    flags.manifests !== undefined
      ? { manifestsDir: flags.manifests }
      : {
          kubernetes: {
            ...(flags.kubeconfig !== undefined && { kubeconfigPath: flags.kubeconfig }),
            watchNamespace: flags['watch-namespace'],
            publishService,
            publishStatusAddresses: flags['publish-status-address']?.split(',').map((a) => a.trim()).filter(Boolean),
            electionId: flags['election-id'],
          },
        };
  return startController({
    ...source,
    httpPort: flags['http-port'],
    httpsPort: flags['https-port'],
    adminPort: flags['admin-port'],
    ...(defaultCert !== undefined && { defaultSslCertificate: defaultCert }),
    hsts,
    ...(flags['bind-address'] !== undefined && { bindAddress: flags['bind-address'] }),
    dataPlane: flags['data-plane'] as 'node' | 'engine',
    maxConnectionsPerClient: Number(maxPerClient),
    maxBodySize,
    http2: flags.http2 !== 'false',
    metricsCompat,
    compile: {
      controllerClass,
      ingressClass: flags['ingress-class'] ?? DEFAULT_COMPILE_OPTIONS.ingressClass,
      watchIngressWithoutClass: flags['watch-ingress-without-class'],
      snippetAnnotations: parseSnippetAnnotations(flags['snippet-annotations']),
      ...(defaultBackendService !== undefined && { defaultBackendService }),
      ...(configMap !== undefined && { configMap, hsts }),
    },
    logger,
    ...(flags['disable-access-log'] && { accessLog: false as const }),
    ...(accessLogFields && { accessLogFields }),
    shutdownGracePeriodMs: gracePeriodSeconds * 1000,
    shutdownDrainTimeoutMs: drainTimeoutSeconds * 1000,
    ...(workers >= 2 && { workers: { count: workers, fork: forkWorker } }),
  });
}

function parseSeconds(flag: string, raw: string | undefined): number {
  const seconds = Number(raw);
  if (raw === undefined || !/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(seconds)) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--${flag} must be a number of seconds (0 or more), got ${JSON.stringify(raw)}`);
  }
  return seconds;
}
