import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { parseCniArgs } from '../../../src/cni/cni-args.js';
import { allocate, release } from '../../../src/cni/ipam/host-local/allocator.js';
import { parseHostLocalConfig } from '../../../src/cni/ipam/host-local/config.js';
import { DiskStore } from '../../../src/cni/ipam/host-local/disk-store.js';
import { missingTools } from '../../../src/host/tools.js';
import { formatIp } from '../../../src/lib/cidr.js';
import { ExecCommandRunner } from '../../../src/lib/run-command.js';
import { holdFlock } from '../../helpers/flock-holder.js';

const hasFlock = (await missingTools(['flock'], process.env['PATH'])).length === 0;
if (!hasFlock) console.warn('DiskStore tests skipped: util-linux flock is not installed');

describe.skipIf(!hasFlock)('DiskStore (the reference on-disk layout)', () => {
  let dataDir: string;
  const runner = new ExecCommandRunner();
  const config = (ranges: unknown[]) => parseHostLocalConfig({ cniVersion: '1.0.0', name: 'podnet', ipam: { type: 'host-local', ranges } }, parseCniArgs(''));
  const store = () => new DiskStore({ dataDir, network: 'podnet', runner });

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pcni-disk-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('writes <ip> = "<id>\\r\\n<ifname>", last_reserved_ip.<set> and lock with the reference modes', async () => {
    await allocate(store(), { attachment: { containerId: 'abc', ifname: 'eth0' }, config: config([[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]]) });
    const dir = join(dataDir, 'podnet');
    expect((await readdir(dir)).sort()).toEqual(['10.0.0.2', 'fd00::2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect(await readFile(join(dir, '10.0.0.2'), 'utf8')).toBe('abc\r\neth0');
    expect(await readFile(join(dir, 'fd00::2'), 'utf8')).toBe('abc\r\neth0');
    expect(await readFile(join(dir, 'last_reserved_ip.1'), 'utf8')).toBe('fd00::2');
    expect((await stat(join(dir, '10.0.0.2'))).mode & 0o777).toBe(0o644);
    expect((await stat(join(dir, 'lock'))).mode & 0o777).toBe(0o750);
    expect((await stat(join(dir, 'lock'))).size).toBe(0);
    expect((await stat(dir)).mode & 0o777).toBe(0o755);
  });

  it('releases only the attachment, and legacy id-only files', async () => {
    const cfg = config([[{ subnet: '10.0.0.0/24' }]]);
    await allocate(store(), { attachment: { containerId: 'a', ifname: 'eth0' }, config: cfg });
    await allocate(store(), { attachment: { containerId: 'a', ifname: 'net1' }, config: cfg });
    await writeFile(join(dataDir, 'podnet', '10.0.0.77'), 'legacy');
    expect((await release(store(), { containerId: 'a', ifname: 'eth0' })).map(formatIp)).toEqual(['10.0.0.2']);
    expect((await release(store(), { containerId: 'legacy', ifname: 'eth0' })).map(formatIp)).toEqual(['10.0.0.77']);
    expect((await readdir(join(dataDir, 'podnet'))).sort()).toEqual(['10.0.0.3', 'last_reserved_ip.0', 'lock']);
  });

  it('answers "try again later" (CNI code 11) when the lock stays taken', async () => {
    const { mkdir } = await import('node:fs/promises');
    const { cniCodeFor } = await import('../../../src/cni/skel.js');
    await mkdir(join(dataDir, 'podnet'), { recursive: true });
    const holder = await holdFlock(join(dataDir, 'podnet', 'lock'));
    onTestFinished(() => holder.release());
    const busy = new DiskStore({ dataDir, network: 'podnet', runner, lockTimeoutMs: 200 });
    const error = await allocate(busy, { attachment: { containerId: 'a', ifname: 'eth0' }, config: config([[{ subnet: '10.0.0.0/24' }]]) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PORTICO_ERR_CNI_TRY_AGAIN' });
    expect(cniCodeFor(error)).toBe(11);
  });

  it('writes nothing for read-only operations on a network it never saw', async () => {
    expect(await release(store(), { containerId: 'x', ifname: 'eth0' })).toEqual([]);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('gives concurrent allocations distinct addresses (a real lock per store instance)', async () => {
    const cfg = config([[{ subnet: '10.0.0.0/24' }]]);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => allocate(store(), { attachment: { containerId: `c${i}`, ifname: 'eth0' }, config: cfg })));
    const ips = results.map((r) => formatIp(r.ips[0]!.ip));
    expect(new Set(ips).size).toBe(20);
    expect((await readdir(join(dataDir, 'podnet'))).filter((f) => f.startsWith('10.'))).toHaveLength(20);
  });
});
