// Issue 11: the real stafd against hostile and faulty discovery controllers (the test double on loopback, many
// virtual DCs behind one listener), next to one good DC. For each attack: the bounds hold (DCs, sessions, fds,
// cached entries, RSS), D-Bus keeps answering, the good DC's real change is seen, the bound is reported once (log
// line, stas_bound_hits metric, `bound` event), and SIGTERM stops stafd on its own. No timing assertions: the
// read/write counts of the AEN storms are bounded by the design's rates times the elapsed time measured here, so a
// slow machine only makes them smaller.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { DiscoveryLogEntry } from '../../src/core/nvme/discovery-log.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { haveDbusDaemon } from '../support/dbus-daemon.js';
import { DiscoveryTarget, ioEntry, referralEntry } from '../support/discovery-target.js';
import { HOSTNQN, type StafdProcess, sample, startStafd, until } from '../support/stafd-process.js';

const skip = !haveDbusDaemon()
  ? 'dbus-daemon is not installed'
  : process.geteuid?.() !== 0
    ? 'stafd needs root'
    : false;

type TidArgs = [string, string, string, string, string, string, string];
const NQN = (name: string) => `nqn.2024-01.io.stas-hostile:${name}`;
const tidArgs = (port: number, nqn = WELL_KNOWN_DISC_NQN): TidArgs => [
  'tcp',
  '127.0.0.1',
  String(port),
  nqn,
  '',
  '',
  HOSTNQN,
];
/** The TID as stafd prints it at the start of its log lines. */
const tidText = (port: number, nqn = WELL_KNOWN_DISC_NQN) => `(tcp, 127.0.0.1, ${port}, ${nqn})`;
const controller = (port: number, nqn?: string) =>
  `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${port}${nqn ? `;nqn=${nqn}` : ''}`;

/**
 * File descriptors stafd has besides one socket per DC session: stdio, epoll, eventfds, the libuv thread pool's
 * pipes, the D-Bus connection, the metrics listener, inotify. Measured: 20 to 24 for an idle stafd here; 40 leaves
 * room for a scrape or D-Bus client connection in flight and for Node versions.
 */
const FD_SLACK = 40;

const DEADLINE = 90_000;

/** The good DC: one I/O controller, changed on request (AEN), configured in every test. */
class GoodDc {
  readonly target = new DiscoveryTarget({ entries: [ioEntry(1)] });
  private n = 1;
  get port() {
    return this.target.port;
  }
  get tid() {
    return tidArgs(this.port);
  }
  /** Adds an I/O controller and waits for stafd to serve it (get_log_pages of the good DC). */
  async changeSeen(s: StafdProcess): Promise<void> {
    const n = ++this.n;
    this.target.setEntries([ioEntry(1), ioEntry(n)]);
    const want = ioEntry(n).subnqn;
    await until(
      `the good DC's new entry ${want} on D-Bus`,
      async () => (await s.staf.getLogPages(...this.tid)).some((e) => e['subnqn'] === want),
      DEADLINE,
    );
  }
}

/** Both calls return (client timeout 10 s: a failure here is stafd not answering, not slowness). */
async function assertResponsive(s: StafdProcess): Promise<void> {
  const [dcs, info] = await Promise.all([s.staf.listControllers(false), s.staf.processInfo()]);
  assert.ok(Array.isArray(dcs));
  assert.equal(JSON.parse(info).hostnqn, HOSTNQN);
}

/** The bound is reported: one warning line naming it and the DC that caused it, the metric, a `bound` event. */
async function assertBoundReported(s: StafdProcess, option: string, cause: string): Promise<void> {
  const warnings = s.lines(option, ') reached');
  assert.equal(warnings.length, 1, `one warning for ${option}:\n${warnings.join('\n')}`);
  assert.ok(warnings[0]!.includes(cause), `the warning names ${cause}: ${warnings[0]}`);
  const text = await s.metrics();
  const hits = sample(text, `stas_bound_hits_total{bound="${option}"}`);
  assert.ok((hits ?? 0) > 0, `stas_bound_hits_total{bound="${option}"} is ${hits}`);
  const events = JSON.parse(await s.staf.events()) as { kind: string }[];
  assert.ok(
    events.some((e) => e.kind === 'bound'),
    `a bound event: ${JSON.stringify(events.slice(-5))}`,
  );
}

