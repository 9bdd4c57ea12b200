import { describe, expect, it } from 'vitest';
import { parseResult, renderResult, type CniResult } from '../../src/cni/result.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/versions.js';

const result: CniResult = {
  interfaces: [
    { name: 'cni0', mac: '02:00:00:00:00:01', mtu: 1500 },
    { name: 'veth00000001', mac: '02:00:00:00:00:02', mtu: 1500 },
    { name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1500, sandbox: '/run/netns/p' },
  ],
  ips: [
    { interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' },
    { interface: 2, address: 'fd00::2/64', gateway: 'fd00::1' },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }, { dst: '10.96.0.0/12', mtu: 1400, priority: 10 }],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
};

describe('renderResult', () => {
  it('writes 1.0.0 like the reference (no version, no 1.1 fields, 4-space indent)', () => {
    expect(renderResult(result, '1.0.0')).toBe(`{
    "cniVersion": "1.0.0",
    "interfaces": [
        {
            "name": "cni0",
            "mac": "02:00:00:00:00:01"
        },
        {
            "name": "veth00000001",
            "mac": "02:00:00:00:00:02"
        },
        {
            "name": "eth0",
            "mac": "02:00:00:00:00:03",
            "sandbox": "/run/netns/p"
        }
    ],
    "ips": [
        {
            "interface": 2,
            "address": "10.244.1.2/24",
            "gateway": "10.244.1.1"
        },
        {
            "interface": 2,
            "address": "fd00::2/64",
            "gateway": "fd00::1"
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0",
            "gw": "10.244.1.1"
        },
        {
            "dst": "10.96.0.0/12"
        }
    ],
    "dns": {
        "nameservers": [
            "10.96.0.10"
        ],
        "search": [
            "svc.cluster.local"
        ]
    }
}`);
  });

  it('adds ip versions before 1.0.0 and interface mtu and route attributes in 1.1.0', () => {
    for (const version of ['0.3.0', '0.3.1', '0.4.0'] as const) {
      const json = JSON.parse(renderResult(result, version));
      expect(json.cniVersion).toBe(version);
      expect(json.ips.map((ip: { version: string }) => ip.version)).toEqual(['4', '6']);
      expect(Object.keys(json.ips[0])).toEqual(['version', 'interface', 'address', 'gateway']);
      expect(json.interfaces[0]).toEqual({ name: 'cni0', mac: '02:00:00:00:00:01' });
    }
    const v11 = JSON.parse(renderResult(result, '1.1.0'));
    expect(v11.interfaces[2]).toEqual({ name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1500, sandbox: '/run/netns/p' });
    expect(v11.routes[1]).toEqual({ dst: '10.96.0.0/12', mtu: 1400, priority: 10 });
    expect(v11.ips[0].version).toBeUndefined();
  });

  it('omits empty lists but always writes dns', () => {
    expect(JSON.parse(renderResult({ interfaces: [], ips: [], routes: [], dns: {} }, '1.0.0'))).toEqual({ cniVersion: '1.0.0', dns: {} });
  });
});

describe('parseResult', () => {
  it('reads back every version it writes', () => {
    for (const version of SUPPORTED_VERSIONS) {
      const parsed = parseResult(JSON.parse(renderResult(result, version)), 'prevResult');
      expect(parsed.ips).toEqual(result.ips);
      expect(parsed.interfaces.map((i) => i.name)).toEqual(['cni0', 'veth00000001', 'eth0']);
      expect(parsed.routes[0]).toEqual({ dst: '0.0.0.0/0', gw: '10.244.1.1' });
    }
  });

  it('names the bad field', () => {
    expect(() => parseResult({ ips: [{ address: '10.0.0.1' }] }, 'prevResult')).toThrow(/prevResult.ips\[0\].address must be an address with a prefix length/);
    expect(() => parseResult({ ips: [{ address: '10.0.0.1/24', interface: 3 }] }, 'prevResult')).toThrow(/prevResult.ips\[0\].interface = 3 names no interface/);
    expect(() => parseResult({ routes: [{ gw: '10.0.0.1' }] }, 'prevResult')).toThrow(/prevResult.routes\[0\].dst is required/);
    expect(() => parseResult('x', 'prevResult')).toThrow(/prevResult must be an object/);
  });
});
