import { CLUSTER_SCOPED_KINDS, type KubeObject, type ObjectKind } from '../model/k8s-objects.js';
import { PorticoError } from '../lib/errors.js';
import { checkSchema, isPlainObject, type Schema } from './object-schema.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const strings = { type: 'array', items: str } as const;
const stringMap = { type: 'map', values: str } as const;

const metadata: Schema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: str,
    namespace: str,
    uid: str,
    resourceVersion: str,
    generation: int,
    creationTimestamp: str,
    labels: stringMap,
    annotations: stringMap,
  },
};

const ingressBackend: Schema = {
  type: 'object',
  properties: {
    service: {
      type: 'object',
      required: ['name'],
      properties: { name: str, port: { type: 'object', properties: { number: int, name: str } } },
    },
    resource: { type: 'object', required: ['kind', 'name'], properties: { apiGroup: str, kind: str, name: str } },
  },
};

/** The shape each supported kind must have, by `kind`, with the apiVersions we accept. */
const KINDS: Record<ObjectKind, { apiVersions: readonly string[]; schema: Schema }> = {
  IngressClass: {
    apiVersions: ['networking.k8s.io/v1'],
    schema: {
      type: 'object',
      required: ['metadata'],
      properties: { metadata, spec: { type: 'object', properties: { controller: str } } },
    },
  },
  Ingress: {
    apiVersions: ['networking.k8s.io/v1'],
    schema: {
      type: 'object',
      required: ['metadata'],
      properties: {
        metadata,
        spec: {
          type: 'object',
          properties: {
            ingressClassName: str,
            defaultBackend: ingressBackend,
            tls: { type: 'array', items: { type: 'object', properties: { hosts: strings, secretName: str } } },
            rules: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  host: str,
                  http: {
                    type: 'object',
                    required: ['paths'],
                    properties: {
                      paths: {
                        type: 'array',
                        items: {
                          type: 'object',
                          required: ['backend'],
                          properties: { path: str, pathType: str, backend: ingressBackend },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
  Service: {
    apiVersions: ['v1'],
    schema: {
      type: 'object',
      required: ['metadata'],
      properties: {
        metadata,
        spec: {
          type: 'object',
          properties: {
            type: str,
            clusterIP: str,
            clusterIPs: strings,
            externalName: str,
            selector: stringMap,
            externalIPs: strings,
            ipFamilies: strings,
            sessionAffinity: str,
            sessionAffinityConfig: {
              type: 'object',
              properties: { clientIP: { type: 'object', properties: { timeoutSeconds: int } } },
            },
            externalTrafficPolicy: str,
            internalTrafficPolicy: str,
            healthCheckNodePort: int,
            loadBalancerIP: str,
            loadBalancerClass: str,
            loadBalancerSourceRanges: strings,
            publishNotReadyAddresses: bool,
            ports: {
              type: 'array',
              items: {
                type: 'object',
                required: ['port'],
                properties: {
                  name: str,
                  protocol: str,
                  port: int,
                  targetPort: { type: 'int-or-string' },
                  nodePort: int,
                  appProtocol: str,
                },
              },
            },
          },
        },
        status: {
          type: 'object',
          properties: {
            loadBalancer: {
              type: 'object',
              properties: {
                ingress: { type: 'array', items: { type: 'object', properties: { ip: str, hostname: str, ipMode: str } } },
              },
            },
          },
        },
      },
    },
  },
  EndpointSlice: {
    apiVersions: ['discovery.k8s.io/v1'],
    schema: {
      type: 'object',
      required: ['metadata', 'addressType'],
      properties: {
        metadata,
        addressType: str,
        endpoints: {
          type: 'array',
          items: {
            type: 'object',
            required: ['addresses'],
            properties: {
              addresses: strings,
              conditions: { type: 'object', properties: { ready: bool, serving: bool, terminating: bool } },
              hostname: str,
              nodeName: str,
              zone: str,
              targetRef: { type: 'object', properties: { kind: str, name: str, namespace: str } },
            },
          },
        },
        ports: {
          type: 'array',
          items: { type: 'object', properties: { name: str, port: int, protocol: str, appProtocol: str } },
        },
      },
    },
  },
  Secret: {
    apiVersions: ['v1'],
    schema: {
      type: 'object',
      required: ['metadata'],
      properties: { metadata, type: str, data: stringMap, stringData: stringMap },
    },
  },
  Node: {
    apiVersions: ['v1'],
    schema: {
      type: 'object',
      required: ['metadata'],
      properties: {
        metadata,
        spec: { type: 'object', properties: { podCIDR: str, podCIDRs: strings } },
        status: {
          type: 'object',
          properties: {
            addresses: {
              type: 'array',
              items: { type: 'object', required: ['type', 'address'], properties: { type: str, address: str } },
            },
          },
        },
      },
    },
  },
  Pod: {
    apiVersions: ['v1'],
    schema: {
      type: 'object',
      required: ['metadata'],
      properties: {
        metadata,
        status: {
          type: 'object',
          properties: { podIP: str, phase: str, podIPs: { type: 'array', items: { type: 'object', required: ['ip'], properties: { ip: str } } } },
        },
      },
    },
  },
  ConfigMap: {
    apiVersions: ['v1'],
    schema: { type: 'object', required: ['metadata'], properties: { metadata, data: stringMap } },
  },
};

export const SUPPORTED_KINDS = Object.keys(KINDS) as ObjectKind[];

/**
 * Validates an untrusted decoded object (from a manifest file or the API) into a KubeObject.
 * Throws PorticoError MANIFEST_KIND for kinds we don't read and MANIFEST_INVALID, listing
 * every field problem, for wrong shapes. Fills defaults the API server would fill.
 */
export function parseKubeObject(raw: unknown): KubeObject {
  if (!isPlainObject(raw)) throw new PorticoError('PORTICO_ERR_MANIFEST_INVALID', 'the document is not an object');
  const { kind, apiVersion } = raw;
  if (typeof kind !== 'string' || kind === '') {
    throw new PorticoError('PORTICO_ERR_MANIFEST_INVALID', 'kind is required');
  }
  const spec = KINDS[kind as ObjectKind];
  if (!Object.hasOwn(KINDS, kind) || spec === undefined) {
    throw new PorticoError(
      'PORTICO_ERR_MANIFEST_KIND',
      `unsupported kind ${JSON.stringify(kind)} (supported: ${SUPPORTED_KINDS.join(', ')})`,
    );
  }
  if (typeof apiVersion !== 'string' || !spec.apiVersions.includes(apiVersion)) {
    throw new PorticoError(
      'PORTICO_ERR_MANIFEST_KIND',
      `${kind} must have apiVersion ${spec.apiVersions.join(' or ')}, got ${JSON.stringify(apiVersion ?? null)}`,
    );
  }
  const problems: string[] = [];
  checkSchema(raw, spec.schema, kind, problems);
  if (problems.length > 0) {
    throw new PorticoError('PORTICO_ERR_MANIFEST_INVALID', problems.join('; '));
  }
  const obj = structuredClone(raw) as unknown as KubeObject & { stringData?: Record<string, string> };
  if (!CLUSTER_SCOPED_KINDS.has(obj.kind)) obj.metadata.namespace ??= 'default';
  if (obj.kind === 'EndpointSlice') obj.endpoints ??= [];
  if (obj.kind === 'Pod') {
    // Only the addresses matter (portico dns --pods verified): condition churn is not a change.
    const { podIP, podIPs, phase } = obj.status ?? {};
    const trimmed: Record<string, unknown> = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata };
    if (podIP !== undefined || podIPs !== undefined || phase !== undefined) {
      trimmed['status'] = { ...(podIP !== undefined && { podIP }), ...(podIPs !== undefined && { podIPs: podIPs.map(({ ip }) => ({ ip })) }), ...(phase !== undefined && { phase }) };
    }
    return trimmed as unknown as KubeObject;
  }
  if (obj.kind === 'Secret' && obj.stringData) {
    // Like the API server: stringData is merged into data, base64-encoded.
    obj.data = { ...obj.data };
    for (const [key, value] of Object.entries(obj.stringData)) obj.data[key] = Buffer.from(value).toString('base64');
    delete obj.stringData;
  }
  return obj;
}
