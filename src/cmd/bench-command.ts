// `portico bench URL`: load-test an ingress (Portico or any other HTTP/1.1 server) with autocannon.
//
// A thin front over autocannon's programmatic API: flags are validated like every other command
// (PORTICO_ERR_CLI_FLAG, exit code 2), autocannon's progress bar goes to stderr when it is a
// terminal, and a summary table goes to stdout; `--json FILE` also writes autocannon's full result.
// Latency percentiles are recorded here from each response's fractional-ms time: autocannon's own
// histogram keeps whole milliseconds, which reads "0 ms" for everything on a fast local ingress.
// autocannon is a devDependency: when it is missing (a production install), the command says how to
// get it instead of failing on the import.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PorticoError } from '../lib/errors.js';
import { LatencyHistogram } from '../lib/latency-histogram.js';
import type { FlagSpec } from './flags.js';

/** For `portico help bench`; parsing is done below (a positional URL and a repeatable --header). */
export const BENCH_FLAGS = {
  connections: { type: 'string', default: '10', description: 'Concurrent connections' },
  duration: { type: 'string', default: '10', description: 'Seconds to run' },
  pipelining: { type: 'string', default: '1', description: 'Requests in flight per connection (HTTP pipelining)' },
  method: { type: 'string', default: 'GET', description: 'Request method' },
  header: {
    type: 'string',
    description: 'Request header "name: value"; repeat the flag for several, or separate them with commas ("a: 1, b: 2"; a comma only splits when a "name:" follows it)',
  },
  body: { type: 'string', description: 'Request body (sent with every request)' },
  servername: { type: 'string', description: 'TLS server name (SNI) for https:// URLs (default: the URL host unless it is an IP address); certificates are not verified' },
  json: { type: 'string', description: 'Also write the full autocannon result as JSON to this file ("-": stdout, tables then go to stderr)' },
} as const satisfies Record<string, FlagSpec>;

export interface BenchOptions {
  readonly url: string;
  readonly connections: number;
  /** Seconds. */
  readonly duration: number;
  readonly pipelining: number;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly servername?: string;
  readonly json?: string;
}

export interface BenchIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The part of autocannon's result we read; the JSON output is the whole object. */
export interface BenchResult {
  readonly url: string;
  /** Seconds. */
  readonly duration: number;
  readonly connections: number;
  readonly requests: { readonly total: number; readonly average: number };
  readonly throughput: { readonly total: number; readonly average: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly statusCodeStats?: Readonly<Record<string, { readonly count: number }>>;
  /** Added by `portico bench`: request errors by code (ECONNREFUSED, ECONNRESET, …; timeouts as "timeout"). */
  errorCodes?: Record<string, number>;
  /** Added by `portico bench`: percentiles with µs resolution (ms). */
  latencyMs?: { p50?: number; p90?: number; p99?: number; p99_9?: number; max?: number; mean?: number };
  readonly [key: string]: unknown;
}

interface AutocannonInstance extends NodeJS.EventEmitter {
  stop(): void;
}

interface Autocannon {
  (options: Record<string, unknown>, done: (err: Error | null, result: BenchResult) => void): AutocannonInstance;
  track(instance: AutocannonInstance, options: Record<string, unknown>): void;
}

const flagError = (message: string) => new PorticoError('PORTICO_ERR_CLI_FLAG', message);

function positiveInteger(name: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1) throw flagError(`--${name} must be a whole number ≥ 1, got ${JSON.stringify(raw)}`);
  return n;
}

/** Splits `--header` values: each is "name: value"; several may share one flag, comma-separated. */
export function parseHeaders(values: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    // Split on a comma only when a header name and a colon follow, so "accept: a/b, c/d" stays whole.
    for (const part of value.split(/,(?=\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*:)/)) {
      const colon = part.indexOf(':');
      const name = colon < 0 ? '' : part.slice(0, colon).trim();
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw flagError(`--header must be "name: value", got ${JSON.stringify(part.trim())}`);
      headers[name.toLowerCase()] = part.slice(colon + 1).trim();
    }
  }
  return headers;
}

