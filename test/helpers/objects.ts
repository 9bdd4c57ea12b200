// Builders for the Kubernetes objects Portico reads, for unit and end-to-end tests.
// Keys follow objectKey(): `namespace/name` for namespaced kinds (namespace defaults to `default`
// when the key has no slash), the bare name for cluster-scoped ones.
//
//   snapshot([
//     ingressClass('portico'),
//     ingress('default/web', { className: 'portico', rules: [rule('web.example.com', [prefix('/', 'web', 80)])] }),
//     service('default/web', [80]),
//     endpointSlice('default/web-abc', { service: 'web', ports: [{ port: 8080 }], endpoints: ['10.0.0.1'] }),
//   ])
import type {
  ConfigMap,
  EndpointConditions,
  EndpointPort,
  EndpointSlice,
  HTTPIngressPath,
  Ingress,
  IngressBackend,
  IngressClass,
  IngressRule,
  IngressTLS,
  KubeObject,
  Node,
  Pod,
  ObjectMeta,
  ObjectSnapshot,
  Secret,
  Service,
  ServicePort,
} from '../../src/model/k8s-objects.js';
import { objectKey } from '../../src/model/k8s-objects.js';

/** The controller name DEFAULT_COMPILE_OPTIONS answers to. */
export const PORTICO_CONTROLLER = 'portico.dev/ingress-controller';

export interface MetaOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339, e.g. `2024-01-01T00:00:00Z`; decides conflict winners (oldest wins). */
  creationTimestamp?: string;
  resourceVersion?: string;
  generation?: number;
  uid?: string;
}

/** `ns/name` → namespaced metadata; `name` → namespace `default`. Use clusterMeta for cluster scope. */
export function objectMeta(key: string, options: MetaOptions = {}): ObjectMeta {
  const slash = key.indexOf('/');
  const namespace = slash < 0 ? 'default' : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  return { name, namespace, ...definedOnly(options) };
}

export function clusterMeta(name: string, options: MetaOptions = {}): ObjectMeta {
  return { name, ...definedOnly(options) };
}

// ---------------------------------------------------------------------------------------------
// Ingress and IngressClass

export interface IngressClassOptions extends MetaOptions {
  /** spec.controller; defaults to Portico's. */
  controller?: string;
  /** Adds `ingressclass.kubernetes.io/is-default-class: "true"`. */
  isDefault?: boolean;
}

export function ingressClass(name: string, options: IngressClassOptions = {}): IngressClass {
  const { controller = PORTICO_CONTROLLER, isDefault = false, ...meta } = options;
  const annotations = isDefault
    ? { ...meta.annotations, 'ingressclass.kubernetes.io/is-default-class': 'true' }
    : meta.annotations;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: clusterMeta(name, { ...meta, annotations }),
    spec: { controller },
  };
}

export interface IngressOptions extends MetaOptions {
  /** spec.ingressClassName. */
  className?: string;
  /** Sets the legacy `kubernetes.io/ingress.class` annotation. */
  legacyClass?: string;
  rules?: IngressRule[];
  defaultBackend?: IngressBackend;
  tls?: IngressTLS[];
}

export function ingress(key: string, options: IngressOptions = {}): Ingress {
  const { className, legacyClass, rules, defaultBackend, tls, ...meta } = options;
  const annotations =
    legacyClass === undefined ? meta.annotations : { ...meta.annotations, 'kubernetes.io/ingress.class': legacyClass };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: objectMeta(key, { ...meta, annotations }),
    spec: definedOnly({ ingressClassName: className, defaultBackend, tls, rules }),
  };
}

/** An IngressRule; `host` undefined (or '') makes a hostless rule. */
export function rule(host: string | undefined, paths: HTTPIngressPath[]): IngressRule {
  return host === undefined ? { http: { paths } } : { host, http: { paths } };
}

/** A Service backend; a number is `port.number`, a string `port.name`. */
export function backend(service: string, port: number | string): IngressBackend {
  return { service: { name: service, port: typeof port === 'number' ? { number: port } : { name: port } } };
}

/** An HTTPIngressPath. `path`/`pathType` are passed through as given (undefined stays absent). */
export function httpPath(
  path: string | undefined,
  pathType: string | undefined,
  service: string,
  port: number | string,
): HTTPIngressPath {
  return { ...definedOnly({ path, pathType }), backend: backend(service, port) };
}

export const prefix = (path: string, service: string, port: number | string): HTTPIngressPath =>
  httpPath(path, 'Prefix', service, port);
export const exact = (path: string, service: string, port: number | string): HTTPIngressPath =>
  httpPath(path, 'Exact', service, port);
export const implementationSpecific = (path: string, service: string, port: number | string): HTTPIngressPath =>
  httpPath(path, 'ImplementationSpecific', service, port);

