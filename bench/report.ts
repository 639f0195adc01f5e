/**
 * The issue 14 report, in ONE lab boot (bench/report.sh boots it): runs each bench of this tree as a child process,
 * one after the other, each printing its own detail, then prints one summary table of stas against nvme-cli (its
 * udev rule path, bare /dev/nvme-fabrics writes, `nvme connect-all`), measured in the same boot:
 *   1. aen      bench/aen-latency.js: AEN → new I/O controller live and removal → gone (p50/p95), stas and the udev
 *               rule path; idle RSS of both daemons with N subsystems connected;
 *   2. startup  bench/startup.js: start → bus name of each daemon (the bundle; warm and cold page cache);
 *   3. memory   bench/memory.js (idle RSS of each daemon alone; stafd RSS with a 10,000 and a 65,536-entry log) —
 *               when this tree has it; otherwise bench/stafd-storm.js (its large-log table: the same RSS figures);
 *   4. scale    bench/stacd-scale.js: connect of N by stacd (warm and cold pass) vs N bare writes and
 *               `nvme connect-all`, for each N.
 * Each part appends its figures as JSON to a file ($STAS_BENCH_JSON, lab-bench.ts emit()); the text output of
 * memory.js / stafd-storm.js is parsed when no JSON record came. Figures only: nothing is asserted, no target
 * decides an exit status (a part that fails is reported and the others still run; exit status 1 then).
 *
 * Usage (inside the lab, as root): node dist/bench/report.js [--quick] [--sizes 16,64,256,1024] [--changes 20]
 *   [--n 16] [--dc-hosts kernel] [--rounds 1] [--startup-rounds 5] [--storm-aens 200] [--parts aen,startup,memory,scale]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DIST, requireLab } from './lab-bench.js';

requireLab('report');
const { values: o } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    changes: { type: 'string' },
    n: { type: 'string' },
    'dc-hosts': { type: 'string' },
    rounds: { type: 'string' },
    'startup-rounds': { type: 'string' },
    'storm-aens': { type: 'string' },
    parts: { type: 'string', default: 'aen,startup,memory,scale' },
  },
});
const quick = o.quick!;
const SIZES = o.sizes ?? (quick ? '16,64' : '16,64,256,1024');
const CHANGES = Number(o.changes ?? (quick ? 5 : 20));
const AEN_N = Number(o.n ?? 16);
const DC_HOSTS = o['dc-hosts'] ?? 'kernel';
const ROUNDS = Number(o.rounds ?? 1);
const STARTUP_ROUNDS = Number(o['startup-rounds'] ?? (quick ? 2 : 5));
const STORM_AENS = Number(o['storm-aens'] ?? (quick ? 50 : 200));
const PARTS = new Set(o.parts!.split(','));
const JSON_FILE = join(mkdtempSync(join(tmpdir(), 'stas-report-')), 'figures.jsonl');
const bench = (name: string) => join(DIST, 'bench', `${name}.js`);

interface PartRun {
  part: string;
  status: number | null;
  seconds: number;
  stdout: string;
}
const runs: PartRun[] = [];

/** Runs `node <dist>/bench/<script>.js args`, its output relayed as it comes (and kept). */
function runPart(part: string, script: string, args: string[]): Promise<PartRun> {
  console.log(`\n===== ${part}: node ${bench(script)} ${args.join(' ')} (${new Date().toISOString()})`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bench(script), ...args], {
      env: { ...process.env, STAS_BENCH_JSON: JSON_FILE },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    p.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      process.stdout.write(d);
    });
    p.once('exit', (code, signal) => {
      const r = { part, status: code ?? (signal ? 128 : null), seconds: (Date.now() - t0) / 1000, stdout };
      console.log(`===== ${part}: exit status ${r.status}, ${r.seconds.toFixed(0)} s`);
      runs.push(r);
      resolve(r);
    });
  });
}

