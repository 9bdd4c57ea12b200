// `portico lb-controller` as users run it: the built CLI (`npm test` builds dist/ in pretest)
// against the fake API server, stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../../src/model/k8s-objects.js';
import { eventually } from '../helpers/http.js';
import { service } from '../helpers/objects.js';
import { FakeApiServer } from '../k8s/fake-api-server.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'portico.js');

describe('portico lb-controller (CLI)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('assigns from --pool, and on SIGTERM releases its Lease and exits 0', async () => {
    const api = await FakeApiServer.start();
    cleanups.push(() => api.close());
    const dir = await mkdtemp(join(tmpdir(), 'portico-lb-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, api.kubeconfigYaml());
    api.create({ ...service('shop/web', [80]), spec: { ...service('shop/web', [80]).spec, type: 'LoadBalancer' } });
    const proc: ChildProcess = spawn(
      process.execPath,
      [BIN, 'lb-controller', '--kubeconfig', kubeconfig, '--pool', '192.0.2.16/30', '--healthz-port', '0', '--metrics-port', '0', '--bind-address', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAMESPACE: 'portico', POD_NAME: 'lb-0' } },
    );
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    let output = '';
    proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    cleanups.push(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    });
    await eventually(
      async () => ((api.get('Service', 'shop/web')?.status as Service['status'])?.loadBalancer?.ingress ?? []).length === 1,
      10_000,
      `address assigned; output:\n${output}`,
    );
    expect((api.get('Service', 'shop/web')?.status as Service['status'])?.loadBalancer?.ingress).toEqual([{ ip: '192.0.2.17' }]);
    await eventually(async () => output.includes('assigned 192.0.2.17 to Service shop/web'), 5000, 'the assignment logged');
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((api.get('Lease', 'portico/portico-lb-controller')?.spec as { holderIdentity?: string }).holderIdentity).toBe('');
  });
});
