import type { PhaseRecord } from './run';
import { round } from './proc.stats';

const P99_TARGET_MS = 50;
const INGEST_TARGET_PER_S = 2_000;
const OVERHEAD_TARGET = 3;

/** CPU milliseconds per OK request of one process group in a phase. */
function cpuMsPerRequest(record: PhaseRecord, group: string): number {
  return round((record.window.cpu[group]?.seconds ?? 0) * 1000 / Math.max(1, record.load.ok), 3);
}

/** The gateway's whole stack: its process, the Postgres backends of its database and NATS. */
function stackMsPerRequest(record: PhaseRecord): number {
  return round(cpuMsPerRequest(record, 'gateway') + cpuMsPerRequest(record, 'postgres') + cpuMsPerRequest(record, 'nats'), 3);
}

export interface Comparison {
  readonly phase: string;
  readonly gatewayCpuMsPerRequest: number;
  readonly gatewayStackCpuMsPerRequest: number;
  readonly bareCpuMsPerRequest: number;
  /** Gateway process CPU per request ÷ bare server CPU per request: the overhead figure judged. */
  readonly cpuRatio: number;
  /** The same with the gateway's Postgres backends and NATS added to its side. */
  readonly stackCpuRatio: number;
  readonly p50Ratio: number;
  readonly p99Ratio: number;
  readonly gatewayOkPerSecond: number;
  readonly bareOkPerSecond: number;
}

function phaseName(p: PhaseRecord): string {
  if (p.phase === 'poll') return `polls (${p.agents} agents / 30 s)`;
  if (p.phase === 'run') return `runs C=${p.concurrency} (scan start + upload, per run)`;
  if (p.phase === 'upload-rate') return `uploads at ${p.rate}/s (open loop)`;
  return `uploads C=${p.concurrency}`;
}

export function comparisons(phases: readonly PhaseRecord[]): Comparison[] {
  const out: Comparison[] = [];
  for (const gateway of phases.filter((p) => p.target === 'gateway' && p.phase !== 'held')) {
    const bare = phases.find((p) => p.target === 'bare' && p.phase === gateway.phase && p.concurrency === gateway.concurrency && p.rate === gateway.rate);
    if (!bare) continue;
    const g = cpuMsPerRequest(gateway, 'gateway');
    const b = cpuMsPerRequest(bare, 'bare');
    out.push({
      phase: phaseName(gateway),
      gatewayCpuMsPerRequest: g,
      gatewayStackCpuMsPerRequest: stackMsPerRequest(gateway),
      bareCpuMsPerRequest: b,
      cpuRatio: round(g / Math.max(1e-9, b), 2),
      stackCpuRatio: round(stackMsPerRequest(gateway) / Math.max(1e-9, b), 2),
      p50Ratio: round(gateway.load.latencyMs.p50 / Math.max(1e-9, bare.load.latencyMs.p50), 2),
      p99Ratio: round(gateway.load.latencyMs.p99 / Math.max(1e-9, bare.load.latencyMs.p99), 2),
      gatewayOkPerSecond: gateway.load.okPerSecond,
      bareOkPerSecond: bare.load.okPerSecond,
    });
  }
  return out;
}

