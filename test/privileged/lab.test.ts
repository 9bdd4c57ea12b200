import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../../src/tls/certificate-factory.js';
import { tlsSecret } from '../helpers/e2e.js';
import { exec, REPO, SKIP_REASON, skipTitle } from './helpers.js';

// `portico lab` end to end, as a newcomer runs it: a 3-node lab, workloads applied with
// `lab apply`, traffic from the host through the LoadBalancer IP and every node's NodePort
// (LB IP → service proxy → controller pod → backend pods on other nodes), scaling and draining
// under load with zero failed requests, and `lab down` leaving nothing behind. Bounded by counts
// and polls, never by wall-clock assertions.

const PORTICO = join(REPO, 'dist', 'cmd', 'portico.js');
const NAME = `t${randomBytes(2).toString('hex')}`;
const SUBNET_OCTET = 200 + (randomBytes(1)[0]! % 50);
const SUBNET = `10.${SUBNET_OCTET}.7.0/24`;
const ca = createCertificateAuthority({ commonName: 'Lab Test CA' });
const webCert = issueCertificate({ commonName: 'web.lab.test', dnsNames: ['web.lab.test'], issuer: ca });

function lab(args: string[], input?: string) {
  return exec(process.execPath, [PORTICO, 'lab', ...args, '--name', NAME], input);
}

function deployment(name: string, replicas: number, port: number): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'ignored', ports: [{ containerPort: port, name: 'http' }] }] } } },
  };
}

const WORKLOADS = [
  deployment('web', 3, 8080),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
  deployment('api', 2, 9090),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 9090 }] } },
  tlsSecret('default/web-tls', webCert),
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    // Plain HTTP keeps working for the TLS host too (the load below uses it).
    metadata: { name: 'site', annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' } },
    spec: {
      tls: [{ hosts: ['web.lab.test'], secretName: 'web-tls' }],
      rules: [
        { host: 'web.lab.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } },
        { host: 'api.lab.test', http: { paths: [{ path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { name: 'http' } } } }] } },
      ],
    },
  },
];

interface Reply {
  status: number;
  json?: { pod: string; node: string; client: string; path: string; host: string };
  error?: string;
}

function get(address: string, port: number, host: string, path: string, agent?: Agent): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request({ host: address, port, path, headers: { host }, agent: agent ?? false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        let json: Reply['json'];
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, ...(json && { json }) });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, error: error.message }));
    req.end();
  });
}

/** Keep-alive load from the host through the front door until stop(); every outcome counted. */
function startLoad(address: string, host: string, workers = 4) {
  const agent = new Agent({ keepAlive: true, maxSockets: workers });
  const outcomes = { ok: 0, failed: [] as string[], pods: new Set<string>() };
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const reply = await get(address, 80, host, '/load', agent);
      if (reply.status === 200 && reply.json) {
        outcomes.ok++;
        outcomes.pods.add(reply.json.pod);
      } else outcomes.failed.push(reply.error ?? `status ${reply.status}`);
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return outcomes;
    },
  };
}

