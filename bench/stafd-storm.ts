/**
 * stafd under hostile discovery controllers (issue 11): the real stafd (private dbus-daemon, metrics on
 * 127.0.0.1) against the test double on loopback.
 *   1. AEN storms from one DC with a 10-entry log: a steady log, a log whose content changes every 100 notices,
 *      and a log whose GENCTR moves with every notice. Per 1,000 AENs: log reads (started at the double, and
 *      completed: stas_log_page_reads), log_pages_changed signals, last-known-config writes (stas_lkc_writes) and
 *      stafd's CPU time (/proc/PID/stat utime+stime).
 *   2. One DC with a 10,000-entry and with a 65,536-entry log: time from start to the log cached (start-up included), RSS and peak RSS
 *      (/proc/PID/status), last-known-config size, and the cost of 1,000 AENs on that log.
 * Figures only, no assertions. Usage: node dist/bench/stafd-storm.js [AENs per storm] [AENs per second]
 */
import { statSync } from 'node:fs';
import { DiscoveryTarget, ioEntry } from '../test/support/discovery-target.js';
import {
  lkcEntryCount,
  type StafdProcess,
  sample,
  startStafd,
  until,
} from '../test/support/stafd-process.js';

const COUNT = Number(process.argv[2] ?? 5000);
const RATE = Number(process.argv[3] ?? 700);
const NQN = 'nqn.2024-01.io.stas-bench:storm';
const now = () => performance.now();

interface StormFigures {
  label: string;
  sent: number;
  received: number;
  /** Duration of the storm (until the last AEN went out). */
  seconds: number;
  readStarts: number;
  reads: number;
  signals: number;
  lkcWrites: number;
  cpuMs: number;
}

/** Runs a storm of `count` AENs on the DC `h` serves to stafd `s`, `change` called at every notice sent. */
async function storm(
  s: StafdProcess,
  h: DiscoveryTarget,
  label: string,
  count: number,
  o: { churn?: boolean; changeEvery?: number; change?: () => void } = {},
): Promise<StormFigures> {
  await until('an armed AER', () => h.aersArmed() > 0, 120_000);
  let signals = 0;
  const sub = await s.staf.onLogPagesChanged((tid) => {
    if (tid[3] === NQN) signals++;
  });
  const m0 = await s.metrics();
  const st = h.stats(NQN);
  const starts0 = st.readStarts;
  const cpu0 = s.figures().cpuMs;
  const t0 = now();
  const run = h.aenStorm({ perSecond: RATE, count, churnGenctr: o.churn ?? false });
  let changed = 0;
  const changer = o.changeEvery
    ? setInterval(() => {
        while (Math.floor(run.sent / o.changeEvery!) > changed) {
          changed++;
          o.change!();
        }
      }, 5)
    : undefined;
  const cap = setTimeout(() => run.stop(), Math.max(60_000, (count / RATE) * 4000));
  const sent = await run.done;
  const seconds = (now() - t0) / 1000;
  clearTimeout(cap);
  if (changer) clearInterval(changer);
  // What the last notices started: let the pending read (≥ 250 ms later) and the lkc write (≤ 1/s) happen.
  let last = '';
  await until(
    'stafd settled',
    async () => {
      const m = await s.metrics();
      const key = `${sample(m, 'stas_log_page_reads_total')} ${sample(m, 'stas_lkc_writes_total')} ${st.readStarts}`;
      const same = key === last;
      last = key;
      if (!same) await new Promise((r) => setTimeout(r, 1500));
      return same;
    },
    120_000,
  );
  const m1 = await s.metrics();
  await sub.close();
  const d = (k: string) => (sample(m1, k) ?? 0) - (sample(m0, k) ?? 0);
  return {
    label,
    sent,
    received: d('stas_aen_total'),
    seconds,
    readStarts: st.readStarts - starts0,
    reads: d('stas_log_page_reads_total'),
    signals,
    lkcWrites: d('stas_lkc_writes_total'),
    cpuMs: s.figures().cpuMs - cpu0,
  };
}

