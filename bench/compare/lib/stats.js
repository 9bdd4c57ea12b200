// Medians over rounds, per-request costs and ratios.
import { CLK_TCK } from './procs.js';

export function median(xs) {
  const s = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const round = (x, digits = 1) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits);

/**
 * When a run did not measure the proxy at saturation: its core was not saturated, or the load
 * generator's was (its CPU at least `generatorCoresAtLeast` of a core). The proxy's core counts as
 * saturated when the proxy's CPU plus the irq/softirq time on its (pinned) CPU reach
 * `proxyCoresBelow` of a core per worker: the kernel's packet work for the proxy's sockets runs
 * there in softirq and is charged to no process. CPU per request is then the proxy's capacity cost;
 * otherwise requests/s ratios measure the generator or the machine.
 */
export const GENERATOR_BOUND = { proxyCoresBelow: 0.9, generatorCoresAtLeast: 0.95 };

function generatorBoundWhy({ proxyCores, clientCores, workers, isDirect, proxyCoreBusy, proxyCoreIrq, othersCores, offeredRate, rps }) {
  const why = [];
  // At a fixed rate the proxy is not meant to saturate; the run only fails if the rate was not reached.
  if (offeredRate) {
    if (rps < 0.95 * offeredRate) why.push(`rate ${Math.round(rps)}/s < 0.95 × ${offeredRate}/s offered`);
    // Latency at a fixed rate is only the proxy's own when it had its CPU to itself.
    const taken = proxyCoreBusy !== null && proxyCoreBusy !== undefined && proxyCores !== null ? proxyCoreBusy - proxyCores - (proxyCoreIrq ?? 0) : 0;
    if (!isDirect && taken > 0.2) why.push(`its CPU ${Math.round(proxyCoreBusy * 100)}% busy: ${taken.toFixed(2)} core to other processes`);
  } else if (!isDirect && proxyCores !== null && proxyCores + (proxyCoreIrq ?? 0) < GENERATOR_BOUND.proxyCoresBelow * workers) {
    // The proxy's CPU busy but not by the proxy: other processes took it (a shared machine).
    const taken = proxyCoreBusy !== null && proxyCoreBusy !== undefined ? proxyCoreBusy - proxyCores - (proxyCoreIrq ?? 0) : 0;
    const others = taken > 0.1 ? ` (its CPU ${Math.round(proxyCoreBusy * 100)}% busy: ${taken.toFixed(2)} core to other processes${othersCores > 0.05 ? `, ${othersCores.toFixed(2)} of it other proxies` : ''})` : '';
    why.push(`proxy ${proxyCores.toFixed(2)} cores${proxyCoreIrq ? ` + irq ${proxyCoreIrq.toFixed(2)}` : ''} < ${(GENERATOR_BOUND.proxyCoresBelow * workers).toFixed(2)}${others}`);
  }
  if (clientCores !== null && clientCores >= GENERATOR_BOUND.generatorCoresAtLeast) why.push(`generator ${clientCores.toFixed(2)} cores ≥ ${GENERATOR_BOUND.generatorCoresAtLeast}`);
  return why;
}

