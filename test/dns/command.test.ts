import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHostPort, runDnsCommand } from '../../src/cmd/dns-command.js';
import { parseResolvConf } from '../../src/dns/start-dns.js';

describe('portico dns flags', () => {
  it('parses ADDR[:PORT] for --listen and --upstream, IPv6 in brackets', () => {
    expect(parseHostPort('upstream', '10.0.0.1', 53)).toEqual({ host: '10.0.0.1', port: 53 });
    expect(parseHostPort('upstream', '10.0.0.1:5353', 53)).toEqual({ host: '10.0.0.1', port: 5353 });
    expect(parseHostPort('listen', '[::]:53', 53)).toEqual({ host: '::', port: 53 });
    expect(parseHostPort('upstream', 'fd00::1', 53)).toEqual({ host: 'fd00::1', port: 53 });
    for (const bad of ['dns.example:53', '10.0.0.1:99999', '10.0.0.1:x', '[fd00::1]x']) {
      expect(() => parseHostPort('upstream', bad, 53)).toThrow(expect.objectContaining({ code: 'PORTICO_ERR_CLI_FLAG' }));
    }
  });

  it('reads the nameservers of a resolv.conf (zone index dropped, junk ignored)', () => {
    expect(parseResolvConf('# c\nsearch x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n')).toEqual([
      { host: '10.0.0.2', port: 53 },
      { host: 'fe80::1', port: 53 },
    ]);
  });

  it('refuses contradictory or bad flags with PORTICO_ERR_CLI_FLAG, and a resolv.conf without nameservers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-dns-cmd-'));
    try {
      const base = ['--manifests', dir, '--listen', '127.0.0.1:0', '--log-level', 'silent'];
      const cli = expect.objectContaining({ code: 'PORTICO_ERR_CLI_FLAG' });
      await expect(runDnsCommand([...base, '--kubeconfig', 'k'])).rejects.toThrow(cli);
      await expect(runDnsCommand([...base, '--upstream', '10.0.0.1', '--upstream-resolv-conf', '/etc/resolv.conf'])).rejects.toThrow(cli);
      await expect(runDnsCommand([...base, '--ttl', '-1', '--upstream', '10.0.0.1'])).rejects.toThrow(cli);
      await expect(runDnsCommand([...base, '--pods', 'maybe', '--upstream', '10.0.0.1'])).rejects.toThrow(cli);
      await expect(runDnsCommand([...base, '--zone', 'bad zone', '--upstream', '10.0.0.1'])).rejects.toThrow(cli);
      await expect(runDnsCommand(['--manifests', dir, '--listen', '127.0.0.1:5353', '--upstream', '127.0.0.1:5353', '--log-level', 'silent'])).rejects.toThrow(cli);
      writeFileSync(join(dir, 'resolv.conf'), 'search x\n');
      await expect(runDnsCommand([...base, '--upstream-resolv-conf', join(dir, 'resolv.conf')])).rejects.toThrow(expect.objectContaining({ code: 'PORTICO_ERR_DNS_RESOLV_CONF' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts from flags and serves; a taken port is PORTICO_ERR_DNS_LISTEN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-dns-cmd-'));
    const running = await runDnsCommand(['--manifests', dir, '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--metrics-port', '0', '--log-level', 'silent']);
    try {
      expect(running.server.port).toBeGreaterThan(0);
      expect(running.ready()).toBe(true);
      const health = await fetch(`http://127.0.0.1:${running.metricsAddress!.port}/readyz`);
      expect(health.status).toBe(200);
      await expect(
        runDnsCommand(['--manifests', dir, '--listen', `127.0.0.1:${running.server.port}`, '--upstream', '127.0.0.1:9', '--metrics-port', '0', '--log-level', 'silent']),
      ).rejects.toThrow(expect.objectContaining({ code: 'PORTICO_ERR_DNS_LISTEN' }));
    } finally {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