/** SIGTERM: stafd exits 0 by itself within a generous deadline (killing it is a failure). */
async function assertStopsOnSigterm(s: StafdProcess): Promise<void> {
  const r = await s.stop(60_000);
  assert.equal(r.killed, false, 'stafd ignored SIGTERM for 60 s and was killed');
  assert.deepEqual([r.code, r.signal], [0, null], s.output().slice(-4000));
}

/** Samples the peak of a figure while an attack runs (every 100 ms, and once more at stop). */
function peakOf(f: () => number): { stop: () => number } {
  let peak = f();
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, f());
    } catch {
      // the process is gone: the last peak stands
    }
  }, 100);
  return {
    stop() {
      clearInterval(t);
      try {
        peak = Math.max(peak, f());
      } catch {}
      return peak;
    },
  };
}

const cachedEntries = async (s: StafdProcess) =>
  (JSON.parse(await s.staf.getAllLogPages(false)) as { 'log-pages': unknown[] }[]).reduce(
    (n, dc) => n + dc['log-pages'].length,
    0,
  );

/** `f()` computed once, on first use (logs naming the double's port, known once it listens). */
function lazy<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => {
    if (v === undefined) v = f();
    return v;
  };
}

/** Runs `body` with the good DC, `hostile` targets started, and stafd configured with `conf(goodPort)`. */
async function attack(
  hostile: DiscoveryTarget[],
  conf: (good: GoodDc) => string,
  body: (s: StafdProcess, good: GoodDc) => Promise<void>,
): Promise<void> {
  const good = new GoodDc();
  const targets = [good.target, ...hostile];
  let s: StafdProcess | undefined;
  try {
    for (const t of targets) await t.start();
    s = await startStafd({ conf: `[Global]\nkato = 0\n${conf(good)}` });
    await body(s, good);
  } finally {
    await s?.cleanup();
    for (const t of targets) await t.stop();
  }
}

test('referral fan-out: one DC listing 1,000 referrals gets max-discovery-controllers DCs, not 1,000 sessions', {
  skip,
}, async (t) => {
  const MAX_DCS = 16;
  const fanout = Array.from({ length: 1000 }, (_, i) => NQN(`fan-${i}`));
  let h: DiscoveryTarget;
  const hostileLog = (): DiscoveryLogEntry[] => fanout.map((n) => referralEntry(h.port, n));
  const fanLog = lazy(hostileLog);
  h = new DiscoveryTarget({
    logFor: (nqn) => (nqn === NQN('fan') ? fanLog() : nqn.startsWith(NQN('fan-')) ? [] : undefined),
  });
  await attack(
    [h],
    (good) =>
      `[Discovery controller connection management]\nmax-discovery-controllers = ${MAX_DCS}\n[Controllers]\n${controller(good.port)}\n${controller(h.port, NQN('fan'))}\n`,
    async (s, good) => {
      const fds = peakOf(() => s.figures().fds);
      const sessions = peakOf(() => good.target.connections + h.connections);
      const cause = tidText(h.port, NQN('fan'));
      await until(
        'the max-discovery-controllers warning',
        () => s.lines('max-discovery-controllers', ') reached').length > 0,
        DEADLINE,
      );
      await until(
        `${MAX_DCS} DCs connected`,
        async () =>
          good.target.connections + h.connections === MAX_DCS &&
          (await s.staf.listControllers(false)).length === MAX_DCS,
        DEADLINE,
      );
      await assertResponsive(s);
      await good.changeSeen(s);
      const dcs = await s.staf.listControllers(false);
      assert.equal(dcs.length, MAX_DCS);
      // The configured DCs hold their slots.
      assert.ok(dcs.some((d) => d['trsvcid'] === String(good.port)));
      assert.ok(dcs.some((d) => d['subsysnqn'] === NQN('fan')));
      await assertBoundReported(s, 'max-discovery-controllers', cause);
      await assertBoundReported(s, 'max-referrals-per-controller', cause);
      const referred = [...h.perNqn].filter(([n]) => n.startsWith(NQN('fan-')));
      assert.ok(referred.length <= MAX_DCS - 2, `${referred.length} referred DCs were ever connected`);
      const rss = s.figures().hwmMiB;
      const peakFds = fds.stop();
      const peakSessions = sessions.stop();
      t.diagnostic(`peak sessions ${peakSessions}, peak fds ${peakFds}, peak RSS ${rss.toFixed(0)} MiB`);
      assert.ok(peakSessions <= MAX_DCS, `${peakSessions} sessions open at once`);
      assert.ok(h.peakConnections + good.target.peakConnections <= MAX_DCS);
      assert.ok(peakFds <= MAX_DCS + FD_SLACK, `${peakFds} fds`);
      // 200 MiB: an idle stafd is ~60 MiB here; 16 DCs with empty logs add little.
      assert.ok(rss < 200, `peak RSS ${rss} MiB`);
      await assertStopsOnSigterm(s);
    },
  );
});

