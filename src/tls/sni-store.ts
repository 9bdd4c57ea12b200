// The live certificate table the HTTPS listener's SNI callback reads: host → SecureContext.
// Contexts are built once per certificate/key pair and reused across applies; an apply swaps the
// maps in one step, so handshakes see either the old or the new table, and established connections
// keep the context they negotiated.
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { TlsPlan } from './compile-tls.js';
import type { IssuedCertificate } from './certificate-factory.js';
import type { ParsedCertificate } from './parse-tls-secret.js';
import { newTicketKeys, SECURE_CONTEXT_OPTIONS, TICKET_KEYS_BYTES } from './tls-settings.js';

export interface SniStoreOptions {
  /** Served for unknown or absent SNI and for hosts without a usable Secret (self-signed at start). */
  readonly fallbackCertificate: IssuedCertificate;
  /** Session-ticket keys for every context of this store (48 bytes); fresh ones when absent. */
  readonly ticketKeys?: Buffer;
}

export interface HostCertificate {
  readonly host: string;
  /** Secret key, or undefined for the default certificate. */
  readonly secret: string | undefined;
  readonly notAfter: Date | undefined;
}

interface Tables {
  readonly exact: ReadonlyMap<string, SecureContext>;
  /** `*.example.com` entries keyed by `example.com`. */
  readonly wildcard: ReadonlyMap<string, SecureContext>;
  readonly fallback: SecureContext;
  readonly fallbackPem: IssuedCertificate;
  readonly hosts: readonly HostCertificate[];
}

/** What the store needs of a certificate: a worker (`--workers`) gets these over IPC, without the parsed X509. */
export type SniCertificate = Pick<ParsedCertificate, 'id' | 'certPem' | 'keyPem' | 'notAfter'>;

/** The part of a TlsPlan the store installs (a TlsPlan is one). */
export interface SniPlan {
  readonly hosts: TlsPlan['hosts'];
  readonly certificates: ReadonlyMap<string, SniCertificate>;
  readonly defaultCertificate?: SniCertificate;
}

export class SniStore {
  readonly #generatedFallback: SecureContext;
  readonly #generatedPem: IssuedCertificate;
  readonly #generatedNotAfter: Date;
  /** Built contexts by certificate id; pruned to what the current plan uses. */
  #contexts = new Map<string, SecureContext>();
  #tables: Tables;

  /** What every context of this store is built with (the listener's own default context too). */
  readonly contextOptions: SecureContextOptions;

  constructor(options: SniStoreOptions) {
    const ticketKeys = options.ticketKeys ?? newTicketKeys();
    if (ticketKeys.length !== TICKET_KEYS_BYTES) throw new RangeError(`session-ticket keys must be ${TICKET_KEYS_BYTES} bytes, got ${ticketKeys.length}`);
    this.contextOptions = { ...SECURE_CONTEXT_OPTIONS, ticketKeys };
    this.#generatedFallback = createSecureContext({
      ...this.contextOptions,
      cert: options.fallbackCertificate.certPem,
      key: options.fallbackCertificate.keyPem,
    });
    this.#generatedPem = options.fallbackCertificate;
    this.#generatedNotAfter = new Date(new X509Certificate(options.fallbackCertificate.certPem).validTo);
    this.#tables = { exact: new Map(), wildcard: new Map(), fallback: this.#generatedFallback, fallbackPem: this.#generatedPem, hosts: [] };
  }

  /** Installs a plan: new contexts only for certificate/key pairs not seen before. */
  apply(plan: SniPlan): { built: number; fallbackChanged: boolean } {
    const contexts = new Map<string, SecureContext>();
    let built = 0;
    const contextFor = (certPem: string, keyPem: string, id: string): SecureContext => {
      let context = contexts.get(id) ?? this.#contexts.get(id);
      if (context === undefined) {
        context = createSecureContext({ ...this.contextOptions, cert: certPem, key: keyPem });
        built++;
      }
      contexts.set(id, context);
      return context;
    };
    const fallback = plan.defaultCertificate
      ? contextFor(plan.defaultCertificate.certPem, plan.defaultCertificate.keyPem, plan.defaultCertificate.id)
      : this.#generatedFallback;
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const hosts: HostCertificate[] = [];
    for (const { host, secret } of plan.hosts) {
      const certificate = secret === undefined ? undefined : plan.certificates.get(secret);
      const context = certificate ? contextFor(certificate.certPem, certificate.keyPem, certificate.id) : fallback;
      if (host.startsWith('*.')) wildcard.set(host.slice(2), context);
      else exact.set(host, context);
      hosts.push({ host, secret: certificate ? secret : undefined, notAfter: (certificate ?? plan.defaultCertificate)?.notAfter ?? this.#generatedNotAfter });
    }
    const fallbackPem = plan.defaultCertificate ?? this.#generatedPem;
    const fallbackChanged = fallback !== this.#tables.fallback;
    this.#contexts = contexts;
    this.#tables = { exact, wildcard, fallback, fallbackPem, hosts };
    return { built, fallbackChanged };
  }

  /** The context for a ClientHello's server name: exact host, then a one-label wildcard, then the default. */
  contextFor(servername: string | undefined): SecureContext {
    const tables = this.#tables;
    if (!servername) return tables.fallback;
    let name = servername.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    const exact = tables.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wildcard = tables.wildcard.get(name.slice(dot + 1));
      if (wildcard !== undefined) return wildcard;
    }
    return tables.fallback;
  }

  /** For https.createServer({ SNICallback }). */
  readonly sniCallback = (servername: string, callback: (err: Error | null, context?: SecureContext) => void): void => {
    callback(null, this.contextFor(servername));
  };

  /** The default certificate as PEM, for the listener's own context (clients without SNI). */
  get fallbackCertificate(): IssuedCertificate {
    return this.#tables.fallbackPem;
  }

  /** What serves each TLS host now (for metrics: certificate expiry per host). */
  get hosts(): readonly HostCertificate[] {
    return this.#tables.hosts;
  }
}
