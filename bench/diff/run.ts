/**
 * Diff benchmark: ndiff against Portolan's streaming read + diff (bench/diff/portolan-diff.ts)
 * on the same two nmap XML files (see generate.ts). Every variant runs as a child process under
 * GNU time, so wall time and peak RSS (%M) are measured the same way; the variants are
 * interleaved run by run, so a change in machine load hits them alike, and medians are shown.
 * Portolan runs compiled to plain JS on bare node, as a built app runs (bench-compile.ts).
 *
 *   node -r @swc-node/register bench/diff/run.ts [runs=5] [--with-register]
 *
 * Also timed, for reference and outside the verdict: node's bare start-up and loading Portolan's
 * two libraries.
 * --with-register also times Portolan through @swc-node/register (compiling TypeScript on the
 * fly). Needs ndiff and GNU time: apt-get install -y ndiff time.
 * Writes the figures to bench/out/results.json as well.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compileForBench } from './bench-compile';
import { machineFacts, measure, median, ndiffChanges, TIME, which } from './measure';
import type { Measurement } from './measure';

const ROOT = resolve(__dirname, '..', '..');
const OUT = join(ROOT, 'bench', 'out');
const A = join(OUT, 'scan-a.xml');
const B = join(OUT, 'scan-b.xml');
/** The targets: Portolan at least this many times faster than ndiff... */
const SPEED_TARGET = 5;
/** ...with less than this fraction of ndiff's peak RSS. */
const MEMORY_TARGET = 0.5;

interface Variant {
  label: string;
  command: string;
  args: string[];
  runs: Measurement[];
}

interface Summary {
  label: string;
  wallS: number;
  peakRssMb: number;
  each: string;
}

function summarize(variant: Variant): Summary {
  return {
    label: variant.label,
    wallS: median(variant.runs.map((m) => m.wallS)),
    peakRssMb: median(variant.runs.map((m) => m.peakRssMb)),
    each: variant.runs.map((m) => m.wallS.toFixed(2)).join(' '),
  };
}

