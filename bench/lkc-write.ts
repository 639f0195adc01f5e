/**
 * Prints the time, file size and longest event-loop stall of writing stafd's last-known configuration with
 * 10,000 and 65,536 cached log entries: the layout before (one JSON.stringify with every TSAS, one synchronous
 * write), saveLkc (synchronous, current layout) and LkcWriter (asynchronous, written in slices).
 * Usage: node dist/bench/lkc-write.js [rounds]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../src/adapters/atomic-file.js';
import { LkcWriter, type SavedDc, saveLkc } from '../src/adapters/lkc-file.js';
import type { DiscoveryLogEntry } from '../src/core/nvme/discovery-log.js';
import { WELL_KNOWN_DISC_NQN } from '../src/core/tid.js';
import { ioEntry } from '../test/support/discovery-target.js';

const rounds = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'stas-bench-lkc-'));

function dcsOf(n: number, tls: boolean): SavedDc[] {
  const tsas = new Uint8Array(256);
  if (tls) tsas[0] = 1;
  const logPages: DiscoveryLogEntry[] = Array.from({ length: n }, (_, i) =>
    ioEntry(i, { traddr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, tsas }),
  );
  return [
    {
      tid: {
        transport: 'tcp',
        traddr: '192.168.1.1',
        trsvcid: '8009',
        subsysnqn: WELL_KNOWN_DISC_NQN,
        hostTraddr: '',
        hostIface: '',
        hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
      },
      origin: 'configured',
      logPages,
    },
  ];
}

/** The layout and write before LkcWriter: every TSAS in base64, one JSON.stringify, one synchronous write. */
function saveBefore(path: string, dcs: readonly SavedDc[]): void {
  const body = {
    version: 1,
    dcs: dcs.map((d) => ({
      ...d,
      logPages: d.logPages.map((e) => ({ ...e, tsas: Buffer.from(e.tsas).toString('base64') })),
    })),
  };
  writeFileAtomic(path, `${JSON.stringify(body)}\n`, 0o600);
}

interface Row {
  entries: number;
  tsas: string;
  how: string;
  ms: number;
  mib: number;
  stallMs: number;
}

const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();

async function measure(
  run: () => Promise<void> | void,
  path: string,
): Promise<{ ms: number; stallMs: number }> {
  const times: number[] = [];
  let stall = 0;
  for (let r = 0; r < rounds; r++) {
    h.reset();
    // The first sample after a reset is dropped: let the monitor's timer run once before the write.
    await sleep(20);
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
    // Let the monitor's timer see the end of a blocking call.
    await sleep(20);
    stall = Math.max(stall, h.max / 1e6);
  }
  statSync(path);
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, stallMs: stall };
}

const rows: Row[] = [];
for (const n of [10_000, 65_536]) {
  for (const tls of [false, true]) {
    const dcs = dcsOf(n, tls);
    const tsas = tls ? 'non-zero' : 'all zero';
    const size = (p: string) => statSync(p).size / 1024 / 1024;

    const before = join(dir, `before-${n}-${tls}.json`);
    const b = await measure(() => saveBefore(before, dcs), before);
    rows.push({ entries: n, tsas, how: 'before (stringify + sync)', ...b, mib: size(before) });

    const sync = join(dir, `sync-${n}-${tls}.json`);
    const s = await measure(() => saveLkc(sync, dcs), sync);
    rows.push({ entries: n, tsas, how: 'saveLkc (sync)', ...s, mib: size(sync) });

    const async = join(dir, `async-${n}-${tls}.json`);
    const w = new LkcWriter(async, { minIntervalMs: 0 });
    const a = await measure(async () => {
      w.schedule(() => dcs);
      await w.flush();
    }, async);
    rows.push({ entries: n, tsas, how: 'LkcWriter (async)', ...a, mib: w.lastSize / 1024 / 1024 });
  }
}
h.disable();
rmSync(dir, { recursive: true, force: true });

console.log(`last-known config write, median of ${rounds} rounds, longest event-loop stall over all rounds`);
console.log(
  `${'entries'.padStart(7)}  ${'TSAS'.padEnd(8)}  ${'writer'.padEnd(26)}  ${'time ms'.padStart(8)}  ${'size MiB'.padStart(8)}  ${'max stall ms'.padStart(12)}`,
);
for (const r of rows)
  console.log(
    `${String(r.entries).padStart(7)}  ${r.tsas.padEnd(8)}  ${r.how.padEnd(26)}  ${r.ms.toFixed(1).padStart(8)}  ${r.mib.toFixed(1).padStart(8)}  ${r.stallMs.toFixed(1).padStart(12)}`,
  );