/** One measured run → the numbers reported for it. */
export function sampleOf(raw, { round: r, rssBytes, isDirect = false, workers = 1, proxyCpu = undefined, offeredRate = undefined }) {
  const requests = raw.requests;
  const perReq = (seconds) => (requests > 0 ? (seconds * 1e6) / requests : null);
  const cpuWindow = raw.cpuWindowSeconds ?? raw.seconds;
  const proxyCores = raw.proxyTicks / CLK_TCK / cpuWindow;
  const clientCores = raw.clientCpuSeconds === null || raw.clientCpuSeconds === undefined ? null : raw.clientCpuSeconds / cpuWindow;
  const othersCores = (raw.othersTicks ?? 0) / CLK_TCK / cpuWindow;
  const proxyCoreIrq = proxyCpu === undefined ? null : (raw.coreIrq?.[proxyCpu] ?? null);
  const why = generatorBoundWhy({ proxyCores, clientCores, workers, isDirect, proxyCoreBusy: proxyCpu === undefined ? null : raw.coreBusy?.[proxyCpu], proxyCoreIrq, othersCores, offeredRate, rps: requests / raw.seconds });
  return {
    generator: raw.generator,
    round: r,
    requests,
    seconds: raw.seconds,
    rps: requests / raw.seconds,
    mbPerSec: raw.bytes / raw.seconds / (1024 * 1024),
    p50: raw.latency.p50,
    p99: raw.latency.p99,
    p999: raw.latency.p999,
    errors: raw.errors,
    non2xx: raw.non2xx,
    errorSamples: raw.errorSamples?.length ? raw.errorSamples : undefined,
    proxyUsPerReq: perReq(raw.proxyTicks / CLK_TCK),
    proxyCores,
    clientCores,
    backendCores: raw.backendTicks / CLK_TCK / cpuWindow,
    backendUsPerReq: perReq(raw.backendTicks / CLK_TCK),
    clientUsPerReq: perReq(raw.clientCpuSeconds),
    machineBusy: raw.machineBusy,
    coreBusy: raw.coreBusy,
    coreIrq: raw.coreIrq,
    proxyCoreIrq,
    othersCores,
    settleMs: raw.settleMs,
    generatorBound: why.length > 0,
    generatorBoundWhy: why,
    offeredRate: offeredRate ?? null,
    maxBacklog: raw.maxBacklog,
    rssMB: rssBytes / (1024 * 1024),
  };
}

/** Medians over rounds for one target in one scenario. */
export function summarize(target, samples) {
  const pick = (k) => samples.map((s) => s[k]);
  const rps = pick('rps');
  return {
    target,
    rounds: samples.length,
    rps: round(median(rps), 0),
    rpsRange: [round(Math.min(...rps), 0), round(Math.max(...rps), 0)],
    mbPerSec: round(median(pick('mbPerSec')), 1),
    p50: round(median(pick('p50')), 2),
    p99: round(median(pick('p99')), 2),
    p999: round(median(pick('p999')), 2),
    errors: pick('errors').reduce((a, b) => a + b, 0),
    non2xx: pick('non2xx').reduce((a, b) => a + b, 0),
    proxyUsPerReq: target === 'direct' ? null : round(median(pick('proxyUsPerReq')), 1),
    proxyCores: target === 'direct' ? null : round(median(pick('proxyCores')), 2),
    backendUsPerReq: round(median(pick('backendUsPerReq')), 1),
    clientUsPerReq: round(median(pick('clientUsPerReq')), 1),
    clientCores: round(median(pick('clientCores')), 2),
    backendCores: round(median(pick('backendCores')), 2),
    machineBusy: round(median(pick('machineBusy')), 2),
    core0Busy: round(median(samples.map((s) => s.coreBusy?.['0'])), 2),
    core1Busy: round(median(samples.map((s) => s.coreBusy?.['1'])), 2),
    core1Irq: round(median(samples.map((s) => s.coreIrq?.['1'])), 2),
    othersCores: round(median(pick('othersCores')), 2),
    // Rounds flagged generator-bound; the row is flagged when most of its rounds are.
    generatorBoundRounds: samples.filter((s) => s.generatorBound).length,
    generatorBound: target === 'direct' ? null : samples.filter((s) => s.generatorBound).length * 2 > samples.length,
    generatorBoundWhy: [...new Set(samples.flatMap((s) => s.generatorBoundWhy.map((w) => w.replace(/ [\d.]+ cores/, '').replace(/ \+ irq [\d.]+/, ' + irq').replace(/ \(its CPU.*\)/, ' (CPU shared with other processes)').replace(/rate \d+\/s/, 'rate').replace(/^its CPU .*/, 'its CPU shared with other processes'))))],
    offeredRate: samples[0]?.offeredRate ?? null,
    rssMB: target === 'direct' ? null : round(median(pick('rssMB')), 1),
    rssMaxMB: target === 'direct' ? null : round(Math.max(...pick('rssMB')), 1),
  };
}

