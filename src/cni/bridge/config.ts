import type { CniArgs } from '../cni-args.js';
import { CniError } from '../cni-error.js';
import { invalid, readArray, readBoolean, readInteger, readObject, readString, unsupported, type JsonObject } from '../json-fields.js';
import { parseDns, type CniDns } from '../result.js';
import { checkInterfaceName } from '../skel.js';
import { parseHostLocalConfig, type HostLocalConfig } from '../ipam/host-local/config.js';

// The bridge plugin's options, named and defaulted as in the reference `bridge` plugin.

export interface BridgeConfig {
  network: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  /** undefined: the kernel's default. */
  mtu: number | undefined;
  hairpinMode: boolean;
  promiscMode: boolean;
  enableDad: boolean;
  /** The container interface's MAC (runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC). */
  mac: string | undefined;
  dns: CniDns | undefined;
  /** undefined: no `ipam.type`, an L2-only attachment. */
  ipam: HostLocalConfig | undefined;
}

export const DEFAULT_BRIDGE = 'cni0';
export const SUPPORTED_IPAM = ['host-local'] as const;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function checkMac(mac: string, field: string, fromEnv: boolean): string {
  const multicast = MAC.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 1;
  if (!MAC.test(mac) || multicast || /^(00:){5}00$/.test(mac)) {
    const message = `${field} ${JSON.stringify(mac)} is not a unicast MAC address (aa:bb:cc:dd:ee:ff)`;
    if (fromEnv) throw new CniError('PORTICO_ERR_CNI_ENV', message);
    invalid(field, `= ${JSON.stringify(mac)} is not a unicast MAC address (aa:bb:cc:dd:ee:ff)`);
  }
  return mac.toLowerCase();
}

export function parseBridgeConfig(config: JsonObject, args: CniArgs): BridgeConfig {
  const bridge = readString(config, 'bridge') || DEFAULT_BRIDGE;
  try {
    checkInterfaceName(bridge, 'bridge');
  } catch (error) {
    throw new CniError('PORTICO_ERR_CNI_CONFIG', (error as Error).message);
  }
  const mtu = readInteger(config, 'mtu', { min: 0, max: 65535 });
  if (mtu !== undefined && mtu !== 0 && mtu < 68) invalid('mtu', `must be 0 (kernel default) or between 68 and 65535, got ${mtu}`);
  const isDefaultGateway = readBoolean(config, 'isDefaultGateway');
  const hairpinMode = readBoolean(config, 'hairpinMode');
  const promiscMode = readBoolean(config, 'promiscMode');
  if (hairpinMode && promiscMode) invalid('hairpinMode', 'and promiscMode cannot both be true');

  const vlan = readInteger(config, 'vlan', { min: 0, max: 4094 });
  if (vlan) unsupported('vlan', vlan, 'VLAN tagging is not implemented');
  const vlanTrunk = readArray(config, 'vlanTrunk');
  if (vlanTrunk && vlanTrunk.length > 0) unsupported('vlanTrunk', vlanTrunk, 'VLAN trunks are not implemented');
  if (readBoolean(config, 'macspoofchk')) unsupported('macspoofchk', true, 'MAC spoof checking is not implemented');
  if (readBoolean(config, 'disableContainerInterface')) unsupported('disableContainerInterface', true, 'the container interface is always brought up');
  if (readBoolean(config, 'portIsolation')) unsupported('portIsolation', true, 'port isolation is not implemented');
  const backend = readString(config, 'ipMasqBackend');
  if (backend !== undefined && backend !== '' && backend !== 'nftables') unsupported('ipMasqBackend', backend, 'masquerading uses nftables');

  let mac: string | undefined;
  const envMac = args.get('MAC');
  if (envMac) mac = checkMac(envMac, 'CNI_ARGS MAC', true);
  const cni = readObject(readObject(config, 'args') ?? {}, 'cni', 'args');
  const argsMac = cni ? readString(cni, 'mac', 'args.cni') : undefined;
  if (argsMac) mac = checkMac(argsMac, 'args.cni.mac', false);
  const runtimeConfig = readObject(config, 'runtimeConfig');
  const runtimeMac = runtimeConfig ? readString(runtimeConfig, 'mac', 'runtimeConfig') : undefined;
  if (runtimeMac) mac = checkMac(runtimeMac, 'runtimeConfig.mac', false);

  const dnsObject = readObject(config, 'dns');
  const ipamObject = readObject(config, 'ipam');
  const ipamType = ipamObject ? readString(ipamObject, 'type', 'ipam') : undefined;
  let ipam: HostLocalConfig | undefined;
  if (ipamType) {
    if (!(SUPPORTED_IPAM as readonly string[]).includes(ipamType)) {
      invalid('ipam.type', `${JSON.stringify(ipamType)} is not supported: portico-cni has ${SUPPORTED_IPAM.join(', ')} IPAM built in`);
    }
    ipam = parseHostLocalConfig(config, args);
  }
  return {
    network: readString(config, 'name') ?? '',
    bridge,
    isGateway: readBoolean(config, 'isGateway') || isDefaultGateway,
    isDefaultGateway,
    forceAddress: readBoolean(config, 'forceAddress'),
    ipMasq: readBoolean(config, 'ipMasq'),
    mtu: mtu || undefined,
    hairpinMode,
    promiscMode,
    enableDad: readBoolean(config, 'enabledad'),
    mac,
    dns: dnsObject ? parseDns(dnsObject, 'dns') : undefined,
    ipam,
  };
}
