// Service → the service ports the proxy programs, validated (kube-proxy's ServiceChangeTracker
// input rules). Pure: bad fields become diagnostics naming the object and field.
import { formatIp, parseIp, type IpFamily } from '../lib/cidr.js';
import type { Service } from '../model/k8s-objects.js';

/** The label that hands a Service to another proxy (kube-proxy skips those, and so do we). */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
/** The label the EndpointSlice controller puts on a headless Service's slices. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

export type ServiceProtocol = 'TCP' | 'UDP' | 'SCTP';
const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

/** kube-proxy's default for sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const DEFAULT_AFFINITY_SECONDS = 10_800;
const MAX_AFFINITY_SECONDS = 86_400;

/** One port of one Service in one address family: what gets a chain of its own. */
export interface ServicePortInfo {
  /** `namespace/name/protocol/portName`: stable identity (chain names hash it). */
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  /** The Service port's name; '' when unnamed (EndpointSlice ports match by it). */
  readonly portName: string;
  readonly protocol: ServiceProtocol;
  readonly port: number;
  readonly nodePort?: number;
  readonly clusterIP: string;
  /** spec.externalIPs and status.loadBalancer.ingress[].ip of this family, deduplicated, sorted. */
  readonly externalIPs: readonly string[];
  readonly loadBalancerIPs: readonly string[];
  /** ClientIP affinity timeout; undefined when affinity is off. */
  readonly affinitySeconds?: number;
  readonly internalLocal: boolean;
  readonly externalLocal: boolean;
  readonly healthCheckNodePort?: number;
}

export interface ServiceDiagnostic {
  /** `Service ns/name`, `EndpointSlice ns/name` or `Node name`. */
  readonly object: string;
  /** The field at fault, e.g. `spec.ports[1].port`. */
  readonly field: string;
  readonly message: string;
}

/** A Service compiled for one family: its ports (empty when skipped), and why parts were dropped. */
export interface CompiledService {
  readonly ports: readonly ServicePortInfo[];
  readonly diagnostics: readonly ServiceDiagnostic[];
  /** Why the proxy ignores the whole Service on purpose (headless, ExternalName, another proxy). */
  readonly skipped?: string;
}

/**
 * The ports of a Service the proxy programs in `family`. Headless and ExternalName Services and
 * ones labelled for another proxy are skipped without a diagnostic; an invalid clusterIP or port
 * skips the Service with one (a half-programmed Service would be worse than none); an invalid
 * externalIP or LoadBalancer IP drops only that address.
 */
