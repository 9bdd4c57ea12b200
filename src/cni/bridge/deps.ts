import type { NetHost } from '../../host/net-host.js';
import type { NftRunner } from '../../nft/runner.js';
import type { HostLocal } from '../ipam/host-local/host-local.js';

// What the bridge plugin needs from the world, in its own module so bridge.ts and check.ts both
// depend on it without depending on each other.
export interface BridgeDeps {
  host: NetHost;
  nft: NftRunner;
  ipam: HostLocal;
  /** 8 random hex characters for a host veth name (`veth1a2b3c4d`). */
  randomSuffix(): string;
  sleep(ms: number): Promise<void>;
  /** Diagnostics to stderr. */
  log(message: string): void;
  /** Which of these executables the host lacks (STATUS). */
  missingTools(names: readonly string[]): Promise<string[]>;
}