// ---------------------------------------------------------------------------------------------
// Service and EndpointSlice

/** Ports as numbers (unnamed, TCP, targetPort = port) or full ServicePorts. */
export function service(key: string, ports: Array<number | ServicePort>, options: MetaOptions = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(key, options),
    spec: {
      type: 'ClusterIP',
      ports: ports.map((p) => (typeof p === 'number' ? { port: p, protocol: 'TCP', targetPort: p } : p)),
      selector: { app: objectMeta(key).name },
    },
  };
}

export interface EndpointOptions {
  addresses: string[];
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  /** targetRef to a Pod of that name. */
  pod?: string;
  nodeName?: string;
  zone?: string;
}

export interface EndpointSliceOptions extends MetaOptions {
  /** The owning Service's name (label `kubernetes.io/service-name`). */
  service: string;
  addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  /** `{ port }` is the unnamed port; add `name` for a named Service port. */
  ports: EndpointPort[];
  /** A string is one ready address with no conditions set (nil conditions mean ready). */
  endpoints: Array<string | EndpointOptions>;
}

export function endpointSlice(key: string, options: EndpointSliceOptions): EndpointSlice {
  const { service: svc, addressType = 'IPv4', ports, endpoints, ...meta } = options;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: objectMeta(key, { ...meta, labels: { ...meta.labels, 'kubernetes.io/service-name': svc } }),
    addressType,
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
    endpoints: endpoints.map((e) => {
      if (typeof e === 'string') return { addresses: [e] };
      const conditions: EndpointConditions = definedOnly({ ready: e.ready, serving: e.serving, terminating: e.terminating });
      return {
        addresses: e.addresses,
        ...(Object.keys(conditions).length > 0 ? { conditions } : {}),
        ...(e.pod === undefined ? {} : { targetRef: { kind: 'Pod', name: e.pod, namespace: objectMeta(key).namespace } }),
        ...definedOnly({ nodeName: e.nodeName, zone: e.zone }),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Secret and Node (for TLS and node-level tests)

export function secret(key: string, data: Record<string, string>, type = 'Opaque', options: MetaOptions = {}): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: objectMeta(key, options), type, data };
}

export function node(name: string, options: MetaOptions & { podCIDRs?: string[]; internalIP?: string } = {}): Node {
  const { podCIDRs, internalIP, ...meta } = options;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: clusterMeta(name, meta),
    spec: podCIDRs === undefined ? {} : { podCIDR: podCIDRs[0], podCIDRs },
    ...(internalIP === undefined ? {} : { status: { addresses: [{ type: 'InternalIP', address: internalIP }] } }),
  };
}

export function configMap(key: string, data: Record<string, string>, options: MetaOptions = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: objectMeta(key, options), data };
}

export function pod(key: string, ips: string[], options: MetaOptions = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: objectMeta(key, options), status: { phase: 'Running', ...(ips[0] !== undefined && { podIP: ips[0] }), podIPs: ips.map((ip) => ({ ip })) } };
}

// ---------------------------------------------------------------------------------------------
// Snapshot

/** An ObjectSnapshot keyed by objectKey(); a later object with the same key replaces an earlier one. */
export function snapshot(objects: readonly KubeObject[]): ObjectSnapshot {
  const ingressClasses = new Map<string, IngressClass>();
  const ingresses = new Map<string, Ingress>();
  const services = new Map<string, Service>();
  const endpointSlices = new Map<string, EndpointSlice>();
  const secrets = new Map<string, Secret>();
  const nodes = new Map<string, Node>();
  const pods = new Map<string, Pod>();
  const configMaps = new Map<string, ConfigMap>();
  for (const obj of objects) {
    const key = objectKey(obj);
    switch (obj.kind) {
      case 'IngressClass':
        ingressClasses.set(key, obj);
        break;
      case 'Ingress':
        ingresses.set(key, obj);
        break;
      case 'Service':
        services.set(key, obj);
        break;
      case 'EndpointSlice':
        endpointSlices.set(key, obj);
        break;
      case 'Secret':
        secrets.set(key, obj);
        break;
      case 'Node':
        nodes.set(key, obj);
        break;
      case 'Pod':
        pods.set(key, obj);
        break;
      case 'ConfigMap':
        configMaps.set(key, obj);
        break;
    }
  }
  return { ingressClasses, ingresses, services, endpointSlices, secrets, nodes, pods, configMaps };
}

/** Fisher–Yates with a seeded PRNG (mulberry32), so shuffled-input tests are reproducible. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const random = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Drops keys whose value is undefined, so built objects compare equal to hand-written ones. */
function definedOnly<T extends object>(obj: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