/** Checks one run's output: ndiff must report differences, Portolan the same changes as ndiff. */
function check(variant: Variant, m: Measurement, ndiffReport: string[]): Record<string, number> | null {
  if (variant.label === 'ndiff') {
    if (m.status !== 1) throw new Error(`ndiff exited ${m.status} (1 = files differ was expected)`);
    return null;
  }
  if (m.status !== 0) throw new Error(`${variant.label} exited ${m.status}`);
  if (!m.stdout.startsWith('{')) return null; // a start-up probe
  const report = JSON.parse(m.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number> & { changes: string[] };
  const mine = [...report.changes].sort();
  if (JSON.stringify(mine) !== JSON.stringify(ndiffReport)) {
    const missing = ndiffReport.filter((c) => !mine.includes(c)).slice(0, 5);
    const extra = mine.filter((c) => !ndiffReport.includes(c)).slice(0, 5);
    throw new Error(`${variant.label} disagrees with ndiff: missing ${missing.join('; ')}; extra ${extra.join('; ')}`);
  }
  return report;
}

function main(): void {
  const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 5);
  const withRegister = process.argv.includes('--with-register');
  const ndiff = which('ndiff');
  if (!ndiff || !existsSync(TIME)) {
    console.error('needs ndiff and GNU time: apt-get install -y ndiff time');
    process.exit(2);
  }
  if (!existsSync(A) || !existsSync(B)) {
    const generated = spawnSync(process.execPath, ['-r', '@swc-node/register', 'bench/diff/generate.ts'], { cwd: ROOT, stdio: 'inherit' });
    if (generated.status !== 0) process.exit(1);
  }
  const expected = JSON.parse(readFileSync(join(OUT, 'expected.json'), 'utf8')) as Record<string, number>;
  const compiledEntry = compileForBench(ROOT);
  const compiledLibs = join(OUT, 'js', 'libs');
  const node = process.execPath;
  const variants: Variant[] = [
    { label: 'ndiff', command: ndiff, args: [A, B], runs: [] },
    { label: 'portolan (compiled JS)', command: node, args: [compiledEntry, A, B], runs: [] },
    { label: 'start-up: bare node', command: node, args: ['-e', '0'], runs: [] },
    {
      label: 'start-up: node + Portolan imports',
      command: node,
      args: ['-e', `require(${JSON.stringify(join(compiledLibs, 'nmap/src/index.js'))}); require(${JSON.stringify(join(compiledLibs, 'diff/src/index.js'))})`],
      runs: [],
    },
  ];
  if (withRegister) {
    variants.push({ label: 'portolan via @swc-node/register', command: node, args: ['-r', '@swc-node/register', 'bench/diff/portolan-diff.ts', A, B], runs: [] });
  }

  const ndiffReport = ndiffChanges(spawnSync(ndiff, [A, B], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout).sort();
  const counts = (kind: string): number => ndiffReport.filter((c) => c.startsWith(kind)).length;
  if (counts('+') !== expected['added'] || counts('-') !== expected['removed'] || counts('~') !== expected['modified']) {
    throw new Error(`ndiff's report (${counts('+')}+ ${counts('-')}- ${counts('~')}~) does not match expected.json`);
  }

  const before = machineFacts();
  const internal: Record<string, number>[] = [];
  for (let i = 0; i < runs; i += 1) {
    for (const variant of variants) {
      const m = measure(variant.command, variant.args, ROOT);
      const report = check(variant, m, ndiffReport);
      if (report !== null && variant.label === 'portolan (compiled JS)') {
        internal.push(Object.fromEntries(Object.entries(report).filter(([key]) => key !== 'changes')) as Record<string, number>);
      }
      variant.runs.push(m);
    }
  }
  const after = machineFacts();

  const [nd, po, ...others] = variants.map(summarize);
  const speedRatio = nd.wallS / po.wallS;
  const memoryFraction = po.peakRssMb / nd.peakRssMb;
  const row = (s: Summary): string =>
    `| ${s.label.padEnd(36)} | ${s.wallS.toFixed(2).padStart(6)} s | ${s.peakRssMb.toFixed(0).padStart(5)} MB | ${s.each} |`;
  const inner = (key: string): number => median(internal.map((r) => r[key]));
  const mb = (path: string): string => (statSync(path).size / 1024 / 1024).toFixed(1);

  console.log(`files: ${A} (${mb(A)} MB), ${B} (${mb(B)} MB); changes: ${JSON.stringify(expected)}`);
  console.log(`machine: ${before.cpus} CPUs (${before.cpuModel}), node ${before.node}, ${before.nmap}, ndiff ${before.ndiff}, ${before.python}`);
  console.log(`load average (1/5/15 min): before ${before.loadAverage.join(' ')}, after ${after.loadAverage.join(' ')}`);
  console.log(`median of ${runs} interleaved runs; both tools agree on all ${ndiffReport.length} changes\n`);
  console.log(`| ${'variant'.padEnd(36)} | wall     | peak RSS | runs (s) |`);
  console.log(`|${'-'.repeat(38)}|----------|----------|----------|`);
  [nd, po, ...others].forEach((s) => console.log(row(s)));
  console.log(`\ninside Portolan's run: read A ${inner('readAMs')} ms, read B + diff ${inner('readAndDiffBMs')} ms, total ${inner('totalMs')} ms`);
  const verdict = (met: boolean): string => (met ? 'MET' : 'NOT MET');
  console.log(`speed:  ndiff / portolan = ${speedRatio.toFixed(2)}x  (target >= ${SPEED_TARGET}x): ${verdict(speedRatio >= SPEED_TARGET)}`);
  console.log(`memory: portolan / ndiff = ${(memoryFraction * 100).toFixed(0)}%  (target < ${MEMORY_TARGET * 100}%): ${verdict(memoryFraction < MEMORY_TARGET)}`);

  writeFileSync(
    join(OUT, 'results.json'),
    `${JSON.stringify({ runs, expected, before, after, summaries: [nd, po, ...others], inner: internal, speedRatio, memoryFraction }, null, 2)}\n`,
  );
}

main();
