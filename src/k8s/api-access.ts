// Every Kubernetes API resource Portico talks to, and every call it makes on them: the one place
// the RBAC manifests (deploy/kubernetes/) are checked against (test/deploy/rbac.test.ts).
// KubeClient refuses any call that is not declared here, so the table cannot drift from the code.

export type ApiVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

export interface ApiResource {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural resource name, as in RBAC rules and URLs. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export const RESOURCES = {
  ingressClasses: { group: 'networking.k8s.io', version: 'v1', resource: 'ingressclasses', kind: 'IngressClass', namespaced: false },
  ingresses: { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', kind: 'Ingress', namespaced: true },
  services: { group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true },
  endpointSlices: { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  secrets: { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true },
  nodes: { group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false },
  pods: { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true },
  configMaps: { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true },
  events: { group: '', version: 'v1', resource: 'events', kind: 'Event', namespaced: true },
  leases: { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true },
} as const satisfies Record<string, ApiResource>;

export interface ApiAccess {
  readonly group: string;
  /** `resource` or `resource/subresource`, as RBAC spells it. */
  readonly resource: string;
  readonly verbs: readonly ApiVerb[];
  /**
   * `cluster`: any namespace (a ClusterRole). `controller-namespace`: only the namespace the
   * controller runs in (a Role there), optionally only the named object (the election id).
   */
  readonly scope: 'cluster' | 'controller-namespace';
  /** Set when access is limited to one object: 'election-id' stands for the --election-id value. */
  readonly resourceName?: 'election-id';
  /** Who makes the call, for humans reading the RBAC diff. */
  readonly usedBy: string;
}

/**
 * Every API call the controller makes. RBAC must grant exactly this (deploy/kubernetes/rbac*.yaml).
 * Leases split in two rows because RBAC cannot restrict `create` by name.
 */
export const REQUIRED_API_ACCESS: readonly ApiAccess[] = [
  { group: 'networking.k8s.io', resource: 'ingressclasses', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource' },
  { group: 'networking.k8s.io', resource: 'ingresses', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource' },
  { group: 'networking.k8s.io', resource: 'ingresses/status', verbs: ['update'], scope: 'cluster', usedBy: 'StatusWriter' },
  { group: '', resource: 'services', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource' },
  { group: '', resource: 'secrets', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (type kubernetes.io/tls only)' },
  { group: '', resource: 'nodes', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (NodePort --publish-service addresses)' },
  { group: '', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', usedBy: 'EventRecorder' },
  { group: '', resource: 'configmaps', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (--configmap: the ConfigMaps of its namespace)' },
  { group: 'coordination.k8s.io', resource: 'leases', verbs: ['create'], scope: 'controller-namespace', usedBy: 'LeaderElector' },
  { group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'update'], scope: 'controller-namespace', resourceName: 'election-id', usedBy: 'LeaderElector' },
];

/**
 * Every API call `portico dns` makes (deploy/dns/clusterrole.yaml grants exactly this): what
 * CoreDNS's kubernetes plugin reads, pods only for `--pods verified`.
 */
export const DNS_API_ACCESS: readonly ApiAccess[] = [
  { group: '', resource: 'services', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (portico dns)' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (portico dns)' },
  { group: '', resource: 'pods', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (portico dns --pods verified)' },
];

/**
 * Every API call `portico node-agent` makes (deploy/node grants this, together with the service
 * proxy's): Nodes for routes, Services and EndpointSlices for LoadBalancer announcement.
 */
export const NODE_AGENT_API_ACCESS: readonly ApiAccess[] = [
  { group: '', resource: 'nodes', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (portico node-agent)' },
  { group: '', resource: 'services', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (portico node-agent: LoadBalancer announcement)' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource (portico node-agent: externalTrafficPolicy Local)' },
  { group: '', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', usedBy: 'EventRecorder (portico node-agent)' },
];

/**
 * Every API call `portico lb-controller` makes; deploy/lb-controller grants exactly this
 * (test/lb-controller/deploy.test.ts). The Lease rows mirror the controller's.
 */
export const LB_CONTROLLER_API_ACCESS: readonly ApiAccess[] = [
  { group: '', resource: 'services', verbs: ['list', 'watch'], scope: 'cluster', usedBy: 'KubernetesSource' },
  { group: '', resource: 'services/status', verbs: ['patch'], scope: 'cluster', usedBy: 'LoadBalancerController' },
  { group: '', resource: 'events', verbs: ['create', 'patch'], scope: 'cluster', usedBy: 'EventRecorder' },
  { group: 'coordination.k8s.io', resource: 'leases', verbs: ['create'], scope: 'controller-namespace', usedBy: 'LeaderElector' },
  { group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'update'], scope: 'controller-namespace', resourceName: 'election-id', usedBy: 'LeaderElector' },
];

export interface ApiCall {
  readonly verb: ApiVerb;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** Whether REQUIRED_API_ACCESS declares this call (namespace and name checks need the context). */
export function isDeclaredApiCall(
  call: ApiCall,
  context: { controllerNamespace?: string; electionId?: string } = {},
  table: readonly ApiAccess[] = REQUIRED_API_ACCESS,
): boolean {
  const resource = call.subresource ? `${call.resource}/${call.subresource}` : call.resource;
  return table.some((row) => {
    if (row.group !== call.group || row.resource !== resource || !row.verbs.includes(call.verb)) return false;
    if (row.scope === 'controller-namespace') {
      if (call.namespace === undefined) return false;
      if (context.controllerNamespace !== undefined && call.namespace !== context.controllerNamespace) return false;
    }
    if (row.resourceName === 'election-id') {
      if (call.name === undefined) return false;
      if (context.electionId !== undefined && call.name !== context.electionId) return false;
    }
    return true;
  });
}

/** URL path of a collection or object: `/apis/g/v[/namespaces/ns]/resource[/name[/sub]]`. */
export function resourcePath(
  resource: ApiResource,
  options: { namespace?: string | undefined; name?: string | undefined; subresource?: string | undefined } = {},
): string {
  let path = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  if (resource.namespaced && options.namespace !== undefined) path += `/namespaces/${encodeURIComponent(options.namespace)}`;
  path += `/${resource.resource}`;
  if (options.name !== undefined) path += `/${encodeURIComponent(options.name)}`;
  if (options.subresource !== undefined) path += `/${options.subresource}`;
  return path;
}

export function apiVersionOf(resource: ApiResource): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}