async function withStafd<T>(
  entries: () => ReturnType<typeof ioEntry>[],
  body: (s: StafdProcess, h: DiscoveryTarget, set: (e: ReturnType<typeof ioEntry>[]) => void) => Promise<T>,
  conf = '',
): Promise<T> {
  let log = entries();
  const h = new DiscoveryTarget({ logFor: (n) => (n === NQN ? log : undefined) });
  await h.start();
  const s = await startStafd({
    conf: `[Global]\nkato = 0\n${conf}[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=${h.port};nqn=${NQN}\n`,
    clientTimeoutMs: 60_000,
    startMs: 60_000,
  });
  try {
    return await body(s, h, (e) => {
      log = e;
    });
  } finally {
    const r = await s.stop(60_000);
    if (r.killed || r.code !== 0) console.error(`stafd stop: ${JSON.stringify(r)}`);
    await s.cleanup();
    await h.stop();
  }
}

const waitRead = async (s: StafdProcess, n: number) =>
  until('the log read', async () => sample(await s.metrics(), 'stas_dlpe') === n, 600_000);

// 1. Storms on a small log.
const storms: StormFigures[] = [];
const small = () => Array.from({ length: 10 }, (_, i) => ioEntry(i));
for (const kind of ['steady', 'change', 'churn'] as const) {
  storms.push(
    await withStafd(small, async (s, h, set) => {
      await waitRead(s, 10);
      if (kind === 'steady') return storm(s, h, 'steady log', COUNT);
      if (kind === 'churn') return storm(s, h, 'GENCTR moves at every AEN', COUNT, { churn: true });
      let k = 0;
      return storm(s, h, 'content changes every 100 AENs', COUNT, {
        changeEvery: 100,
        change: () => {
          k++;
          set([...small(), ioEntry(1000 + k)]);
          h.notify();
        },
      });
    }),
  );
}

// 2. Large logs.
interface SizeFigures {
  n: number;
  firstReadMs: number;
  rssMiB: number;
  hwmMiB: number;
  lkcKiB: number;
  storm: StormFigures;
}
const sizes: SizeFigures[] = [];
for (const n of [10_000, 65_536]) {
  const t0 = now();
  sizes.push(
    await withStafd(
      () => Array.from({ length: n }, (_, i) => ioEntry(i)),
      async (s, h) => {
        await waitRead(s, n);
        const firstReadMs = now() - t0;
        await until('the last-known config with the log', () => lkcEntryCount(s.lkcPath) === n, 600_000);
        const lkcKiB = statSync(s.lkcPath).size / 1024;
        const f = s.figures();
        const st = await storm(s, h, `${n} entries, steady`, 1000);
        return { n, firstReadMs, rssMiB: f.rssMiB, hwmMiB: s.figures().hwmMiB, lkcKiB, storm: st };
      },
    ),
  );
}

const per1k = (x: number, f: StormFigures) => ((x * 1000) / Math.max(1, f.sent)).toFixed(1);
const pad = (cells: (string | number)[], widths: number[]) =>
  cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ');
console.log(`stafd under an AEN storm: ${COUNT} AENs at up to ${RATE}/s from one DC (10-entry log)`);
console.log('  (AENs go out as fast as stafd re-arms its AER, at most the rate; figures per 1,000 AENs)');
const w = [32, 6, 7, 8, 11, 10, 8, 11, 8];
console.log(
  `  ${pad(['log', 'sent', 'stafd', 'AENs/s', 'read starts', 'reads ok', 'signals', 'lkc writes', 'CPU ms'], w)}`,
);
for (const f of storms)
  console.log(
    `  ${pad(
      [
        f.label,
        f.sent,
        f.received,
        (f.sent / f.seconds).toFixed(0),
        per1k(f.readStarts, f),
        per1k(f.reads, f),
        per1k(f.signals, f),
        per1k(f.lkcWrites, f),
        per1k(f.cpuMs, f),
      ],
      w,
    )}`,
  );
console.log('');
console.log('stafd with one large log (one DC), and 1,000 AENs on it (steady log)');
const w2 = [8, 14, 8, 13, 13, 11, 10, 11, 8];
console.log(
  `  ${pad(['entries', 'cached after ms', 'RSS MiB', 'peak RSS MiB', 'lkc size KiB', 'read starts', 'reads ok', 'lkc writes', 'CPU ms'], w2)}`,
);
for (const f of sizes)
  console.log(
    `  ${pad(
      [
        f.n,
        f.firstReadMs.toFixed(0),
        f.rssMiB.toFixed(0),
        f.hwmMiB.toFixed(0),
        f.lkcKiB.toFixed(0),
        per1k(f.storm.readStarts, f.storm),
        per1k(f.storm.reads, f.storm),
        per1k(f.storm.lkcWrites, f.storm),
        per1k(f.storm.cpuMs, f.storm),
      ],
      w2,
    )}`,
  );
