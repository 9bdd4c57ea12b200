// The subset of Kubernetes object shapes Portico reads. Sources (manifest directory, API watch)
// validate objects into these shapes before they reach the store, so compile code may rely on them.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface IngressClass {
  apiVersion: string;
  kind: 'IngressClass';
  metadata: ObjectMeta;
  spec?: { controller?: string; parameters?: Record<string, unknown> };
}

export interface ServiceBackendPort {
  number?: number;
  name?: string;
}

export interface IngressBackend {
  service?: { name: string; port?: ServiceBackendPort };
  resource?: { apiGroup?: string; kind: string; name: string };
}

export interface HTTPIngressPath {
  path?: string;
  pathType?: string;
  backend: IngressBackend;
}

export interface IngressRule {
  host?: string;
  http?: { paths: HTTPIngressPath[] };
}

export interface IngressTLS {
  hosts?: string[];
  secretName?: string;
}

export interface Ingress {
  apiVersion: string;
  kind: 'Ingress';
  metadata: ObjectMeta;
  spec?: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    tls?: IngressTLS[];
    rules?: IngressRule[];
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
}

export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

export interface Service {
  apiVersion: string;
  kind: 'Service';
  metadata: ObjectMeta;
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ports?: ServicePort[];
    selector?: Record<string, string>;
    externalName?: string;
    externalIPs?: string[];
    ipFamilies?: string[];
    /** `None` (default) or `ClientIP`. */
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    /** `Cluster` (default) or `Local`: NodePort/LoadBalancer/externalIP traffic. */
    externalTrafficPolicy?: string;
    /** `Cluster` (default) or `Local`: ClusterIP traffic. */
    internalTrafficPolicy?: string;
    healthCheckNodePort?: number;
    loadBalancerIP?: string;
    loadBalancerClass?: string;
    loadBalancerSourceRanges?: string[];
    publishNotReadyAddresses?: boolean;
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string; ipMode?: string }> } };
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface SliceEndpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface EndpointSlice {
  apiVersion: string;
  kind: 'EndpointSlice';
  metadata: ObjectMeta;
  addressType: string;
  endpoints: SliceEndpoint[];
  ports?: EndpointPort[];
}

export interface Secret {
  apiVersion: string;
  kind: 'Secret';
  metadata: ObjectMeta;
  type?: string;
  data?: Record<string, string>;
}

export interface Node {
  apiVersion: string;
  kind: 'Node';
  metadata: ObjectMeta;
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: Array<{ type: string; address: string }> };
}

/** Read by `portico dns --pods verified` only: which pod IPs exist in which namespace. */
export interface Pod {
  apiVersion: string;
  kind: 'Pod';
  metadata: ObjectMeta;
  status?: { podIP?: string; podIPs?: Array<{ ip: string }>; phase?: string };
}

/** Read by the controller with --configmap: ingress-nginx's global settings, and the header lists they name. */
export interface ConfigMap {
  apiVersion: string;
  kind: 'ConfigMap';
  metadata: ObjectMeta;
  data?: Record<string, string>;
}

export type KubeObject = IngressClass | Ingress | Service | EndpointSlice | Secret | Node | Pod | ConfigMap;
export type ObjectKind = KubeObject['kind'];

export const OBJECT_KINDS: readonly ObjectKind[] = [
  'IngressClass',
  'Ingress',
  'Service',
  'EndpointSlice',
  'Secret',
  'Node',
  'Pod',
  'ConfigMap',
];

/** Kinds without a namespace; their store key is the bare name. */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<ObjectKind> = new Set(['IngressClass', 'Node']);

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones. */
export function objectKey(obj: KubeObject): string {
  if (CLUSTER_SCOPED_KINDS.has(obj.kind)) return obj.metadata.name;
  return `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}

/** Read-only view of every object the compiler may consult, keyed by objectKey(). */
export interface ObjectSnapshot {
  readonly ingressClasses: ReadonlyMap<string, IngressClass>;
  readonly ingresses: ReadonlyMap<string, Ingress>;
  readonly services: ReadonlyMap<string, Service>;
  readonly endpointSlices: ReadonlyMap<string, EndpointSlice>;
  readonly secrets: ReadonlyMap<string, Secret>;
  readonly nodes: ReadonlyMap<string, Node>;
  readonly pods: ReadonlyMap<string, Pod>;
  /** Only with --configmap (absent in snapshots built by other commands). */
  readonly configMaps?: ReadonlyMap<string, ConfigMap>;
}