test('referral chain: each referred DC refers to a new one; max-referral-depth stops it', {
  skip,
}, async () => {
  const DEPTH = 3;
  const logs = new Map<string, DiscoveryLogEntry[]>();
  let h: DiscoveryTarget;
  h = new DiscoveryTarget({
    logFor: (nqn) => {
      const m = /:chain-(\d+)$/.exec(nqn);
      if (!m) return undefined;
      let log = logs.get(nqn);
      if (!log) {
        log = [referralEntry(h.port, NQN(`chain-${Number(m[1]) + 1}`)), ioEntry(Number(m[1]))];
        logs.set(nqn, log);
      }
      return log;
    },
  });
  await attack(
    [h],
    (good) =>
      `[Discovery controller connection management]\nmax-referral-depth = ${DEPTH}\n[Controllers]\n${controller(good.port)}\n${controller(h.port, NQN('chain-0'))}\n`,
    async (s, good) => {
      const last = NQN(`chain-${DEPTH}`);
      await until(
        `the DC at depth ${DEPTH} read and the max-referral-depth warning`,
        () =>
          (h.perNqn.get(last)?.readEnds ?? 0) > 0 && s.lines('max-referral-depth', ') reached').length > 0,
        DEADLINE,
      );
      await assertResponsive(s);
      await good.changeSeen(s);
      const chain = [...h.perNqn.keys()].sort();
      assert.deepEqual(
        chain,
        Array.from({ length: DEPTH + 1 }, (_, i) => NQN(`chain-${i}`)).sort(),
        'DCs connected: depth 0 (configured) to the bound',
      );
      const dcs = await s.staf.listControllers(false);
      assert.equal(dcs.length, DEPTH + 2, JSON.stringify(dcs));
      assert.ok(!dcs.some((d) => d['subsysnqn'] === NQN(`chain-${DEPTH + 1}`)));
      await assertBoundReported(s, 'max-referral-depth', tidText(h.port, last));
      await assertStopsOnSigterm(s);
    },
  );
});

