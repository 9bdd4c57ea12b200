// Writes the comparative results: JSON (everything, samples included), a Markdown summary and an SVG
// chart drawn by hand (two panels: throughput and CPU per request, both relative to nginx).

const fmt = (x, digits = 0) => (x === null || x === undefined ? '–' : Number(x).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ms = (x) => (x === null || x === undefined ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(1));

const pct = (x) => (x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`);
const boundCell = (r) => (r.target === 'direct' || r.generatorBound === null ? '–' : r.generatorBound ? `**yes** (${r.generatorBoundRounds}/${r.rounds}: ${r.generatorBoundWhy.join('; ')})` : r.generatorBoundRounds ? `no (${r.generatorBoundRounds}/${r.rounds} rounds)` : 'no');
/** "1.85×" beside the ratio, with a warning when either side of it was generator-bound. */
const ratioCell = (r, nginx, key) => {
  if (r[key] === null || r[key] === undefined) return '–';
  if (r.target === 'nginx') return fmt(r[key], 2);
  const bound = [r.generatorBound && r.target, r.target !== 'nginx' && nginx?.generatorBound && 'nginx'].filter(Boolean);
  return `${fmt(r[key], 2)}${bound.length ? ` ⚠ ${bound.join(', ')} generator-bound` : ''}`;
};

export function renderMarkdown(result) {
  const m = result.method;
  const v = result.versions;
  const g = m.generatorBound;
  const lines = [];
  lines.push(`# Portico beside nginx and HAProxy`);
  lines.push('');
  lines.push(`${result.date} · Node ${v.node} · nginx ${v.nginx ?? 'missing'} · HAProxy ${v.haproxy ?? 'missing'} · wrk ${v.wrk ?? 'missing'} · autocannon ${v.autocannon} · ${result.machine.cpus} CPUs`);
  lines.push('');
  lines.push(
    `Method: ${m.rounds} rounds, targets in rotating order each round (A B C, B C A, …); per run a ${m.warmupS} s warm-up (discarded) then ${m.durationS} s measured. ` +
      `Medians over rounds. ${m.pinned ? `Pinned: each proxy alone on CPU ${m.cpus.proxy}; the load generator and the backend on CPU ${m.cpus.client} (for "direct" the backend and the client may use both CPUs).` : 'Unpinned: every process may use every CPU.'} ` +
      `Load generator: wrk (1 thread) where it can drive the scenario, else load-worker.js (Node; named per scenario). Backend: nginx \`return 200\` (1 worker) for HTTP, the Node echo server for WebSocket. ` +
      `${m.porticoMallocArenaMax === undefined ? '' : `Portico runs with MALLOC_ARENA_MAX=${m.porticoMallocArenaMax ?? "2 (the CLI's default, as the image)"}. `}` +
      `Load average before: ${result.machine.loadBefore.one.toFixed(2)}, after: ${result.machine.loadAfter.one.toFixed(2)}. Run took ${Math.round(result.totalSeconds)} s.`,
  );
  lines.push('');
  lines.push(
    '**Proxy CPU µs/req is the headline**: user + system time of the proxy\'s whole process tree (all processes and threads, `/proc/<pid>/stat`) during the measured run, divided by the requests completed. ' +
      `A run is **generator-bound** when it did not measure the proxy at saturation: the proxy's CPU plus the irq/softirq time on its CPU (the kernel's packet work, charged to no process) stayed under ${g?.proxyCoresBelow ?? 0.9} of a core (per worker), or the load generator used ${g?.generatorCoresAtLeast ?? 0.95} of a core or more; a row is flagged when most of its rounds are, and every ratio it is part of carries ⚠. ` +
      'Requests/s ratios between unflagged rows are capacity ratios; with a flag they measure the generator or the machine. Latencies are client-side (at saturation: queueing, not a fixed-rate p99), in ms. "÷ nginx" compares with the nginx row that has the same number of workers.',
  );
  lines.push('');
  if (result.missing.length) lines.push(`**Missing:** ${result.missing.join('; ')}.`, '');
  lines.push('## Targets (Portico ÷ nginx, same run, one worker each)');
  lines.push('');
  lines.push('| target | value | limit | met |');
  lines.push('|---|---|---|---|');
  for (const c of result.targets) lines.push(`| ${c.target} | ${c.value ?? '–'} | ${c.limit} | ${c.met === null ? (c.generatorBound ? `– (${c.generatorBound})` : '–') : c.met ? 'yes' : '**no**'} |`);
  lines.push('');
  lines.push('## Summary: CPU per request at saturation');
  lines.push('');
  lines.push('| scenario | generator | target | req/s | proxy CPU µs/req | CPU ÷ nginx | req/s ÷ nginx | p50 / p99 ms | proxy cores | generator-bound |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const s of result.scenarios) {
    const nginx = s.rows.find((r) => r.target === 'nginx');
    s.rows.forEach((r, i) => {
      lines.push(
        `| ${i === 0 ? s.short : ''} | ${i === 0 ? s.generator : ''} | ${r.target} | ${fmt(r.rps)} | ${fmt(r.proxyUsPerReq, 1)} | ${ratioCell(r, nginx, 'cpuToNginx')} | ${ratioCell(r, nginx, 'rpsToNginx')} | ${ms(r.p50)} / ${ms(r.p99)} | ${fmt(r.proxyCores, 2)} | ${boundCell(r)} |`,
      );
    });
  }
  lines.push('');
  const multi = [...new Set(result.scenarios.flatMap((s) => s.rows.map((r) => r.target)).filter((t) => /-\d+[wt]$/.test(t)))];
  if (multi.length) {
    lines.push('## Worker scaling (N workers ÷ 1 worker, same run)');
    lines.push('');
    lines.push(`| scenario | ${multi.map((t) => `${t} req/s ÷ ${t.replace(/-\d+[wt]$/, '')}`).join(' | ')} | ${multi.map((t) => `${t} CPU µs/req`).join(' | ')} |`);
    lines.push(`|---|${multi.map(() => '---|').join('')}${multi.map(() => '---|').join('')}`);
    for (const s of result.scenarios) {
      const row = (t) => s.rows.find((r) => r.target === t);
      const gain = (t) => {
        const a = row(t);
        const b = row(t.replace(/-\d+[wt]$/, ''));
        return a && b && b.rps ? (a.rps / b.rps).toFixed(2) : '–';
      };
      lines.push(`| ${s.short} | ${multi.map(gain).join(' | ')} | ${multi.map((t) => fmt(row(t)?.proxyUsPerReq, 1)).join(' | ')} |`);
    }
    lines.push('');
  }
  for (const s of result.scenarios) {
    lines.push(`## ${s.title}`);
    lines.push('');
    lines.push(`${s.description} Generator: ${s.generator}; backend: ${s.backend}.${s.load?.rate ? ` **Offered rate: ${fmt(s.load.rate)} req/s.**` : ''}`);
    lines.push('');
    const unit = s.unit ?? 'req';
    const nginx = s.rows.find((r) => r.target === 'nginx');
    lines.push(
      `| target | proxy CPU µs/${unit} | CPU ÷ nginx | ${unit}/s (min–max) | ${s.showMBps ? 'MiB/s | ' : ''}${unit}/s ÷ nginx | p50 / p99 / p99.9 ms | p99 ÷ nginx | errors / non-2xx | proxy cores | generator cores | backend cores | CPU0 / CPU1 busy (CPU1 irq) | generator-bound | RSS MB | ${unit}/s ÷ direct |`,
    );
    lines.push(`|---|---|---|---|${s.showMBps ? '---|' : ''}---|---|---|---|---|---|---|---|---|---|---|`);
    for (const r of s.rows) {
      lines.push(
        `| ${r.target} | ${fmt(r.proxyUsPerReq, 1)} | ${ratioCell(r, nginx, 'cpuToNginx')} | ${fmt(r.rps)} (${fmt(r.rpsRange[0])}–${fmt(r.rpsRange[1])}) | ${s.showMBps ? `${fmt(r.mbPerSec)} | ` : ''}${ratioCell(r, nginx, 'rpsToNginx')} | ${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.p999)} | ${fmt(r.p99ToNginx, 2)} | ${r.errors} / ${r.non2xx} | ${fmt(r.proxyCores, 2)} | ${fmt(r.clientCores, 2)} | ${fmt(r.backendCores, 2)} | ${pct(r.core0Busy)} / ${pct(r.core1Busy)} (${pct(r.core1Irq)}) | ${boundCell(r)} | ${fmt(r.rssMB, 0)} | ${fmt(r.rpsToDirect, 2)} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

const COLORS = { portico: '#2f6fdf', 'portico-baseline': '#8fb2ef', nginx: '#3a9a3a', haproxy: '#d08a17', direct: '#888888' };
// Multi-worker variants: a lighter shade of the same hue.
const LIGHT = { portico: '#93b5f0', nginx: '#9fd19f', haproxy: '#ecc27e' };
const colorOf = (target) => COLORS[target] ?? LIGHT[target.replace(/-\d+[wt]$/, '')] ?? '#9a4fd0';
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Grouped bar chart, one group per scenario: each proxy's value relative to nginx (nginx = 1), with
 * the absolute value written above the bar. Left panel: throughput; right panel: CPU per request.
 */
export function renderSvg(result) {
  const scenarios = result.scenarios;
  const targets = [...new Set(scenarios.flatMap((s) => s.rows.map((r) => r.target)))].filter((t) => t !== 'direct');
  const panelW = 560;
  const panelH = 300;
  const top = 90;
  const left = 50;
  const gap = 60;
  const width = left + 2 * panelW + gap + 20;
  const height = top + panelH + 64;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">Portico beside nginx and HAProxy (nginx with the same number of workers = 1; labels are absolute values)</text>`);
  parts.push(
    `<text x="${left}" y="40" fill="#555">${esc(`${result.date.slice(0, 16)}Z · Node ${result.versions.node} · nginx ${result.versions.nginx ?? '–'} · HAProxy ${result.versions.haproxy ?? '–'} · ${result.method.pinned ? 'proxy pinned to its own CPU' : 'unpinned'} · medians of ${result.method.rounds} rounds × ${result.method.durationS} s`)}</text>`,
  );
  let lx = left;
  for (const t of targets) {
    parts.push(`<rect x="${lx}" y="52" width="10" height="10" fill="${colorOf(t)}"/><text x="${lx + 14}" y="61">${esc(t)}</text>`);
    lx += 14 + t.length * 7 + 18;
  }

  const panel = (x0, title, key, absKey, absUnit, targetLine) => {
    const values = scenarios.flatMap((s) => s.rows.filter((r) => targets.includes(r.target)).map((r) => r[key] ?? 0));
    const max = Math.max(1.2, ...values) * 1.15;
    const y = (v) => top + panelH - (v / max) * panelH;
    parts.push(`<text x="${x0}" y="${top - 6}" font-weight="bold">${esc(title)}</text>`);
    // Axis and grid.
    for (let v = 0; v <= max; v += max > 4 ? 1 : 0.5) {
      parts.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${y(v)}" y2="${y(v)}" stroke="#e4e4e4"/>`);
      parts.push(`<text x="${x0 - 6}" y="${y(v) + 4}" text-anchor="end" fill="#666">${v.toFixed(1)}</text>`);
    }
    parts.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${y(1)}" y2="${y(1)}" stroke="#3a9a3a" stroke-dasharray="4 3"/>`);
    if (targetLine !== undefined) {
      parts.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${y(targetLine)}" y2="${y(targetLine)}" stroke="#c33" stroke-dasharray="2 3"/>`);

    }
    const groupW = panelW / scenarios.length;
    const barW = Math.min(26, (groupW - 12) / targets.length);
    scenarios.forEach((s, i) => {
      const gx = x0 + i * groupW + (groupW - barW * targets.length) / 2;
      targets.forEach((t, k) => {
        const r = s.rows.find((row) => row.target === t);
        if (!r || r[key] === null || r[key] === undefined) return;
        const bx = gx + k * barW;
        parts.push(`<rect x="${bx.toFixed(1)}" y="${y(r[key]).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + panelH - y(r[key])).toFixed(1)}" fill="${colorOf(t)}"><title>${esc(`${s.title} · ${t}: ${r[key]}× nginx (${fmt(r[absKey], absKey === 'rps' ? 0 : 1)} ${absUnit})`)}</title></rect>`);
        const mark = r.generatorBound ? '*' : '';
        const label0 = absKey === 'rps' ? (r[absKey] >= 10_000 ? `${(r[absKey] / 1000).toFixed(0)}k` : r[absKey] >= 1000 ? `${(r[absKey] / 1000).toFixed(1)}k` : fmt(r[absKey])) : fmt(r[absKey], r[absKey] >= 100 ? 0 : 1);
        const label = `${label0}${mark}`;
        parts.push(`<text x="${(bx + (barW - 2) / 2).toFixed(1)}" y="${(y(r[key]) - 3).toFixed(1)}" text-anchor="middle" font-size="8.5" fill="#333">${esc(label)}</text>`);
      });
      // Scenario label: two lines, split at the first space.
      const space = s.short.indexOf(' ');
      const words = space < 0 ? [s.short] : [s.short.slice(0, space), s.short.slice(space + 1)];
      words.forEach((w, line) => parts.push(`<text x="${(x0 + i * groupW + groupW / 2).toFixed(1)}" y="${top + panelH + 16 + line * 12}" text-anchor="middle">${esc(w)}</text>`));
    });
    parts.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${top + panelH}" y2="${top + panelH}" stroke="#333"/>`);
  };
  panel(left, 'Proxy CPU per request ÷ nginx (headline; lower is better; labels: µs; red dots: the 2.0× target)', 'cpuToNginx', 'proxyUsPerReq', 'µs', 2.0);
  panel(left + panelW + gap, 'Throughput ÷ nginx (higher is better)', 'rpsToNginx', 'rps', '/s');
  parts.push(`<text x="${left}" y="${height - 12}" fill="#555">${esc(`Errors (Portico, all scenarios): ${result.scenarios.reduce((n, s) => n + s.rows.filter((r) => r.target === 'portico').reduce((a, r) => a + r.errors + r.non2xx, 0), 0)}. * = generator-bound (not measured at saturation). See compare.md for latencies, RSS and ratios to the backend served directly.`)}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