if (PARTS.has('aen')) await runPart('aen', 'aen-latency', [String(AEN_N), String(CHANGES), DC_HOSTS]);
if (PARTS.has('startup')) await runPart('startup', 'startup', [String(STARTUP_ROUNDS)]);
let memoryText = '';
let memorySource = '';
if (PARTS.has('memory')) {
  if (existsSync(bench('memory'))) {
    memorySource = 'bench/memory.js';
    memoryText = (await runPart('memory', 'memory', [])).stdout;
  } else {
    // Hook: bench/memory.js (idle RSS, RSS at 10,000 / 65,536 entries) is used as soon as this tree has it.
    memorySource = 'bench/stafd-storm.js';
    memoryText = (await runPart('memory', 'stafd-storm', [String(STORM_AENS), '700'])).stdout;
  }
}
if (PARTS.has('scale')) await runPart('scale', 'stacd-scale', [SIZES, '0', String(ROUNDS)]);

// ---- the figures ----
interface AenPath {
  name: string;
  kind: 'stas' | 'udev';
  addP50: number;
  addP95: number;
  removeP50: number;
  removeP95: number;
  missed: number;
  idleRss?: { stafd: number; stacd: number };
}
interface AenData {
  n: number;
  changes: number;
  paths: AenPath[];
}
interface StartupData {
  rounds: number;
  canDrop: boolean;
  rows: { what: string; warm: number | null; cold: number | null }[];
}
interface ScaleSize {
  n: number;
  bare: number;
  cli: number;
  warm: number;
  coldPass: number;
  peakRssMiB: number;
  /** Median over the rounds of each round's pass / bare writes. */
  warmRatio?: number;
  coldRatio?: number;
}
interface ScaleData {
  rounds: number;
  sizes: ScaleSize[];
}
interface MemoryData {
  idle?: Record<string, number>;
  /** Idle RSS some 30 s after start (memory.js's second idle sample), and when it was taken (s). */
  idleLate?: Record<string, number>;
  idleLateS?: number;
  entries: Record<number, { rss: number; peak: number }>;
}
const records: { part: string; data: unknown }[] = existsSync(JSON_FILE)
  ? readFileSync(JSON_FILE, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
const rec = (part: string) => records.find((r) => r.part === part)?.data;
const aen = rec('aen') as AenData | undefined;
const startup = rec('startup') as StartupData | undefined;
const scale = rec('scale') as ScaleData | undefined;

/** RSS and peak RSS (MiB) from memory.js's or stafd-storm.js's text output. */
function memoryFigures(): MemoryData {
  const fromJson = rec('memory');
  if (fromJson) return fromJson as MemoryData;
  const out: MemoryData = { entries: {} };
  if (memorySource === 'bench/memory.js') {
    // "  stafd idle   RSS PSS anon file peak" / "  stafd, 10000 entries   RSS PSS anon file peak  (...)"
    for (const m of memoryText.matchAll(
      /^\s+(stafd idle|stacd idle|stafd, (\d+) entries)\s+([\d.]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+([\d.]+)/gm,
    )) {
      if (m[2]) out.entries[Number(m[2])] = { rss: Number(m[3]), peak: Number(m[7]) };
      else {
        out.idle ??= {};
        out.idle[m[1]!.split(' ')[0]!] = Number(m[3]);
      }
    }
    // "  stafd idle, 30 s   RSS ...": the same daemon later on.
    for (const m of memoryText.matchAll(/^\s+(stafd|stacd) idle, (\d+) s\s+([\d.]+)/gm)) {
      out.idleLate ??= {};
      out.idleLate[m[1]!] = Number(m[3]);
      out.idleLateS = Number(m[2]);
    }
  } else {
    // stafd-storm.js: "  entries  cached after ms  RSS MiB  peak RSS MiB ..." rows after "stafd with one large log".
    const tail = memoryText.split('stafd with one large log')[1] ?? '';
    for (const m of tail.matchAll(/^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s/gm))
      out.entries[Number(m[1])] = { rss: Number(m[3]), peak: Number(m[4]) };
  }
  return out;
}
const mem = memoryFigures();

const ms = (x: number | null | undefined) =>
  x === null || x === undefined || Number.isNaN(x)
    ? '–'
    : x >= 10_000
      ? `${(x / 1000).toFixed(1)} s`
      : `${x.toFixed(0)} ms`;
const mib = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : `${x.toFixed(0)} MiB`);
const ratio = (x: number, base: number) => `${(x / base).toFixed(2)} ×`;
const times = (r: number) => `${r.toFixed(2)} ×`;

const rows: string[][] = [];
if (aen) {
  const udev = aen.paths.find((p) => p.kind === 'udev');
  for (const p of aen.paths.filter((p) => p.kind === 'stas')) {
    const label = aen.paths.filter((q) => q.kind === 'stas').length > 1 ? ` — ${p.name}` : '';
    rows.push([
      `AEN → new I/O controller live, p50 / p95 (N=${aen.n} connected, ${aen.changes} changes)${label}`,
      `${ms(p.addP50)} / ${ms(p.addP95)}${p.missed ? ` (${p.missed} missed)` : ''}`,
      udev ? `${ms(udev.addP50)} / ${ms(udev.addP95)}${udev.missed ? ` (${udev.missed} missed)` : ''}` : '–',
    ]);
    rows.push([
      `removal → controller gone, p50 / p95${label}`,
      `${ms(p.removeP50)} / ${ms(p.removeP95)}`,
      udev ? 'never (the rule does not disconnect)' : '–',
    ]);
  }
}
if (startup) {
  const at = (what: string) => startup.rows.find((r) => r.what === what);
  for (const prog of ['stafd', 'stacd']) {
    const r = at(`${prog} start → bus name (bundle)`);
    if (r)
      rows.push([
        `${prog} start → bus name (bundle; median of ${startup.rounds}, warm / cold page cache)`,
        `${ms(r.warm)} / ${startup.canDrop ? ms(r.cold) : 'n/a'}`,
        '– (no daemon)',
      ]);
  }
  const floor = at('node -e 0');
  if (floor) rows.push(['`node -e 0` (the floor), warm / cold', `${ms(floor.warm)} / ${ms(floor.cold)}`, '']);
}
const settledRss = aen?.paths.find((p) => p.idleRss)?.idleRss;
if (mem.idle)
  rows.push([
    'RSS idle, stafd / stacd (each alone, no controller)',
    `${mib(mem.idle.stafd)} / ${mib(mem.idle.stacd)}`,
    '– (no daemon)',
  ]);
if (mem.idleLate)
  rows.push([
    `RSS idle ${mem.idleLateS} s after start, stafd / stacd`,
    `${mib(mem.idleLate.stafd)} / ${mib(mem.idleLate.stacd)}`,
    '– (no daemon)',
  ]);
if (settledRss)
  rows.push([
    `RSS, stafd / stacd settled with N=${aen!.n} connected`,
    `${mib(settledRss.stafd)} / ${mib(settledRss.stacd)}`,
    '– (no daemon)',
  ]);
for (const n of [10_000, 65_536]) {
  const e = mem.entries[n];
  if (e)
    rows.push([
      `stafd RSS (peak) with a ${n.toLocaleString('en')}-entry log`,
      `${mib(e.rss)} (${mib(e.peak)})`,
      '–',
    ]);
}
if (scale) {
  for (const s of scale.sizes) {
    rows.push([
      `connect N=${s.n}: stacd warm pass / cold pass (× bare writes${scale.rounds > 1 ? ` of the same round); medians of ${scale.rounds} rounds` : ')'}`,
      `${ms(s.warm)} (${times(s.warmRatio ?? s.warm / s.bare)}) / ${ms(s.coldPass)} (${times(s.coldRatio ?? s.coldPass / s.bare)})`,
      `bare writes ${ms(s.bare)}; \`nvme connect-all\` ${ms(s.cli)} (${ratio(s.cli, s.bare)})`,
    ]);
  }
  const peaks = scale.sizes.map((s) => `${s.peakRssMiB.toFixed(0)}`).join(' / ');
  rows.push([
    `stacd peak RSS, N=${scale.sizes.map((s) => s.n).join(' / ')}`,
    `${peaks} MiB`,
    '– (no daemon)',
  ]);
}

const commit = process.env['STAS_BENCH_COMMIT'] ?? '?';
console.log(
  `\n===== stas vs nvme-cli, one lab boot (commit ${commit}; node ${process.version}; ` +
    `${cpus().length} vCPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; memory: ${memorySource || 'not run'})\n`,
);
console.log('| measure | stas | nvme-cli (udev rule path; bare writes) |');
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log('');
for (const r of runs) console.log(`part ${r.part}: exit status ${r.status}, ${r.seconds.toFixed(0)} s`);
process.exit(runs.some((r) => r.status !== 0) ? 1 : 0);