export function verdicts(phases: readonly PhaseRecord[]): Record<string, { met: boolean; detail: string }> {
  const poll = phases.find((p) => p.phase === 'poll' && p.target === 'gateway');
  const uploads = phases.filter((p) => p.phase === 'upload' && p.target === 'gateway');
  const best = uploads.reduce<PhaseRecord | undefined>((a, p) => (!a || p.load.okPerSecond > a.load.okPerSecond ? p : a), undefined);
  const ratios = comparisons(phases);
  const out: Record<string, { met: boolean; detail: string }> = {};
  if (poll) {
    const offered = poll.load.requests / Math.max(1, poll.window.seconds);
    const failed = poll.load.requests - poll.load.ok;
    out['p99'] = {
      met: poll.load.latencyMs.p99 < P99_TARGET_MS && failed === 0,
      detail: `poll p99 ${poll.load.latencyMs.p99} ms at ${poll.agents} agents (~${round(offered, 0)} polls/s offered, ${failed} failed); target < ${P99_TARGET_MS} ms`,
    };
  }
  if (best) {
    const failed = best.load.requests - best.load.ok;
    out['ingest'] = {
      met: best.load.okPerSecond >= INGEST_TARGET_PER_S,
      detail: `best ${best.load.okPerSecond} uploads/s accepted (202) at C=${best.concurrency}, ${failed} failed; target ≥ ${INGEST_TARGET_PER_S}/s`,
    };
  }
  if (ratios.length) {
    const worst = ratios.reduce((a, r) => (r.cpuRatio > a.cpuRatio ? r : a));
    out['overhead'] = {
      met: ratios.every((r) => r.cpuRatio <= OVERHEAD_TARGET),
      detail: `gateway process CPU per request ÷ bare server's: ${ratios.map((r) => `${r.phase} ${r.cpuRatio}×`).join(', ')} (worst ${worst.cpuRatio}×); with its Postgres backends and NATS: ${ratios.map((r) => `${r.stackCpuRatio}×`).join(', ')}; target ≤ ${OVERHEAD_TARGET}×`,
    };
  }
  return out;
}

export function printReport(results: { phases: PhaseRecord[]; verdicts: Record<string, { met: boolean; detail: string }>; stored: Record<string, number>; loadAverage: { before: number[]; after: number[] } }): void {
  const rows = results.phases.map((p) => {
    const l = p.load;
    const what =
      p.phase === 'poll' ? `poll ${p.agents}/30s` : p.phase === 'upload' ? `upload C=${p.concurrency}` : p.phase === 'upload-rate' ? `upload ${p.rate}/s` : p.phase === 'run' ? `run C=${p.concurrency}` : `held N=${p.agents}`;
    const rate = p.phase === 'held' ? `${p.load.steady?.answeredPerSecond ?? 0}` : `${l.okPerSecond}`;
    const cpu = p.window.cpu;
    const mem = p.window.memory[p.target];
    return [
      what,
      p.target,
      rate,
      `${l.latencyMs.p50}`,
      `${l.latencyMs.p90}`,
      `${l.latencyMs.p99}`,
      `${l.latencyMs.max}`,
      `${l.requests - l.ok}`,
      `${cpu[p.target].percentOfCore}`,
      `${cpuMsPerRequest(p, p.target)}`,
      `${cpu['postgres'].percentOfCore}`,
      `${cpu['nats'].percentOfCore}`,
      `${cpu['loadgen'].percentOfCore}`,
      `${p.window.machineBusyPercent}`,
      mem ? (p.rssBeforeMiB === undefined ? `${mem.peakRssMiB}` : `${p.rssBeforeMiB}→${mem.peakRssMiB}`) : '-',
    ];
  });
  const header = ['phase', 'target', 'ok/s', 'p50 ms', 'p90', 'p99', 'max', 'failed', 'srv CPU %', 'srv ms/req', 'pg %', 'nats %', 'loadgen %', 'machine %', 'RSS MiB'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log('');
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  console.log('held rows: ok/s is answers per second in the steady window; latencies are the time beyond the 30 s wait; RSS is before the ramp → peak in the steady window.');
  console.log('run rows: one run is two requests (the scan-start report, then the upload of its result); ok/s, latency and CPU are per run.');
  console.log('');
  for (const c of comparisons(results.phases)) {
    console.log(`${c.phase}: CPU/request gateway ${c.gatewayCpuMsPerRequest} ms (stack ${c.gatewayStackCpuMsPerRequest} ms) vs bare ${c.bareCpuMsPerRequest} ms → ${c.cpuRatio}× (stack ${c.stackCpuRatio}×); latency p50 ${c.p50Ratio}×, p99 ${c.p99Ratio}×`);
  }
  console.log('');
  for (const [name, v] of Object.entries(results.verdicts)) console.log(`${name}: ${v.met ? 'MET' : 'NOT MET'}: ${v.detail}`);
  console.log(`stored: ${JSON.stringify(results.stored)}; load average ${results.loadAverage.before.join(' ')} → ${results.loadAverage.after.join(' ')}`);
}
