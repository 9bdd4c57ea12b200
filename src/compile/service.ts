// Service port resolution for a BackendRef.
import type { Service, ServicePort } from '../model/k8s-objects.js';

/**
 * The Service port a backend refers to: by `port` when the Ingress gave a number, by `name` when it
 * gave a name. Only TCP ports (protocol absent means TCP) carry HTTP, so UDP/SCTP ports never match.
 */
export function lookupServicePort(service: Service, port: number | string): ServicePort | undefined {
  // `*` (a default-backend annotation's): the first TCP port.
  return service.spec?.ports?.find(
    (p) => (p.protocol ?? 'TCP') === 'TCP' && (typeof port === 'number' ? p.port === port : port === '*' || p.name === port),
  );
}
