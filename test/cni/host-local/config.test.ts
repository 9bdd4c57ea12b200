import { describe, expect, it } from 'vitest';
import { parseCniArgs } from '../../../src/cni/cni-args.js';
import { parseHostLocalConfig } from '../../../src/cni/ipam/host-local/config.js';
import { formatIp } from '../../../src/lib/cidr.js';

const conf = (ipam: Record<string, unknown>, top: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: 'podnet', ipam: { type: 'host-local', ...ipam }, ...top });
const parse = (ipam: Record<string, unknown>, top: Record<string, unknown> = {}, args = '') => parseHostLocalConfig(conf(ipam, top), parseCniArgs(args));
const bounds = (c: ReturnType<typeof parse>) => c.ranges.map((set) => set.map((r) => [formatIp(r.rangeStart), formatIp(r.rangeEnd), formatIp(r.gateway)]));

describe('host-local config', () => {
  it('fills the reference defaults', () => {
    const c = parse({ ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:1::/64' }]] });
    expect(bounds(c)).toEqual([[['10.244.1.1', '10.244.1.254', '10.244.1.1']], [['fd00:1::1', 'fd00:1::ffff:ffff:ffff:ffff', 'fd00:1::1']]]);
    expect(c.dataDir).toBe('/var/lib/cni/networks');
    expect(c.network).toBe('podnet');
    expect(c.requestedIps).toEqual([]);
  });

  it('puts runtimeConfig.ipRanges first, then the legacy single range, then ranges', () => {
    const c = parse(
      { subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20', gateway: '10.1.0.254', ranges: [[{ subnet: '10.3.0.0/24' }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: '10.2.0.0/24' }]] } },
    );
    expect(bounds(c)).toEqual([[['10.2.0.1', '10.2.0.254', '10.2.0.1']], [['10.1.0.10', '10.1.0.20', '10.1.0.254']], [['10.3.0.1', '10.3.0.254', '10.3.0.1']]]);
  });

  it('collects requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips', () => {
    const c = parse({ ranges: [[{ subnet: '10.1.0.0/24' }]] }, { args: { cni: { ips: ['10.1.0.7'] } }, runtimeConfig: { ips: ['10.1.0.8/24'] } }, 'IP=10.1.0.6');
    expect(c.requestedIps.map(formatIp)).toEqual(['10.1.0.6', '10.1.0.7', '10.1.0.8']);
  });

  it('reads routes, dataDir and resolvConf', () => {
    const c = parse({ ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.1.0.254' }], dataDir: '/tmp/x', resolvConf: '/etc/resolv.conf' });
    expect(c.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.1.0.254' }]);
    expect(c.dataDir).toBe('/tmp/x');
    expect(c.resolvConf).toBe('/etc/resolv.conf');
  });

  it.each([
    ['no ranges', { ranges: [] }, 'ipam.ranges is missing: no IP ranges specified'],
    ['bad subnet', { ranges: [[{ subnet: '10.1.0.0/33' }]] }, 'ipam.ranges[0][0].subnet must be a CIDR such as 10.244.1.0/24, got "10.1.0.0/33"'],
    ['missing subnet', { ranges: [[{ rangeStart: '10.1.0.2' }]] }, 'ipam.ranges[0][0].subnet is required'],
    ['subnet with host bits', { ranges: [[{ subnet: '10.1.0.5/24' }]] }, 'ipam.ranges[0][0].subnet 10.1.0.5/24 has host bits set'],
    ['subnet too small', { ranges: [[{ subnet: '10.1.0.0/31' }]] }, 'ipam.ranges[0][0].subnet network 10.1.0.0/31 is too small to allocate from'],
    ['rangeStart outside', { ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.5' }]] }, 'ipam.ranges[0][0].rangeStart 10.2.0.5 is not in subnet 10.1.0.0/24'],
    ['rangeEnd before start', { ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.50', rangeEnd: '10.1.0.40' }]] }, 'ipam.ranges[0][0].rangeEnd 10.1.0.40 is before rangeStart 10.1.0.50'],
    ['gateway outside', { ranges: [[{ subnet: '10.1.0.0/24', gateway: '10.9.9.9' }]] }, 'ipam.ranges[0][0].gateway 10.9.9.9 is not in subnet 10.1.0.0/24'],
    ['bad gateway', { ranges: [[{ subnet: '10.1.0.0/24', gateway: 'x' }]] }, 'ipam.ranges[0][0].gateway must be an IP address, got "x"'],
    ['mixed families', { ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] }, 'ipam.ranges[0][1] mixes address families'],
    ['overlap in a set', { ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.1.0.0/25' }]] }, 'ipam.ranges[0][1] 10.1.0.0/25 (10.1.0.1-10.1.0.126) overlaps 10.1.0.0/24'],
    ['overlapping sets', { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/16' }]] }, 'ipam.ranges range set 0 overlaps with range set 1'],
    ['range set not a list', { ranges: [{ subnet: '10.1.0.0/24' }] }, 'ipam.ranges[0] must be a list of ranges'],
    ['ranges not a list', { ranges: 'x' }, 'ipam.ranges must be a list, got "x"'],
    ['route without dst', { ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{}] }, 'ipam.routes[0].dst is required'],
    ['route dst host bits', { ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ dst: '10.96.0.1/12' }] }, 'ipam.routes[0].dst 10.96.0.1/12 has host bits set'],
    ['relative dataDir', { ranges: [[{ subnet: '10.1.0.0/24' }]], dataDir: 'data' }, 'ipam.dataDir must be an absolute path'],
  ])('%s', (_name, ipam, message) => {
    expect(() => parse(ipam)).toThrow(message);
  });

  it('rejects bad requested IPs, naming where they came from', () => {
    const ipam = { ranges: [[{ subnet: '10.1.0.0/24' }]] };
    expect(() => parse(ipam, {}, 'IP=10.1.0.x')).toThrow('CNI_ARGS IP="10.1.0.x" is not an IP address');
    expect(() => parse(ipam, { args: { cni: { ips: ['10.1.0.0/24'] } } })).toThrow('args.cni.ips[0] must be an IP address');
    expect(() => parse(ipam, { runtimeConfig: { ips: [7] } })).toThrow('runtimeConfig.ips[0] must be an IP address');
  });
});