test('cross-referral amplification: 1,000 DCs each listing the same 1,000 referrals stay within every bound', {
  skip,
}, async (t) => {
  const M = 1000;
  const MAX_DCS = 16;
  // 3 of the 1,000-entry logs fit (with the good DC's 1 or 2 entries); a 4th would go past.
  const MAX_CACHED = 3500;
  const names = Array.from({ length: M }, (_, i) => NQN(`amp-${i}`));
  const members = new Set(names);
  let h: DiscoveryTarget;
  const ampLog = lazy(() => names.map((n) => referralEntry(h.port, n)));
  h = new DiscoveryTarget({
    logFor: (nqn) => (members.has(nqn) ? ampLog() : undefined),
  });
  await attack(
    [h],
    (good) =>
      [
        '[Discovery controller connection management]',
        `max-discovery-controllers = ${MAX_DCS}`,
        `max-cached-log-entries = ${MAX_CACHED}`,
        '[Controllers]',
        controller(good.port),
        controller(h.port, names[0]),
        '',
      ].join('\n'),
    async (s, good) => {
      const fds = peakOf(() => s.figures().fds);
      const sessions = peakOf(() => good.target.connections + h.connections);
      await until(
        'the DC and cache bounds reached',
        () =>
          s.lines('max-discovery-controllers', ') reached').length > 0 &&
          s.lines('max-cached-log-entries', ') reached').length > 0,
        DEADLINE,
      );
      // While the DCs read their 1 MiB logs: D-Bus answers, the good DC's change gets through.
      await assertResponsive(s);
      await good.changeSeen(s);
      await until(
        `${MAX_DCS} DCs connected and read`,
        () =>
          good.target.connections + h.connections === MAX_DCS &&
          [...h.perNqn.values()].every((n) => n.readEnds > 0),
        DEADLINE,
      );
      await assertResponsive(s);
      const entries = await cachedEntries(s);
      const text = await s.metrics();
      assert.ok(entries <= MAX_CACHED, `${entries} entries cached`);
      assert.ok((sample(text, 'stas_dlpe') ?? 0) <= MAX_CACHED);
      assert.equal((await s.staf.listControllers(false)).length, MAX_DCS);
      // One warning per DC whose log was refused, never one per entry or per pass.
      const cacheWarnings = s.lines('max-cached-log-entries', ') reached');
      for (const n of names) {
        const lines = cacheWarnings.filter((l) => l.includes(tidText(h.port, n)));
        assert.ok(lines.length <= 1, lines.join('\n'));
      }
      assert.ok(cacheWarnings.length <= MAX_DCS, `${cacheWarnings.length} cache warnings`);
      assert.ok((sample(text, 'stas_bound_hits_total{bound="max-cached-log-entries"}') ?? 0) > 0);
      await assertBoundReported(s, 'max-discovery-controllers', tidText(h.port, names[0]));
      const rss = s.figures().hwmMiB;
      const peakFds = fds.stop();
      const peakSessions = sessions.stop();
      t.diagnostic(
        `cached ${entries}, peak sessions ${peakSessions}, peak fds ${peakFds}, peak RSS ${rss.toFixed(0)} MiB`,
      );
      assert.ok(peakSessions <= MAX_DCS, `${peakSessions} sessions open at once`);
      assert.ok(peakFds <= MAX_DCS + FD_SLACK, `${peakFds} fds`);
      // 300 MiB: the unbounded stafd reached 3.1 GiB; bounded, it holds ≤ 3,500 entries and reads 16 MiB of logs.
      assert.ok(rss < 300, `peak RSS ${rss} MiB`);
      await assertStopsOnSigterm(s);
    },
  );
});