/** argv (after `bench`) → options; throws PORTICO_ERR_CLI_FLAG on anything unusable. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const options: Record<string, { type: 'string'; multiple?: boolean }> = {};
  for (const name of Object.keys(BENCH_FLAGS)) options[name] = { type: 'string', ...(name === 'header' && { multiple: true }) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw flagError((error as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const values = parsed.values as Record<string, string | string[] | undefined>;
  const str = (name: keyof typeof BENCH_FLAGS): string | undefined => {
    const v = values[name];
    const flag: FlagSpec = BENCH_FLAGS[name];
    const value = typeof v === 'string' ? v : 'default' in flag ? flag.default : undefined;
    if (value === '') throw flagError(`--${name} must not be empty`);
    return value;
  };
  if (parsed.positionals.length !== 1) throw flagError(`expected one URL, got ${parsed.positionals.length === 0 ? 'none' : parsed.positionals.join(' ')}`);
  const url = parsed.positionals[0]!;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw flagError(`not a URL: ${JSON.stringify(url)}`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw flagError(`the URL must be http:// or https://, got ${JSON.stringify(url)}`);
  const durationRaw = str('duration')!;
  const duration = Number(durationRaw);
  if (!/^\d+(\.\d+)?$/.test(durationRaw) || duration <= 0) throw flagError(`--duration must be a number of seconds > 0, got ${JSON.stringify(durationRaw)}`);
  const method = str('method')!.toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw flagError(`--method must be a method name, got ${JSON.stringify(method)}`);
  const body = str('body');
  const servername = str('servername');
  const json = str('json');
  return {
    url,
    connections: positiveInteger('connections', str('connections')!),
    duration,
    pipelining: positiveInteger('pipelining', str('pipelining')!),
    method,
    headers: parseHeaders((values['header'] as string[] | undefined) ?? []),
    ...(body !== undefined && { body }),
    ...(servername !== undefined && { servername }),
    ...(json !== undefined && { json }),
  };
}

async function loadAutocannon(): Promise<Autocannon> {
  // A variable specifier: autocannon ships no types, and it may be absent in production installs.
  const specifier = 'autocannon';
  try {
    const mod = (await import(specifier)) as { default: Autocannon };
    return mod.default;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new PorticoError('PORTICO_ERR_CLI_FLAG', '`portico bench` needs autocannon, which this installation lacks: npm install autocannon');
    }
    throw error;
  }
}

/** Runs the load test; resolves with autocannon's result once it is done (or stopped by Ctrl-C). */
export async function runBench(options: BenchOptions, io: BenchIo = process): Promise<BenchResult> {
  const autocannon = await loadAutocannon();
  const latencies = new LatencyHistogram();
  const errorCodes = new Map<string, number>();
  const tables = options.json === '-' ? io.stderr : io.stdout;
  const result = await new Promise<BenchResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.duration,
        pipelining: options.pipelining,
        method: options.method,
        headers: options.headers,
        ...(options.body !== undefined && { body: options.body }),
        ...(options.servername !== undefined && { servername: options.servername }),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.recordMs(ms));
    instance.on('reqError', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? (error.message === 'request timed out' ? 'timeout' : error.message);
      errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
    });
    // Ctrl-C stops the run early; the results so far are still reported.
    const stop = (): void => instance.stop();
    process.once('SIGINT', stop);
    instance.once('done', () => process.off('SIGINT', stop));
    autocannon.track(instance, { outputStream: io.stderr, renderProgressBar: io.stderr.isTTY === true, renderResultsTable: false });
  });
  result.latencyMs = {
    p50: latencies.percentileMs(0.5),
    p90: latencies.percentileMs(0.9),
    p99: latencies.percentileMs(0.99),
    p99_9: latencies.percentileMs(0.999),
    max: latencies.maxMs,
    mean: latencies.meanMs,
  };
  result.errorCodes = Object.fromEntries([...errorCodes].sort(([, a], [, b]) => b - a));
  tables.write(renderSummary(result));
  const failed = result.errors + result.timeouts;
  if (failed > 0 || result.non2xx > 0) {
    // Say why: "84840 errors" alone does not tell a dead port (ECONNREFUSED) from a slow server.
    const why = Object.entries(result.errorCodes).map(([code, count]) => `${code} × ${count}`).join(', ');
    io.stderr.write(`portico bench: ${failed} errors/timeouts${why ? ` (${why})` : ''}, ${result.non2xx} non-2xx responses\n`);
  }
  if (options.json === '-') io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (options.json !== undefined) writeFileSync(options.json, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

const num = (x: number | undefined, digits = 0): string =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const latency = (ms: number | undefined): string => (ms === undefined ? '–' : num(ms, ms < 1 ? 3 : ms < 100 ? 2 : 0));

/** The summary table: one header row, one value row, then the status codes. */
export function renderSummary(result: BenchResult): string {
  const l = result.latencyMs ?? {};
  const seconds = result.duration;
  const columns: Array<[string, string]> = [
    ['requests', num(result.requests.total)],
    ['req/s', num(result.requests.total / seconds)],
    ['MB/s', num(result.throughput.total / seconds / 1e6, 2)],
    ['p50 ms', latency(l.p50)],
    ['p90 ms', latency(l.p90)],
    ['p99 ms', latency(l.p99)],
    ['p99.9 ms', latency(l.p99_9)],
    ['max ms', latency(l.max)],
    ['non-2xx', num(result.non2xx)],
    ['errors', num(result.errors)],
    ['timeouts', num(result.timeouts)],
  ];
  const widths = columns.map(([h, v]) => Math.max(h.length, v.length));
  const row = (cells: string[]) => `│ ${cells.map((c, i) => c.padStart(widths[i]!)).join(' │ ')} │`;
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => '─'.repeat(w + 2)).join(m)}${r}`;
  const codes = Object.entries(result.statusCodeStats ?? {})
    .map(([code, { count }]) => `${code} × ${num(count)}`)
    .join(', ');
  return [
    '',
    `${result.url} · ${result.connections} connections · ${num(seconds, 2)} s`,
    rule('┌', '┬', '┐'),
    row(columns.map(([h]) => h)),
    rule('├', '┼', '┤'),
    row(columns.map(([, v]) => v)),
    rule('└', '┴', '┘'),
    `status codes: ${codes || 'none'}`,
    '',
  ].join('\n');
}

export async function runBenchCommand(argv: readonly string[]) {
  const result = await runBench(parseBenchArgs(argv));
  // Nothing answered at all (wrong URL, server down): a failure for scripts.
  if (result.requests.total === 0 || result.errors + result.timeouts >= result.requests.total) process.exitCode = 1;
  return { close: async () => undefined, done: true as const };
}