/** Worker count in a target name: "portico-2w", "haproxy-2t" → 2; "portico" → 1. */
export const workersOf = (target) => Number(/-(\d+)[wt]$/.exec(target)?.[1] ?? 1);

/**
 * Adds ratios to nginx (the nginx row with the same number of workers: portico-2w is compared with
 * nginx-2w) and to the backend served directly.
 */
export function addRatios(rows) {
  const direct = rows.find((r) => r.target === 'direct');
  const ratio = (a, b) => (a === null || b === null || b === undefined || b === 0 ? null : round(a / b, 2));
  for (const r of rows) {
    const w = workersOf(r.target);
    const nginx = rows.find((n) => n.target === (w === 1 ? 'nginx' : `nginx-${w}w`));
    r.rpsToNginx = nginx ? ratio(r.rps, nginx.rps) : null;
    r.p99ToNginx = nginx ? ratio(r.p99, nginx.p99) : null;
    r.cpuToNginx = nginx && r.proxyUsPerReq !== null ? ratio(r.proxyUsPerReq, nginx.proxyUsPerReq) : null;
    r.rpsToDirect = direct ? ratio(r.rps, direct.rps) : null;
    r.p99ToDirect = direct ? ratio(r.p99, direct.p99) : null;
  }
  return rows;
}

/**
 * Issue 13's targets, checked against the summary: CPU per request at saturation ≤ 2.0× nginx for
 * HTTP and HTTPS keep-alive (stretch 1.5×), zero errors. A ratio from a generator-bound row (either
 * side) is reported but not counted as met or missed.
 */
export function checkTargets(scenarios) {
  const row = (scenario, target) => scenarios.find((s) => s.id === scenario)?.rows.find((r) => r.target === target);
  // The default data plane (portico-engine) when it ran, else the node data plane (portico).
  const porticoOf = (scenario) => row(scenario, 'portico-engine') ?? row(scenario, 'portico');
  const isPortico = (target) => target === 'portico' || target === 'portico-engine';
  const checks = [];
  const cpuCheck = (scenario, limit, label) => {
    const p = porticoOf(scenario);
    const n = row(scenario, 'nginx');
    const value = p?.cpuToNginx ?? null;
    const bound = [p?.generatorBound && 'portico', n?.generatorBound && 'nginx'].filter(Boolean);
    const met = value === null || bound.length ? null : value <= limit;
    checks.push({ target: label, scenario, value, limit: `<= ${limit}`, met, generatorBound: bound.length ? `generator-bound: ${bound.join(', ')}` : null });
  };
  cpuCheck('http-keepalive', 2.0, 'HTTP keep-alive CPU/req ≤ 2.0× nginx (stretch 1.5×)');
  cpuCheck('https-keepalive', 2.0, 'HTTPS keep-alive CPU/req ≤ 2.0× nginx (stretch 1.5×)');
  {
    const p = porticoOf('http-fixed-rate');
    const n = row('http-fixed-rate', 'nginx');
    const value = p?.p99ToNginx ?? null;
    const bound = [p?.generatorBound && 'portico', n?.generatorBound && 'nginx'].filter(Boolean);
    checks.push({ target: `HTTP keep-alive p99 ≤ 1.5× nginx at a fixed rate${p?.offeredRate ? ` (${p.offeredRate}/s)` : ''}`, scenario: 'http-fixed-rate', value, limit: '<= 1.5', met: value === null || bound.length ? null : value <= 1.5, generatorBound: bound.length ? `generator-bound: ${bound.join(', ')}` : null });
  }
  const failing = [];
  for (const s of scenarios) for (const r of s.rows) if (isPortico(r.target) && r.errors + r.non2xx > 0) failing.push(`${s.id} (${r.target}): ${r.errors} errors, ${r.non2xx} non-2xx`);
  checks.push({ target: 'Zero errors in every scenario (Portico)', scenario: '*', value: failing.length === 0 ? 0 : failing.join('; '), limit: '= 0', met: failing.length === 0, generatorBound: null });
  return checks;
}
