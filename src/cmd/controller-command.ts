import { DEFAULT_COMPILE_OPTIONS } from '../compile/index.js';
import { startController, type RunningController } from '../controller/start-controller.js';
import { PorticoError } from '../lib/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../lib/logger.js';
import { parseFlags, type FlagSpec } from './flags.js';

/** Flag names follow ingress-nginx where the concept matches. */
export const CONTROLLER_FLAGS = {
  manifests: { type: 'string', description: 'Directory of YAML/JSON manifests to serve and watch (required)' },
  'http-port': { type: 'port', default: 8080, description: 'HTTP listener port (0 picks a free port)' },
  'https-port': { type: 'port', default: 8443, description: 'HTTPS listener port (certificates by SNI from Ingress spec.tls Secrets)' },
  'default-ssl-certificate': { type: 'string', description: 'namespace/name of the kubernetes.io/tls Secret served when no other certificate matches (default: a self-signed one generated at start)' },
  hsts: { type: 'string', default: 'true', choices: ['true', 'false'], description: 'Send Strict-Transport-Security on HTTPS responses' },
  'hsts-max-age': { type: 'string', default: '31536000', description: 'HSTS max-age in seconds' },
  'hsts-include-subdomains': { type: 'string', default: 'true', choices: ['true', 'false'], description: 'Add includeSubDomains to HSTS' },
  'admin-port': { type: 'port', default: 10254, description: 'Admin port: /healthz, /readyz, /debug/stats' },
  'bind-address': { type: 'string', description: 'Address the listeners bind to (default: all interfaces)' },
  'ingress-class': { type: 'string', default: DEFAULT_COMPILE_OPTIONS.ingressClass, description: 'Value of the legacy kubernetes.io/ingress.class annotation we own' },
  'controller-class': { type: 'string', default: DEFAULT_COMPILE_OPTIONS.controllerClass, description: 'IngressClass spec.controller value we own' },
  'watch-ingress-without-class': { type: 'boolean', description: 'Also serve Ingresses that name no class at all' },
  'log-level': { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
} as const satisfies Record<string, FlagSpec>;

export type ControllerFlags = ReturnType<typeof parseFlags<typeof CONTROLLER_FLAGS>>;

export async function runControllerCommand(argv: readonly string[]): Promise<RunningController> {
  const flags = parseFlags(argv, CONTROLLER_FLAGS);
  if (flags.manifests === undefined) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--manifests DIR is required (the Kubernetes API source is not available yet)');
  }
  const maxAge = Number(flags['hsts-max-age']);
  if (!Number.isInteger(maxAge) || maxAge < 0) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--hsts-max-age must be a whole number of seconds, got ${JSON.stringify(flags['hsts-max-age'])}`);
  }
  const defaultCert = flags['default-ssl-certificate'];
  if (defaultCert !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(defaultCert)) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--default-ssl-certificate must be namespace/name, got ${JSON.stringify(defaultCert)}`);
  }
  const logger = createLogger({ level: flags['log-level'] as LogLevel });
  return startController({
    manifestsDir: flags.manifests,
    httpPort: flags['http-port'],
    httpsPort: flags['https-port'],
    adminPort: flags['admin-port'],
    ...(defaultCert !== undefined && { defaultSslCertificate: defaultCert }),
    hsts: flags.hsts === 'true' ? { maxAge, includeSubDomains: flags['hsts-include-subdomains'] === 'true' } : false,
    ...(flags['bind-address'] !== undefined && { bindAddress: flags['bind-address'] }),
    compile: {
      controllerClass: flags['controller-class'] ?? DEFAULT_COMPILE_OPTIONS.controllerClass,
      ingressClass: flags['ingress-class'] ?? DEFAULT_COMPILE_OPTIONS.ingressClass,
      watchIngressWithoutClass: flags['watch-ingress-without-class'],
    },
    logger,
  });
}