/** An AEN storm on a virtual DC next to the good one; `churn`: GENCTR moves with every notice. */
async function storm(
  t: { diagnostic: (s: string) => void },
  churn: boolean,
  check: (r: {
    s: StafdProcess;
    tid: string;
    elapsedMs: number;
    reads: { starts: number; ends: number };
    signals: number;
    lkcWrites: number | undefined;
    since: number;
  }) => void | Promise<void>,
): Promise<void> {
  const name = NQN(churn ? 'churn' : 'storm');
  const before = Array.from({ length: 10 }, (_, i) => ioEntry(100 + i));
  const after = [...before, ioEntry(200)];
  let current = before;
  const h = new DiscoveryTarget({ logFor: (nqn) => (nqn === name ? current : undefined) });
  await attack(
    [h],
    (good) => `[Controllers]\n${controller(good.port)}\n${controller(h.port, name)}\n`,
    async (s, good) => {
      const tid = tidArgs(h.port, name);
      await until(
        'the storm DC connected and read',
        async () => (await s.staf.getLogPages(...tid)).length === before.length && h.connections === 1,
        DEADLINE,
      );
      await until('its AER armed', () => h.aersArmed((n) => n === name) === 1, DEADLINE);
      let signals = 0;
      const sub = await s.staf.onLogPagesChanged((args) => {
        if (args[3] === name) signals++;
      });
      const m0 = await s.metrics();
      const st = h.stats(name);
      const reads0 = { starts: st.readStarts, ends: st.readEnds };
      const since = s.output().length;
      const cpu0 = s.figures().cpuMs;
      const t0 = performance.now();
      const run = h.aenStorm({ perSecond: 700, count: 5000, churnGenctr: churn, which: (n) => n === name });
      const cap = setTimeout(() => run.stop(), 60_000);
      // Mid-storm: D-Bus answers, the good DC's change is seen, and (without churn) a real change of the storm DC.
      await until('the storm under way', () => run.sent >= 1000 || h.connections === 0, DEADLINE);
      await assertResponsive(s);
      await good.changeSeen(s);
      let realChanges = 0;
      if (!churn) {
        current = after;
        h.notify((n) => n === name);
        realChanges++;
      }
      await assertResponsive(s);
      const sent = await run.done;
      clearTimeout(cap);
      if (!churn) {
        await until(
          'the real change of the storm DC on D-Bus',
          async () => (await s.staf.getLogPages(...tid)).length === after.length,
          DEADLINE,
        );
        await until('its log_pages_changed signal', () => signals >= realChanges, DEADLINE);
        // Written at most once a second, but written: the last-known config gets the change.
        await until(
          'the change in the last-known config',
          () => existsSync(s.lkcPath) && readFileSync(s.lkcPath, 'utf8').includes(ioEntry(200).subnqn),
          DEADLINE,
        );
      }
      const elapsedMs = performance.now() - t0;
      const reads = {
        starts: st.readStarts - reads0.starts,
        ends: st.readEnds - reads0.ends,
      };
      const m1 = await s.metrics();
      const delta = (k: string) => {
        const a = sample(m1, k);
        return a === undefined ? undefined : a - (sample(m0, k) ?? 0);
      };
      const lkcWrites = delta('stas_lkc_writes_total');
      t.diagnostic(
        `${churn ? 'churning' : 'steady'} log: ${sent} AENs sent (${h.aensSent} in all), stas_aen +${delta('stas_aen_total')}, ` +
          `${reads.starts} read starts, ${reads.ends} read ends, stas_log_page_reads +${delta('stas_log_page_reads_total')}, ` +
          `${signals} signals, lkc writes +${lkcWrites}, ${elapsedMs.toFixed(0)} ms, stafd CPU ${(s.figures().cpuMs - cpu0).toFixed(0)} ms`,
      );
      assert.ok(sent > 0, 'the storm sent AENs');
      await check({ s, tid: tidText(h.port, name), elapsedMs, reads, signals, lkcWrites, since });
      await sub.close();
      await assertStopsOnSigterm(s);
    },
  );
}

test('AEN storm on a steady log: reads coalesced (≤ one per 250 ms), one signal per real change, lkc ≤ 1/s', {
  skip,
}, async (t) => {
  await storm(t, false, ({ elapsedMs, reads, signals, lkcWrites }) => {
    // One read in flight and one pending, starts ≥ 250 ms apart: ≤ 1 + elapsed/250 starts; +2 for the read in
    // flight when the storm began and the rounding at both ends.
    const readBound = 2 + elapsedMs / 250 + 2;
    assert.ok(reads.starts <= readBound, `${reads.starts} log reads in ${elapsedMs.toFixed(0)} ms`);
    assert.ok(signals <= 1 + 1, `${signals} log_pages_changed signals for 1 real change`);
    assert.ok(lkcWrites !== undefined, 'stas_lkc_writes is exposed');
    assert.ok(lkcWrites >= 1, 'the real change was written');
    assert.ok(lkcWrites <= 2 + elapsedMs / 1000, `${lkcWrites} lkc writes in ${elapsedMs.toFixed(0)} ms`);
  });
});

test('AEN storm with GENCTR moving at every notice: reads bounded, backoff said once, lkc ≤ 1/s', {
  skip,
}, async (t) => {
  await storm(t, true, ({ s, tid, elapsedMs, reads, lkcWrites, since }) => {
    // Each read makes at most 6 attempts (readDiscoveryLog's maxAttempts) and reads start ≥ 250 ms apart.
    const attemptBound = 6 * (2 + elapsedMs / 250 + 2);
    assert.ok(reads.starts <= attemptBound, `${reads.starts} read attempts in ${elapsedMs.toFixed(0)} ms`);
    const complaints = s
      .output()
      .slice(since)
      .split('\n')
      // stdout carries the message alone (as nvme-stas): the warnings and errors stafd can say about a DC.
      .filter(
        (l) => /Failed to|Connection lost|refused|not enabled|Registration error/.test(l) && l.includes(tid),
      );
    assert.ok(
      complaints.length <= 1,
      `the unstable log is reported once:\n${complaints.slice(0, 10).join('\n')}`,
    );
    assert.ok(lkcWrites !== undefined, 'stas_lkc_writes is exposed');
    assert.ok(lkcWrites <= 2 + elapsedMs / 1000, `${lkcWrites} lkc writes in ${elapsedMs.toFixed(0)} ms`);
  });
});

