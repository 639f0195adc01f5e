// stafd's last-known configuration: the coalescing asynchronous writer (LkcWriter), the file format (an all-zero
// TSAS is left out) and the loader.
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { writeFileAtomicAsync } from '../../src/adapters/atomic-file.js';
import { LkcWriter, loadLkc, type SavedDc, saveLkc } from '../../src/adapters/lkc-file.js';
import type { DiscoveryLogEntry } from '../../src/core/nvme/discovery-log.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry } from '../support/discovery-target.js';

const root = mkdtempSync(join(tmpdir(), 'stafd-lkc-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const fresh = () => join(root, `case${seq++}`, 'run', 'last-known-config.json');

const tid = (traddr: string): SavedDc['tid'] => ({
  transport: 'tcp',
  traddr,
  trsvcid: '8009',
  subsysnqn: WELL_KNOWN_DISC_NQN,
  hostTraddr: '',
  hostIface: '',
  hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
});

/** A state whose log pages tell which version it is (entry count and the first subsystem's name). */
const state = (version: number, entries = 3): SavedDc[] => [
  {
    tid: tid('192.168.1.1'),
    origin: 'configured',
    logPages: Array.from({ length: entries }, (_, i) => ioEntry(i, { subnqn: `nqn.v${version}:s${i}` })),
  },
];

const versionOnDisk = (path: string) => loadLkc(path).dcs[0]?.logPages[0]?.subnqn;

/** Collects the writer's log lines; `next` waits (by event, not by time) for a line matching a pattern. */
function logger() {
  const lines: { level: string; msg: string }[] = [];
  const waiters: { re: RegExp; from: number; resolve: () => void }[] = [];
  const log = (level: 'debug' | 'info' | 'warning' | 'error', msg: string) => {
    lines.push({ level, msg });
    for (const w of [...waiters])
      if (lines.slice(w.from).some((l) => w.re.test(l.msg))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  };
  const next = (re: RegExp) =>
    new Promise<void>((resolve) => waiters.push({ re, from: lines.length, resolve }));
  return { log, lines, next };
}

test('a burst of schedule() calls makes few writes: at most one per interval, the last one with the latest state', async () => {
  const path = fresh();
  const interval = 25;
  const { log, lines } = logger();
  const w = new LkcWriter(path, { minIntervalMs: interval, log });
  let current = state(0);
  let snapshots = 0;
  let maxInFlight = 0;
  const t0 = performance.now();
  let n = 0;
  // Keep scheduling, with the event loop turning in between, until a few intervals have passed.
  while (performance.now() - t0 < interval * 6 || n < 2000) {
    n++;
    current = state(n);
    w.schedule(() => {
      snapshots++;
      const done = lines.filter((l) => /Saved|Unable/.test(l.msg)).length;
      maxInFlight = Math.max(maxInFlight, snapshots - done);
      return current;
    });
    if (n % 10 === 0) await tick();
  }
  const elapsed = performance.now() - t0;
  const starts = snapshots;
  assert.ok(
    starts <= 1 + Math.floor(elapsed / interval),
    `${starts} writes started in ${elapsed.toFixed(1)} ms with an interval of ${interval} ms (${n} schedules)`,
  );
  assert.ok(w.writes <= starts);
  assert.equal(maxInFlight, 1, 'one write in flight at a time');
  await w.flush();
  assert.equal(versionOnDisk(path), `nqn.v${n}:s0`, 'the file holds the latest state');
  assert.ok(w.writes <= starts + 1 && w.writes >= 1);
  assert.equal(w.lastSize, statSync(path).size);
  assert.ok(!lines.some((l) => l.level === 'error'));
  // Nothing left behind but the file itself (no temporary files).
  assert.deepEqual(readdirSync(join(path, '..')), ['last-known-config.json']);
});

test('flush() writes pending state at once, ignoring the interval; with nothing pending it writes nothing', async () => {
  const path = fresh();
  const w = new LkcWriter(path, { minIntervalMs: 3_600_000 });
  await w.flush();
  assert.equal(w.writes, 0);
  let current = state(1);
  w.schedule(() => current);
  await w.flush();
  assert.equal(w.writes, 1);
  assert.equal(versionOnDisk(path), 'nqn.v1:s0');
  // An hour's interval would hold the next write back; flush does not wait for it.
  current = state(2);
  w.schedule(() => current);
  current = state(3); // snapshot() runs at write time: the latest state is what gets written
  await w.flush();
  assert.equal(w.writes, 2);
  assert.equal(versionOnDisk(path), 'nqn.v3:s0');
  await w.flush();
  assert.equal(w.writes, 2);
});

test('flush() during a write waits for it, then writes what was scheduled meanwhile', async () => {
  const path = fresh();
  const { log, next } = logger();
  const w = new LkcWriter(path, { minIntervalMs: 3_600_000, log });
  let current = state(1, 2000);
  const saved = next(/Saved last known config/);
  w.schedule(() => current);
  // Let the first write start (its timer fires at once), then change the state while it may still run.
  let started = false;
  w.schedule(() => {
    started = true;
    return current;
  });
  while (!started) await tick();
  current = state(2);
  w.schedule(() => current);
  await Promise.all([w.flush(), w.flush()]);
  await saved;
  assert.equal(w.writes, 2);
  assert.equal(versionOnDisk(path), 'nqn.v2:s0');
});

test('a failing write is logged and a later schedule() writes the file', async () => {
  const base = join(root, `case${seq++}`);
  mkdirSync(base);
  const blocker = join(base, 'run');
  writeFileSync(blocker, 'not a directory');
  const path = join(blocker, 'last-known-config.json');
  const { log, lines, next } = logger();
  const w = new LkcWriter(path, { minIntervalMs: 10, log });
  const failed = next(/Unable to save last known config/);
  w.schedule(() => state(1));
  await failed;
  assert.equal(w.writes, 0);
  assert.equal(lines.find((l) => /Unable/.test(l.msg))?.level, 'error');
  // Not retried by itself: a flush now would try again, but here the next change does.
  rmSync(blocker);
  const saved = next(/Saved last known config/);
  w.schedule(() => state(2));
  await saved;
  assert.equal(w.writes, 1);
  assert.equal(versionOnDisk(path), 'nqn.v2:s0');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
});

test('a failed write leaves the old file and no temporary file behind', async () => {
  const path = fresh();
  saveLkc(path, state(1));
  const dir = join(path, '..');
  // The content fails half way (a generator that throws): the rename never happens.
  function* broken() {
    yield '{"version":1,';
    throw new Error('serialisation failed');
  }
  await assert.rejects(writeFileAtomicAsync(path, broken()), /serialisation failed/);
  assert.equal(versionOnDisk(path), 'nqn.v1:s0');
  assert.deepEqual(readdirSync(dir), ['last-known-config.json']);
  // An existing file keeps its mode.
  chmodSync(path, 0o640);
  const size = await writeFileAtomicAsync(path, ['{"version":1,', '"dcs":[]}\n']);
  assert.equal(size, readFileSync(path).length);
  assert.equal(statSync(path).mode & 0o777, 0o640);
  assert.deepEqual(loadLkc(path), { dcs: [] });
});

function withTsas(e: DiscoveryLogEntry, i: number): DiscoveryLogEntry {
  const tsas = new Uint8Array(256);
  tsas[0] = 1 + (i % 3);
  tsas[255] = i & 0xff;
  return { ...e, tsas };
}

for (const tsas of [false, true]) {
  test(`10,000 entries round-trip through LkcWriter and loadLkc (${tsas ? 'non-zero' : 'all-zero'} TSAS)`, async () => {
    const path = fresh();
    const pages = Array.from({ length: 10_000 }, (_, i) => {
      const e = ioEntry(i, { traddr: `10.0.${i >> 8}.${i & 0xff}`, eflags: i & 7, portid: i & 0xffff });
      return tsas ? withTsas(e, i) : e;
    });
    const dcs: SavedDc[] = [
      { tid: tid('10.1.1.1'), origin: 'discovered', logPages: pages.slice(0, 4000), kernelDevice: 'nvme3' },
      { tid: tid('10.1.1.2'), origin: 'referral', logPages: pages.slice(4000) },
      { tid: tid('10.1.1.3'), origin: 'configured', logPages: [] },
    ];
    const w = new LkcWriter(path);
    w.schedule(() => dcs);
    await w.flush();
    const loaded = loadLkc(path);
    assert.equal(loaded.problem, undefined);
    assert.deepEqual(loaded.dcs, dcs);
    const text = readFileSync(path, 'utf8');
    assert.equal(w.lastSize, Buffer.byteLength(text));
    // All-zero TSAS is left out of the file; a non-zero one is kept (base64).
    assert.equal(text.includes('"tsas"'), tsas);
    // The synchronous saveLkc writes the same bytes.
    const path2 = fresh();
    saveLkc(path2, dcs);
    assert.equal(readFileSync(path2, 'utf8'), text);
  });
}

test('loadLkc reads files of the earlier layout (every TSAS written out, also when all zero)', () => {
  const path = fresh();
  mkdirSync(join(path, '..'), { recursive: true });
  const e = ioEntry(7);
  const tsas = new Uint8Array(256);
  tsas[0] = 2;
  const old = {
    version: 1,
    dcs: [
      {
        tid: tid('192.168.1.9'),
        origin: 'configured',
        logPages: [
          { ...e, tsas: Buffer.alloc(256).toString('base64') },
          { ...e, subnqn: 'nqn.x', tsas: Buffer.from(tsas).toString('base64') },
        ],
        kernelDevice: 'nvme2',
      },
    ],
  };
  writeFileSync(path, `${JSON.stringify(old)}\n`);
  const { dcs, problem } = loadLkc(path);
  assert.equal(problem, undefined);
  assert.deepEqual(dcs, [
    {
      tid: tid('192.168.1.9'),
      origin: 'configured',
      logPages: [e, { ...e, subnqn: 'nqn.x', tsas }],
      kernelDevice: 'nvme2',
    },
  ]);
  // A missing TSAS is 256 zero bytes.
  const { tsas: _drop, ...noTsas } = e;
  writeFileSync(path, JSON.stringify({ version: 1, dcs: [{ ...old.dcs[0], logPages: [noTsas] }] }));
  assert.deepEqual(loadLkc(path).dcs[0]!.logPages[0]!.tsas, new Uint8Array(256));
});
