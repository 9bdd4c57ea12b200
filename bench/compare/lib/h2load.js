// h2load (Debian's nghttp2-client, C) as the load generator for the HTTP/2 scenario: wrk speaks
// only HTTP/1.1. One measured run = `taskset -c CPU h2load -t1 -cN -mS -D S URL`, started by a `sh`
// whose /proc/<pid>/stat gives h2load's CPU time afterwards (runTimedChild, as for wrk). h2load reports
// requests, status classes and latency mean/sd/max, not percentiles.
import { pinnedCommand, runTimedChild } from './procs.js';

/** The numbers of one h2load report (exported for its test). */
export function parseH2loadOutput(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : undefined;
  };
  const time = (s) => {
    if (s === undefined) return undefined;
    const m = /^([\d.]+)(us|ms|s)$/.exec(s);
    if (!m) return undefined;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const latency = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  if (!requests || !codes) return undefined;
  const failed = Number(requests[5]) + Number(requests[6]) + Number(requests[7]);
  return {
    done: Number(requests[3]),
    succeeded: Number(requests[4]),
    failed,
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    seconds: num(/finished in ([\d.]+)s/),
    latency: latency ? { min: time(latency[1]), max: time(latency[2]), mean: time(latency[3]), sd: time(latency[4]) } : undefined,
  };
}

/**
 * Runs h2load once for `durationS` seconds. Resolves like runWrk: { requests, bytes, seconds, errors,
 * non2xx, latency (ms; only mean and max), wrkCpuSeconds (h2load's), wallSeconds }.
 */
export function runH2load({ url, connections, streams, durationS, headers = [], cpus }) {
  const args = ['-t1', `-c${connections}`, `-m${streams}`, `-D${durationS}`];
  for (const h of headers) args.push('-H', h);
  args.push(url);
  const [cmd, argv] = pinnedCommand(cpus, 'h2load', args);
  return runTimedChild(cmd, argv).then(({ code, out, err, wallSeconds, cpuSeconds }) => {
    const r = parseH2loadOutput(out);
    if (code !== 0 || r === undefined) throw new Error(`h2load exited ${code} without a result:\n${out.slice(-2000)}\n${err.slice(-2000)}`);
    return {
      requests: r.done,
      bytes: 0,
      seconds: r.seconds ?? durationS,
      errors: r.failed,
      non2xx: r.non2xx,
      errorSamples: r.failed > 0 ? [`failed ${r.failed}`] : undefined,
      latency: { p50: null, p90: null, p99: null, p999: null, max: r.latency?.max ?? null, mean: r.latency?.mean ?? null },
      wrkCpuSeconds: cpuSeconds,
      wallSeconds,
    };
  });
}