test('bogus referral and I/O entry strings: refused, named, never reach the log raw', { skip }, async () => {
  let h: DiscoveryTarget;
  const bogusIo = ioEntry(0, { subnqn: `${NQN('io')}\x1b[31mred` });
  const goodIo = ioEntry(0, { subnqn: NQN('io-ok') });
  const bogusLog = () => [
    referralEntry('abc', NQN('port')), // non-numeric trsvcid
    referralEntry(h.port, `${NQN('a')},b`),
    referralEntry(h.port, `${NQN('a')}=b`),
    referralEntry(h.port, `${NQN('esc')}\x1b[31mred`),
    referralEntry(h.port, `nqn.${'a'.repeat(252)}`), // 256 bytes: no NUL in the field
    referralEntry(h.port, NQN('host'), { traddr: 'evil.example.com' }),
    referralEntry(h.port, NQN('ok-ref')), // the one good referral
    bogusIo,
    goodIo,
  ];
  // A DC whose only refused entry is the ESC one: its warning must show the value escaped.
  const escLog = lazy(() => [referralEntry(h.port, `${NQN('esc')}\x1b[31mred`), goodIo]);
  let log: DiscoveryLogEntry[] | undefined;
  const currentLog = () => {
    if (!log) log = bogusLog();
    return log;
  };
  h = new DiscoveryTarget({
    logFor: (nqn) =>
      nqn === NQN('bogus')
        ? currentLog()
        : nqn === NQN('ok-ref')
          ? []
          : nqn === NQN('esc-only')
            ? escLog()
            : undefined,
  });
  await attack(
    [h],
    (good) =>
      `[Controllers]\n${controller(good.port)}\n${controller(h.port, NQN('bogus'))}\n${controller(h.port, NQN('esc-only'))}\n`,
    async (s, good) => {
      const tid = tidText(h.port, NQN('bogus'));
      await until(
        'the good referral followed',
        () => (h.perNqn.get(NQN('ok-ref'))?.readEnds ?? 0) > 0,
        DEADLINE,
      );
      await assertResponsive(s);
      await good.changeSeen(s);
      const dcs = await s.staf.listControllers(false);
      assert.deepEqual(
        dcs.map((d) => d['subsysnqn']).sort(),
        [NQN('bogus'), NQN('esc-only'), NQN('ok-ref'), WELL_KNOWN_DISC_NQN].sort(),
        'no DC from a refused referral',
      );
      const pages = await s.staf.getLogPages(...tidArgs(h.port, NQN('bogus')));
      assert.ok(pages.some((e) => e['subnqn'] === goodIo.subnqn));
      assert.ok(!pages.some((e) => e['subnqn']!.includes('\x1b')), 'the refused I/O entry is not served');
      // A second read (the log changed: one more good I/O entry), then the warnings of both reads are out.
      const goodIo2 = ioEntry(0, { subnqn: NQN('io-ok2') });
      log = [...bogusLog(), goodIo2];
      h.notify((n) => n === NQN('bogus'));
      await until(
        'the second read served',
        async () =>
          (await s.staf.getLogPages(...tidArgs(h.port, NQN('bogus')))).some(
            (e) => e['subnqn'] === goodIo2.subnqn,
          ),
        DEADLINE,
      );
      const reads = h.stats(NQN('bogus'));
      const out = s.output();
      assert.ok(!out.includes('\x1b'), 'no raw ESC in stafd output');
      const warnings = s.lines(tid, 'refused').filter((l) => /trsvcid|subnqn|traddr/.test(l));
      // 3 fields refused in each read: at most one line per field and read (7 refused entries per read).
      assert.ok(
        warnings.length <= 3 * reads.readEnds,
        `${warnings.length} warnings for ${reads.readEnds} reads:\n${warnings.join('\n')}`,
      );
      const escTid = tidText(h.port, NQN('esc-only'));
      await until('the warning of the ESC-only DC', () => s.lines(escTid, 'refused').length > 0, DEADLINE);
      assert.match(s.lines(escTid, 'refused').join('\n'), /\\x1b|\\u001b/, 'the ESC is shown escaped');
      assert.ok(!s.output().includes('\x1b'), 'no raw ESC in stafd output');
      // Every refused field is named (the operator learns what to fix), however many entries were refused.
      for (const f of ['trsvcid', 'subnqn', 'traddr'])
        assert.ok(
          s.lines(tid, 'refused', f).length > 0,
          `a warning naming ${f}:\n${s.lines(tid).join('\n')}`,
        );
      await assertStopsOnSigterm(s);
    },
  );
});