export function compileServicePorts(service: Service, family: IpFamily): CompiledService {
  const namespace = service.metadata.namespace ?? 'default';
  const name = service.metadata.name;
  const object = `Service ${namespace}/${name}`;
  const spec = service.spec ?? {};
  const diagnostics: ServiceDiagnostic[] = [];
  const skip = (reason: string): CompiledService => ({ ports: [], diagnostics, skipped: reason });
  const fail = (field: string, message: string): CompiledService => {
    diagnostics.push({ object, field, message });
    return { ports: [], diagnostics };
  };

  if (service.metadata.labels?.[SERVICE_PROXY_NAME_LABEL] !== undefined) return skip(`labelled ${SERVICE_PROXY_NAME_LABEL}`);
  if (spec.type === 'ExternalName') return skip('type ExternalName');
  const rawIPs = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP !== undefined ? [spec.clusterIP] : [];
  if (rawIPs.length === 0 || rawIPs[0] === '' || rawIPs[0] === 'None') return skip('headless');
  let clusterIP: string | undefined;
  for (const [index, text] of rawIPs.entries()) {
    const ip = parseIp(text);
    if (ip === undefined || text.includes('/')) {
      return fail(spec.clusterIPs ? `spec.clusterIPs[${index}]` : 'spec.clusterIP', `${JSON.stringify(text)} is not an IP address`);
    }
    if (ip.family === family) clusterIP = formatIp(ip);
  }
  if (clusterIP === undefined) return skip(`no IPv${family} clusterIP`);

  const type = spec.type ?? 'ClusterIP';
  if (!['ClusterIP', 'NodePort', 'LoadBalancer'].includes(type)) return fail('spec.type', `unknown type ${JSON.stringify(type)}`);
  const externalLocal = (type === 'NodePort' || type === 'LoadBalancer' || (spec.externalIPs?.length ?? 0) > 0) && spec.externalTrafficPolicy === 'Local';
  const internalLocal = spec.internalTrafficPolicy === 'Local';
  for (const [field, value] of [['spec.externalTrafficPolicy', spec.externalTrafficPolicy], ['spec.internalTrafficPolicy', spec.internalTrafficPolicy]] as const) {
    if (value !== undefined && value !== 'Cluster' && value !== 'Local') return fail(field, `must be Cluster or Local, got ${JSON.stringify(value)}`);
  }

  let affinitySeconds: number | undefined;
  if (spec.sessionAffinity === 'ClientIP') {
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_AFFINITY_SECONDS) {
      return fail('spec.sessionAffinityConfig.clientIP.timeoutSeconds', `must be 1-${MAX_AFFINITY_SECONDS}, got ${timeout}`);
    }
    affinitySeconds = timeout;
  } else if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None') {
    return fail('spec.sessionAffinity', `must be None or ClientIP, got ${JSON.stringify(spec.sessionAffinity)}`);
  }

  const externalIPs = collectIPs(
    (spec.externalIPs ?? []).map((text, index) => ({ text, field: `spec.externalIPs[${index}]` })),
    family,
    object,
    diagnostics,
  );
  const loadBalancerIPs =
    type === 'LoadBalancer'
      ? collectIPs(
          (service.status?.loadBalancer?.ingress ?? []).flatMap((ingress, index) =>
            // ipMode Proxy: the load balancer delivers to the node itself, not to the VIP (KEP-1860).
            ingress.ip !== undefined && ingress.ipMode !== 'Proxy' ? [{ text: ingress.ip, field: `status.loadBalancer.ingress[${index}].ip` }] : [],
          ),
          family,
          object,
          diagnostics,
        )
      : [];

  let healthCheckNodePort: number | undefined;
  if (externalLocal && type === 'LoadBalancer' && spec.healthCheckNodePort !== undefined) {
    // Only the health check is lost: traffic handling does not depend on it.
    if (validPort(spec.healthCheckNodePort)) healthCheckNodePort = spec.healthCheckNodePort;
    else diagnostics.push({ object, field: 'spec.healthCheckNodePort', message: `${spec.healthCheckNodePort} is not a port 1-65535; no health check is served` });
  }

  const ports: ServicePortInfo[] = [];
  const seen = new Set<string>();
  for (const [index, port] of (spec.ports ?? []).entries()) {
    const field = `spec.ports[${index}]`;
    const protocol = port.protocol ?? 'TCP';
    if (!PROTOCOLS.has(protocol)) return fail(`${field}.protocol`, `must be TCP, UDP or SCTP, got ${JSON.stringify(protocol)}`);
    if (!validPort(port.port)) return fail(`${field}.port`, `${port.port} is not a port 1-65535`);
    const wantsNodePort = type === 'NodePort' || type === 'LoadBalancer';
    if (wantsNodePort && port.nodePort !== undefined && !validPort(port.nodePort)) {
      return fail(`${field}.nodePort`, `${port.nodePort} is not a port 1-65535`);
    }
    const portName = port.name ?? '';
    const id = `${namespace}/${name}/${protocol.toLowerCase()}/${portName}`;
    if (seen.has(id)) return fail(`${field}.name`, `duplicate port name ${JSON.stringify(portName)} for ${protocol}`);
    seen.add(id);
    ports.push({
      id,
      namespace,
      name,
      portName,
      protocol: protocol as ServiceProtocol,
      port: port.port,
      ...(wantsNodePort && port.nodePort !== undefined && port.nodePort !== 0 && { nodePort: port.nodePort }),
      clusterIP,
      externalIPs,
      loadBalancerIPs,
      ...(affinitySeconds !== undefined && { affinitySeconds }),
      internalLocal,
      externalLocal,
      ...(healthCheckNodePort !== undefined && { healthCheckNodePort }),
    });
  }
  return { ports, diagnostics };
}

function validPort(port: unknown): port is number {
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535;
}

function collectIPs(
  entries: ReadonlyArray<{ text: string; field: string }>,
  family: IpFamily,
  object: string,
  diagnostics: ServiceDiagnostic[],
): string[] {
  const out = new Set<string>();
  for (const { text, field } of entries) {
    const ip = parseIp(text);
    if (ip === undefined || text.includes('/')) {
      diagnostics.push({ object, field, message: `${JSON.stringify(text)} is not an IP address; ignored` });
      continue;
    }
    if (ip.family === family) out.add(formatIp(ip));
  }
  return [...out].sort();
}