async function status(): Promise<any> {
  const result = await lab(['status', '-o', 'json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

let loadBalancerIP = '';

describe.skipIf(SKIP_REASON !== undefined)(skipTitle('portico lab: a 3-node cluster with Portico as its front door'), () => {
  beforeAll(async () => {
    const up = await lab(['up', '--nodes', '3', '--subnet', SUBNET]);
    expect(up.code, `${up.stdout}${up.stderr}`).toBe(0);
    loadBalancerIP = /LoadBalancer IP (\S+)/.exec(up.stdout)![1]!.replace(/[^0-9.]/g, '');
    const applied = await lab(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: WORKLOADS }));
    expect(applied.code, applied.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await lab(['down']);
  }, 60_000);

  it('refuses a second up of the same lab, changing nothing', async () => {
    const again = await lab(['up', '--nodes', '3', '--subnet', SUBNET]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('PORTICO_ERR_LAB_STATE');
    expect((await status()).nodes).toHaveLength(3);
  });

  it('routes host and path through the LoadBalancer IP to pods on more than one node, with the controller as the client they see', async () => {
    const replies: Reply[] = [];
    for (let i = 0; i < 12; i++) replies.push(await get(loadBalancerIP, 80, 'web.lab.test', `/page/${i}`));
    expect(replies.every((r) => r.status === 200 && r.json?.host === 'web.lab.test')).toBe(true);
    expect(new Set(replies.map((r) => r.json!.node)).size).toBeGreaterThan(1);
    const pods = (await status()).pods as Array<{ name: string; deployment: string; ip: string; node: string }>;
    const controller = pods.find((p) => p.deployment === 'portico')!;
    expect(replies.every((r) => r.json!.client === controller.ip)).toBe(true);
    const api = await get(loadBalancerIP, 80, 'api.lab.test', '/api/v1');
    expect(api.status).toBe(200);
    expect(pods.find((p) => p.name === api.json!.pod)?.deployment).toBe('api');
    expect((await get(loadBalancerIP, 80, 'api.lab.test', '/other')).status).toBe(404);
  });

  it("answers on every node's NodePort too", async () => {
    for (const node of (await status()).nodes as Array<{ address: string }>) {
      const reply = await get(node.address, 30080, 'web.lab.test', '/');
      expect(reply.status, `${node.address}:30080 ${reply.error ?? ''}`).toBe(200);
    }
  });

  it('serves HTTPS with the SNI certificate from the Secret through the LoadBalancer IP and a NodePort', async () => {
    const nodes = (await status()).nodes as Array<{ address: string }>;
    for (const [address, port] of [[loadBalancerIP, 443], ...nodes.map((n) => [n.address, 30443] as const)] as const) {
      const { statusCode, subject, body } = await new Promise<{ statusCode: number; subject: string; body: string }>((resolve, reject) => {
        const req = httpsRequest({ host: address, port, servername: 'web.lab.test', headers: { host: 'web.lab.test' }, path: '/tls', ca: ca.certPem, agent: false }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, subject: String((res.socket as TLSSocket).getPeerCertificate().subject.CN), body: text }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(statusCode).toBe(200);
      expect(subject).toBe('web.lab.test');
      expect(JSON.parse(body).path).toBe('/tls');
    }
  });

  it('pods resolve Service names through the cluster DNS (kube-system/kube-dns at 10.96.0.10)', async () => {
    const st = await status();
    const web = (st.services as Array<{ namespace: string; name: string; clusterIP: string }>).find((s) => s.namespace === 'default' && s.name === 'web')!;
    const pod = (st.pods as Array<{ namespace: string; name: string; deployment: string }>).find((p) => p.deployment === 'api')!;
    const netns = `pl-${NAME}-${pod.namespace}-${pod.name}`;
    for (const name of ['web.default.svc.cluster.local', 'web']) {
      const result = await exec('ip', ['netns', 'exec', netns, 'getent', 'hosts', name]);
      expect(result.code, `${name}: ${result.stderr}`).toBe(0);
      expect(result.stdout.split(/\s+/)[0]).toBe(web.clusterIP);
    }
  });

  it('refuses another lab on a subnet that is already routed, changing nothing', async () => {
    const other = `u${randomBytes(2).toString('hex')}`;
    const result = await exec(process.execPath, [PORTICO, 'lab', 'up', '--name', other, '--nodes', '1', '--subnet', SUBNET]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PORTICO_ERR_LAB_HOST');
    expect(result.stderr).toContain('already routes');
    expect(existsSync(`/run/portico-lab/${other}`)).toBe(false);
    expect((await exec('ip', ['netns', 'list'])).stdout).not.toContain(`pl-${other}-`);
  });

  it('reports an invalid object by kind/name, applies the rest, exits 1', async () => {
    const text = [
      'apiVersion: v1\nkind: Service\nmetadata: {name: broken}\nspec: {ports: [{port: 70000}]}',
      'apiVersion: v1\nkind: Service\nmetadata: {name: fine}\nspec: {selector: {app: web}, ports: [{port: 81, targetPort: 8080}]}',
    ].join('\n---\n');
    const result = await lab(['apply', '-f', '-'], text);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Service/broken');
    expect(result.stdout).toContain('service/fine applied');
    expect(((await status()).services as Array<{ name: string }>).map((s) => s.name)).toContain('fine');
  });

  it('scales a backend 1 → 5 → 1 under load through the front door with zero failed requests', async () => {
    expect((await lab(['scale', 'deployment/web', '--replicas', '1'])).code).toBe(0);
    const load = startLoad(loadBalancerIP, 'web.lab.test');
    const up = await lab(['scale', 'deployment/web', '--replicas', '5']);
    expect(up.code, up.stderr).toBe(0);
    const down = await lab(['scale', 'deployment/web', '--replicas', '1']);
    expect(down.code, down.stderr).toBe(0);
    const outcomes = await load.stop();
    expect(outcomes.failed).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(50);
    expect(outcomes.pods.size).toBeGreaterThanOrEqual(2);
    const pods = (await status()).pods as Array<{ deployment: string; name: string }>;
    expect(pods.filter((p) => p.deployment === 'web')).toHaveLength(1);
    // The retired pods' processes are gone too, not left running in deleted namespaces.
    const echoes = (await exec('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => l.includes('echo-main.js') && l.includes(`/run/portico-lab/${NAME}`));
    expect(echoes.length).toBe(pods.filter((p) => p.deployment !== 'portico' && p.deployment !== 'dns').length);
  });

  it('drains a node under load with zero failed requests and leaves no pod on it', async () => {
    expect((await lab(['scale', 'deployment/web', '--replicas', '3'])).code).toBe(0);
    const controllerNode = ((await status()).pods as Array<{ deployment: string; node: string }>).find((p) => p.deployment === 'portico')!.node;
    const load = startLoad(loadBalancerIP, 'web.lab.test');
    // The node with the controller: its pod moves too, and the front door keeps answering.
    const drained = await lab(['drain', controllerNode]);
    expect(drained.code, drained.stderr).toBe(0);
    const outcomes = await load.stop();
    expect(outcomes.failed).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(20);
    const after = await status();
    expect((after.pods as Array<{ node: string }>).filter((p) => p.node === controllerNode)).toEqual([]);
    expect(after.nodes.find((n: { name: string }) => n.name === controllerNode).schedulable).toBe(false);
  });

  it('down removes every namespace, link, process and file; a second down says so and exits 0', async () => {
    const down = await lab(['down']);
    expect(down.code, down.stderr).toBe(0);
    const netns = (await exec('ip', ['netns', 'list'])).stdout;
    expect(netns).not.toContain(`pl-${NAME}-`);
    const links = (await exec('ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toContain(`pl-${NAME}`);
    expect(existsSync(`/run/portico-lab/${NAME}`)).toBe(false);
    expect(existsSync('/etc/netns') ? (await exec('ls', ['/etc/netns'])).stdout : '').not.toContain(`pl-${NAME}-`);
    // Any process naming the lab path (with or without a slash after it), pods' echo servers included.
    const ps = (await exec('ps', ['-eo', 'args'])).stdout;
    expect(ps).not.toContain(`/run/portico-lab/${NAME}`);
    const again = await lab(['down']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('is not up');
  });
});

describe.skipIf(SKIP_REASON !== undefined)(skipTitle('portico lab: faults'), () => {
  it('down cleans up everything after up was killed (SIGKILL) halfway', async () => {
    const name = `k${randomBytes(2).toString('hex')}`;
    const subnet = `10.${SUBNET_OCTET}.9.0/24`;
    const child = spawn(process.execPath, [PORTICO, 'lab', 'up', '--name', name, '--nodes', '2', '--subnet', subnet], { stdio: 'ignore' });
    // Kill it once nodes exist and their components run: the worst moment (processes detached).
    for (let i = 0; i < 400; i++) {
      const ps = (await exec('ps', ['-eo', 'args'])).stdout;
      if (ps.includes(`/run/portico-lab/${name}/manifests`)) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    expect((await exec('ip', ['netns', 'list'])).stdout).toContain(`pl-${name}-`);
    const down = await exec(process.execPath, [PORTICO, 'lab', 'down', '--name', name]);
    expect(down.code, down.stderr).toBe(0);
    expect((await exec('ip', ['netns', 'list'])).stdout).not.toContain(`pl-${name}-`);
    expect((await exec('ip', ['-o', 'link', 'show'])).stdout).not.toContain(`pl-${name}`);
    expect((await exec('ps', ['-eo', 'args'])).stdout).not.toContain(`/run/portico-lab/${name}/`);
    expect(existsSync(`/run/portico-lab/${name}`)).toBe(false);
  }, 60_000);

  it('two `up` of one name at once: exactly one builds the lab, the other refuses and leaves it standing', async () => {
    const name = `c${randomBytes(2).toString('hex')}`;
    const subnet = `10.${SUBNET_OCTET}.11.0/24`;
    const up = () => exec(process.execPath, [PORTICO, 'lab', 'up', '--name', name, '--nodes', '1', '--subnet', subnet]);
    const results = await Promise.all([up(), up()]);
    try {
      expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
      expect(results.find((r) => r.code === 1)!.stderr).toContain('PORTICO_ERR_LAB_STATE');
      const status = await exec(process.execPath, [PORTICO, 'lab', 'status', '--name', name, '-o', 'json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).nodes[0].ready).toBe(true);
    } finally {
      await exec(process.execPath, [PORTICO, 'lab', 'down', '--name', name]);
    }
  }, 90_000);

  it('refuses to run without root, saying so', async () => {
    const result = await exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, PORTICO, 'lab', 'up', '--name', 'nobody']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('needs root');
    expect(existsSync('/run/portico-lab/nobody')).toBe(false);
  });
});
