import { formatCidr, type IpPrefix } from '../lib/cidr.js';

// The portico-cni conflist for this node's pod subnet(s), as flannel's CNI plugin derives its
// bridge config from subnet.env: one host-local range per pod CIDR (dual-stack: two), the MTU
// the overlay leaves, and no ipMasq (the agent's own table masquerades what leaves the cluster,
// so traffic to pods on other nodes keeps its source address).

export const CONFLIST_FILE = '10-portico.conflist';

export function renderNodeConflist(options: { podCIDRs: readonly IpPrefix[]; mtu: number }): string {
  const conflist = {
    cniVersion: '1.0.0',
    cniVersions: ['1.0.0', '1.1.0'],
    name: 'portico',
    plugins: [
      {
        type: 'portico-cni',
        bridge: 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        hairpinMode: true,
        mtu: options.mtu,
        ipam: { type: 'host-local', ranges: options.podCIDRs.map((cidr) => [{ subnet: formatCidr(cidr) }]) },
      },
    ],
  };
  return `${JSON.stringify(conflist, null, 2)}\n`;
}
