import { isIP } from 'node:net';
import { PorticoError } from '../lib/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../lib/logger.js';
import { POD_MODES, isDnsName, type PodMode } from '../dns/records.js';
import type { Upstream } from '../dns/forwarder.js';
import { readResolvConf, startDns, type RunningDns } from '../dns/start-dns.js';
import { parseFlags, type FlagSpec } from './flags.js';

/** Flag names follow the CoreDNS kubernetes plugin's options where they have one. */
export const DNS_FLAGS = {
  manifests: { type: 'string', description: 'Read Services, EndpointSlices (and Pods) from a directory of manifests (watched) instead of the Kubernetes API' },
  kubeconfig: { type: 'string', description: 'kubeconfig file for the Kubernetes API (default: in-cluster config, else KUBECONFIG or ~/.kube/config)' },
  listen: { type: 'string', default: '0.0.0.0:53', description: 'Address and port to answer on, UDP and TCP (port 0 picks a free one; IPv6 as [::]:53)' },
  zone: { type: 'string', default: 'cluster.local', description: 'The cluster domain answered from Services and Pods; every other name is forwarded' },
  ttl: { type: 'string', default: '5', description: 'TTL in seconds of every record in the zone (and its SOA minimum), 0-3600' },
  upstream: { type: 'string', description: 'Comma-separated resolvers for names outside the zone, ADDR or ADDR:PORT (default: the nameservers of --upstream-resolv-conf)' },
  'upstream-resolv-conf': { type: 'string', description: 'resolv.conf whose nameservers are the upstreams (default /etc/resolv.conf)' },
  pods: { type: 'string', default: 'insecure', choices: POD_MODES, description: 'a-b-c-d.<ns>.pod.<zone>: insecure answers any, verified only for a Pod with that IP in that namespace, disabled gives NXDOMAIN' },
  'metrics-port': { type: 'port', default: 9153, description: '/metrics: Prometheus text (queries by rcode and type, cache hits, upstream failures); 0 picks a free port' },
  'log-level': { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
} as const satisfies Record<string, FlagSpec>;

/** `10.0.0.1`, `10.0.0.1:5353`, `[fd00::1]:53`, `fd00::1` → host and port. */
export function parseHostPort(flag: string, text: string, defaultPort: number): Upstream {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host: string;
  let portText: string | undefined;
  if (bracketed) [, host, portText] = bracketed as unknown as [string, string, string | undefined];
  else if (isIP(text) === 6) host = text;
  else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (isIP(host) === 0 || !/^\d*$/.test(portText ?? '') || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--${flag}: ${JSON.stringify(text)} is not ADDR[:PORT] (an IP address, like 10.96.0.10:53)`);
  }
  return { host, port };
}

export async function runDnsCommand(argv: readonly string[]): Promise<RunningDns> {
  const flags = parseFlags(argv, DNS_FLAGS);
  const logger = createLogger({ level: flags['log-level'] as LogLevel });
  if (flags.manifests !== undefined && flags.kubeconfig !== undefined) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--manifests and --kubeconfig are exclusive: read a directory or watch an API server');
  }
  if (flags.upstream !== undefined && flags['upstream-resolv-conf'] !== undefined) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--upstream and --upstream-resolv-conf are exclusive');
  }
  const listen = parseHostPort('listen', flags.listen!, 53);
  const zone = flags.zone!;
  if (!isDnsName(zone)) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--zone: ${JSON.stringify(zone)} is not a DNS name`);
  const ttl = Number(flags.ttl);
  if (!/^\d+$/.test(flags.ttl!) || ttl > 3600) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--ttl must be whole seconds 0-3600, got ${JSON.stringify(flags.ttl)}`);
  const upstreams =
    flags.upstream !== undefined
      ? flags.upstream.split(',').map((part) => part.trim()).filter(Boolean).map((part) => parseHostPort('upstream', part, 53))
      : await readResolvConf(flags['upstream-resolv-conf'] ?? '/etc/resolv.conf');
  if (upstreams.length === 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--upstream names no address');
  // Forwarding to ourselves would loop every out-of-zone query until it times out.
  const self = upstreams.find((u) => u.host === listen.host && u.port === listen.port);
  if (self) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `upstream ${self.host}:${self.port} is this server's own --listen address (a forwarding loop)`);
  return startDns({
    ...(flags.manifests !== undefined && { manifestsDir: flags.manifests }),
    ...(flags.kubeconfig !== undefined && { kubeconfigPath: flags.kubeconfig }),
    host: listen.host,
    port: listen.port,
    zone,
    ttl,
    upstreams,
    pods: flags.pods as PodMode,
    metricsPort: flags['metrics-port'],
    logger,
  });
}
