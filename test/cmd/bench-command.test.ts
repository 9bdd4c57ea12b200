// `portico bench URL`: flag parsing, and real short runs against local servers on port 0.
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBenchArgs, parseHeaders, runBench } from '../../src/cmd/bench-command.js';
import { startEchoServer, type EchoServer } from '../../src/echo/echo-server.js';
import { deadPort } from '../proxy/proxy-fixture.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'portico.js');

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

describe('parseBenchArgs', () => {
  it('takes the URL and applies the defaults', () => {
    expect(parseBenchArgs(['http://127.0.0.1:8080/'])).toEqual({ url: 'http://127.0.0.1:8080/', connections: 10, duration: 10, pipelining: 1, method: 'GET', headers: {} });
  });

  it('parses every flag, in any position', () => {
    expect(
      parseBenchArgs(['--connections', '50', 'https://web.example.com/x', '--duration=2.5', '--pipelining', '4', '--method', 'post', '--body', '{}', '--servername', 'web.example.com', '--json', 'out.json']),
    ).toEqual({ url: 'https://web.example.com/x', connections: 50, duration: 2.5, pipelining: 4, method: 'POST', headers: {}, body: '{}', servername: 'web.example.com', json: 'out.json' });
  });

  it('accepts --header repeated and comma-separated, without splitting values that contain commas', () => {
    expect(parseBenchArgs(['http://h/', '--header', 'Host: web.example.com', '--header', 'x-a: 1, X-B:2', '--header', 'accept: text/html, application/json']).headers).toEqual({
      host: 'web.example.com',
      'x-a': '1',
      'x-b': '2',
      accept: 'text/html, application/json',
    });
  });

  it.each([
    [[], /expected one URL, got none/],
    [['http://a/', 'http://b/'], /expected one URL, got http:\/\/a\/ http:\/\/b\//],
    [['not a url'], /not a URL/],
    [['ftp://example.com/'], /must be http:\/\/ or https:\/\//],
    [['http://h/', '--connections', '0'], /--connections must be a whole number ≥ 1, got "0"/],
    [['http://h/', '--pipelining', 'two'], /--pipelining must be a whole number/],
    [['http://h/', '--duration', '-1'], /--duration/],
    [['http://h/', '--method', 'GE T'], /--method must be a method name/],
    [['http://h/', '--nope'], /Unknown option '--nope'/],
    [['http://h/', '--json='], /--json must not be empty/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrowError(message);
    try {
      parseBenchArgs(argv);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('PORTICO_ERR_CLI_FLAG');
    }
  });

  it('rejects a header without a name', () => {
    expect(() => parseHeaders([': value'])).toThrowError(/--header must be "name: value"/);
    expect(() => parseHeaders(['no-colon'])).toThrowError(/--header must be "name: value"/);
  });
});

describe('portico bench (real runs)', () => {
  let echo: EchoServer;
  let recorder: Server;
  const seen: Array<{ method: string | undefined; headers: IncomingHttpHeaders; body: string }> = [];
  let dir: string;

  beforeAll(async () => {
    echo = await startEchoServer({ podName: 'bench', serviceName: 'bench' });
    recorder = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (seen.length < 5) seen.push({ method: req.method, headers: req.headers, body });
        res.writeHead(201, { 'content-length': '2' });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    dir = await mkdtemp(join(tmpdir(), 'portico-bench-cmd-'));
  });
  afterAll(async () => {
    await echo?.close();
    recorder?.closeAllConnections();
    await new Promise((resolve) => recorder?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs against the echo server, prints the summary tables and writes JSON', async () => {
    const stdout = capture();
    const stderr = capture();
    const json = join(dir, 'result.json');
    const result = await runBench(parseBenchArgs([`http://127.0.0.1:${echo.port}/bytes/64`, '--connections', '2', '--duration', '1', '--json', json]), {
      stdout: stdout.stream,
      stderr: stderr.stream,
    });
    expect(result.requests.total).toBeGreaterThan(0); // how many fit in 1 s depends on the machine
    expect(result.errors + result.timeouts + result.non2xx).toBe(0);
    expect(echo.requests).toBeGreaterThanOrEqual(result.requests.total);
    expect(stdout.text()).toMatch(/│ requests │ +req\/s │ +MB\/s │ +p50 ms │/);
    expect(stdout.text()).toMatch(/status codes: 200 × [\d,]+/);
    expect(result.latencyMs?.p50).toBeGreaterThan(0);
    expect(result.latencyMs!.p99!).toBeGreaterThanOrEqual(result.latencyMs!.p50!);
    const written = JSON.parse(await readFile(json, 'utf8')) as { requests: { total: number }; connections: number; latencyMs: { p99: number } };
    expect(written.requests.total).toBe(result.requests.total);
    expect(written.latencyMs.p99).toBe(result.latencyMs?.p99);
    expect(written.connections).toBe(2);
    expect(stderr.text()).not.toMatch(/errors\/timeouts/);
  });

  it('says why requests failed: a dead port is ECONNREFUSED', async () => {
    const port = await deadPort();
    const stdout = capture();
    const stderr = capture();
    const result = await runBench(parseBenchArgs([`http://127.0.0.1:${port}/`, '--connections', '1', '--duration', '1']), { stdout: stdout.stream, stderr: stderr.stream });
    expect(result.errors).toBeGreaterThan(0);
    expect(result.errorCodes).toEqual({ ECONNREFUSED: expect.any(Number) });
    expect(stderr.text()).toMatch(/portico bench: [\d]+ errors\/timeouts \(ECONNREFUSED × \d+\)/);
  });

  it('sends the method, headers and body it was given', async () => {
    const stdout = capture();
    const stderr = capture();
    const url = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}/submit`;
    const result = await runBench(parseBenchArgs([url, '--connections', '1', '--duration', '0.5', '--method', 'post', '--header', 'x-one: 1, content-type: text/plain', '--body', 'hello']), {
      stdout: stdout.stream,
      stderr: stderr.stream,
    });
    expect(result.requests.total).toBeGreaterThan(0);
    expect(result.non2xx).toBe(0); // 201 is a 2xx
    expect(seen[0]).toMatchObject({ method: 'POST', body: 'hello', headers: { 'x-one': '1', 'content-type': 'text/plain' } });
  });

  it('is wired into the CLI: `portico bench URL --json -` prints the JSON on stdout', async () => {
    const child = spawn(process.execPath, [BIN, 'bench', `http://127.0.0.1:${echo.port}/`, '--duration', '1', '--connections', '1', '--json', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect((JSON.parse(out) as { requests: { total: number } }).requests.total).toBeGreaterThan(0);
    expect(err).toMatch(/p99\.9 ms/); // the table moved to stderr
  });

  it('exits 2 with the flag error when the URL is missing', async () => {
    const child = spawn(process.execPath, [BIN, 'bench', '--duration', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/portico bench: expected one URL, got none \[PORTICO_ERR_CLI_FLAG\]/);
  });
});
