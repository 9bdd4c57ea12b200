// wrk (Debian's wrk 4.1.0, C, epoll) as the load generator for the request/response scenarios.
//
// One measured run = `taskset -c CPU wrk -t1 -cN -dS --latency -s report.lua URL`, started by a
// `sh` whose own /proc/<pid>/stat gives wrk's exact CPU time afterwards (cutime + cstime of the
// waited-for child: taskset execs wrk, so the child is wrk). The Lua script prints one JSON line at
// the end (requests, bytes, errors, latency percentiles in µs from wrk's histogram) and, for the
// routing scenario, cycles through the (host, path) pairs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinnedCommand, runTimedChild } from './procs.js';

const luaString = (s) => `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * The Lua script for one wrk spec: `done()` prints `WRK_JSON {…}`; with `requests` (routing) every
 * request is taken in turn from a precomputed list of formatted requests (one per (host, path)).
 */
export function renderWrkScript(spec) {
  const lines = [];
  if (spec.requests) {
    lines.push('local pairs_ = {');
    for (const r of spec.requests) lines.push(`  {${luaString(r.host)}, ${luaString(r.path)}},`);
    lines.push('}');
    lines.push('local reqs = {}');
    lines.push('local n = 0');
    lines.push('function init(args)');
    lines.push('  for i, p in ipairs(pairs_) do reqs[i] = wrk.format("GET", p[2], { Host = p[1] }) end');
    lines.push('  n = #reqs');
    lines.push('end');
    lines.push('local i = 0');
    lines.push('function request()');
    lines.push('  i = i % n + 1');
    lines.push('  return reqs[i]');
    lines.push('end');
  }
  lines.push(`function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"bytes":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%f}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
`);
  return `${lines.join('\n')}\n`;
}

/** Writes the script for `spec` into `dir` and returns its path. */
export function writeWrkScript(dir, name, spec) {
  const path = join(dir, `${name}.lua`);
  writeFileSync(path, renderWrkScript(spec));
  return path;
}

/**
 * Runs wrk once. Resolves with { requests, bytes, seconds, errors, non2xx, latency (ms), wrkCpuSeconds,
 * wallSeconds }. `cpus` pins it (taskset), undefined leaves it free.
 */
export function runWrk({ url, connections, durationS, headers = [], script, cpus, timeoutS = 10 }) {
  const wrkArgs = ['-t1', `-c${connections}`, `-d${durationS}s`, `--timeout`, `${timeoutS}s`, '--latency', '-s', script];
  for (const h of headers) wrkArgs.push('-H', h);
  wrkArgs.push(url);
  const [cmd, argv] = pinnedCommand(cpus, 'wrk', wrkArgs);
  return runTimedChild(cmd, argv).then(({ code, out, err, wallSeconds, cpuSeconds: wrkCpuSeconds }) => {
    const json = /WRK_JSON (\{.*\})/.exec(out);
    if (code !== 0 || !json) throw new Error(`wrk exited ${code} without a result:\n${out.slice(-2000)}\n${err.slice(-2000)}`);
    const r = JSON.parse(json[1]);
    const us = (x) => x / 1000; // µs → ms
    return {
      requests: r.requests,
      bytes: r.bytes,
      seconds: r.durationUs / 1e6,
      // Socket errors (connect, read, write, timeout); non-2xx is wrk's `status` (status > 399).
      errors: r.connect + r.read + r.write + r.timeout,
      non2xx: r.status,
      errorSamples: r.connect + r.read + r.write + r.timeout > 0 ? [`connect ${r.connect}`, `read ${r.read}`, `write ${r.write}`, `timeout ${r.timeout}`] : undefined,
      latency: { p50: us(r.p50), p90: us(r.p90), p99: us(r.p99), p999: us(r.p999), max: us(r.max), mean: us(r.mean) },
      wrkCpuSeconds,
      wallSeconds,
    };
  });
}