test('NUMREC lie (60,000 entries promised, 2 returned): that session is closed with a clear error, nothing cached', {
  skip,
}, async () => {
  const liar = new DiscoveryTarget({ entries: [ioEntry(1), ioEntry(2)], numrecLie: 60000 });
  await attack(
    [liar],
    (good) => `[Controllers]\n${controller(good.port)}\n${controller(liar.port)}\n`,
    async (s, good) => {
      const tid = tidText(liar.port);
      await until('the NUMREC error', () => s.lines(tid, '60000').length > 0, DEADLINE);
      assert.ok(liar.connectsAccepted >= 1, 'stafd connected to the liar');
      assert.deepEqual(await s.staf.getLogPages(...tidArgs(liar.port)), [], 'nothing cached from the lie');
      await until('the lying session closed', () => liar.connections === 0, DEADLINE).catch((e) => {
        throw new Error(`${e.message}\n${s.lines(tid).join('\n')}`);
      });
      await assertResponsive(s);
      await good.changeSeen(s);
      await assertStopsOnSigterm(s);
    },
  );
});

test('MAXH2CDATA < 4096: that DC is refused after ICResp with a clear error, the good DC is fine', {
  skip,
}, async () => {
  const small = new DiscoveryTarget({ entries: [ioEntry(3)], maxh2cdata: 1024 });
  await attack(
    [small],
    (good) => `[Controllers]\n${controller(good.port)}\n${controller(small.port)}\n`,
    async (s, good) => {
      const tid = tidText(small.port);
      await until('the MAXH2CDATA error', () => s.lines(tid, 'MAXH2CDATA').length > 0, DEADLINE);
      assert.ok(small.connectionsAccepted >= 1, 'stafd tried the DC');
      assert.equal(small.connectsAccepted, 0, 'and went no further than ICResp');
      await until('the session closed', () => small.connections === 0, DEADLINE);
      assert.deepEqual(await s.staf.getLogPages(...tidArgs(small.port)), []);
      await assertResponsive(s);
      await good.changeSeen(s);
      await assertStopsOnSigterm(s);
    },
  );
});

test('a session that drops after connecting is retried after 3 s, 6 s, 12 s … (never faster)', {
  skip,
}, async (t) => {
  const flap = new DiscoveryTarget({ entries: [ioEntry(4)], misbehave: { kind: 'close-after-log-read' } });
  await attack(
    [flap],
    (good) => `[Controllers]\n${controller(good.port)}\n${controller(flap.port)}\n`,
    async (s, good) => {
      // Connect i comes no sooner than 3·(2^(i-1) − 1) s after the first (3, 6, 12 … s apart): the number of
      // connects seen by the time of the last one is bounded by that schedule (a slow machine only lowers it).
      const st = flap.stats(WELL_KNOWN_DISC_NQN);
      await until('three connects to the flapping DC', () => st.accepted >= 3, DEADLINE);
      const at = st.acceptedAt.map((x) => x - st.acceptedAt[0]!);
      t.diagnostic(`flapping DC connects at ${at.map((x) => (x / 1000).toFixed(1)).join(', ')} s`);
      const elapsed = at[at.length - 1]!;
      let allowed = 1;
      // 50 ms per gap: timers that fire a hair early, and the double seeing the connect after stafd sent it.
      while (3000 * (2 ** allowed - 1) - 50 * allowed <= elapsed) allowed++;
      assert.ok(
        st.accepted <= allowed,
        `${st.accepted} connects in ${elapsed.toFixed(0)} ms (backoff allows ${allowed})`,
      );
      await assertResponsive(s);
      await good.changeSeen(s);
      await assertStopsOnSigterm(s);
    },
  );
});
