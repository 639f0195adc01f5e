/**
 * Memory of the installed programs (issue 14 §3): the bundle (dist/bundle/*.mjs, what `make install` copies), each
 * daemon alone on a private dbus-daemon, zeroconf off, no controller.
 *   1. Idle: RSS, PSS (Node's own pages are shared by both daemons), RSS file/anon and peak RSS (VmHWM) of stafd
 *      and stacd a few seconds after start-up and again 30 s in (V8 gives heap slack back in between), and of
 *      `node -e` (a process doing nothing) for the floor.
 *   2. stafd with one DC (the test double on loopback) serving a 10,000 and a 65,536-entry log: RSS and peak once
 *      the log is cached and the last-known config written.
 * Figures only, no assertions. Usage: node dist/bench/memory.js [settle s, default 3] [idle again at s, default 30]
 * STAS_BUNDLE=DIR measures the bundle in DIR instead of dist/bundle/. The daemons run with the node flags `make install`
 * gives them (Makefile DAEMON_NODE_FLAGS), or STAS_DAEMON_FLAGS ('' for none).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDbusDaemon } from '../test/support/dbus-daemon.js';
import { DiscoveryTarget, ioEntry } from '../test/support/discovery-target.js';
import { HOSTID, HOSTNQN, lkcEntryCount, sample, startStafd, until } from '../test/support/stafd-process.js';
import { DAEMON_FLAGS } from './daemon-flags.js';

const BUNDLE = process.env['STAS_BUNDLE'] ?? fileURLToPath(new URL('../bundle/', import.meta.url));
const SETTLE_MS = Number(process.argv[2] ?? 3) * 1000;
/** Idle is also sampled this long after start: V8's memory reducer gives back heap slack some 10-30 s in. */
const IDLE_LONG_MS = Number(process.argv[3] ?? 30) * 1000;
const NQN = 'nqn.2024-01.io.stas-bench:memory';

interface Mem {
  rss: number;
  pss: number;
  anon: number;
  file: number;
  hwm: number;
}

/** /proc figures of `pid`, MiB. */
function memOf(pid: number): Mem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (text: string, k: string) =>
    Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) / 1024;
  let pss = Number.NaN;
  try {
    pss = kb(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
  } catch {
    // Kernels without smaps_rollup.
  }
  return {
    rss: kb(status, 'VmRSS'),
    pss,
    anon: kb(status, 'RssAnon'),
    file: kb(status, 'RssFile'),
    hwm: kb(status, 'VmHWM'),
  };
}

/** Waits `ms` (default SETTLE_MS): the memory figures are taken at fixed ages of the process, by design. */
const settle = (ms = SETTLE_MS) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `node args` with `env` until `ready` appears in its output, measures it SETTLE_MS and IDLE_LONG_MS after
 * that, stops it.
 */
async function measure(args: string[], env: Record<string, string>, ready: RegExp): Promise<[Mem, Mem]> {
  const proc: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  try {
    await until(
      `${args.join(' ')} ready`,
      () => {
        if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}: ${out}`);
        return ready.test(out);
      },
      60_000,
    );
    const t0 = Date.now();
    await settle();
    const early = memOf(proc.pid!);
    await settle(Math.max(0, IDLE_LONG_MS - (Date.now() - t0)));
    return [early, memOf(proc.pid!)];
  } finally {
    proc.kill('SIGTERM');
    if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
  }
}

async function idle(prog: 'stafd' | 'stacd'): Promise<[Mem, Mem]> {
  const dbus = await startDbusDaemon();
  const dir = mkdtempSync(join(tmpdir(), 'stas-mem-'));
  try {
    writeFileSync(join(dir, 'sys.conf'), `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
    writeFileSync(join(dir, `${prog}.conf`), '[Service Discovery]\nzeroconf = disabled\n');
    return await measure(
      [...DAEMON_FLAGS, program(prog), '-f', join(dir, `${prog}.conf`), '--sys-conf', join(dir, 'sys.conf')],
      { DBUS_SYSTEM_BUS_ADDRESS: dbus.address, RUNTIME_DIRECTORY: join(dir, 'run') },
      / running \(config /,
    );
  } finally {
    await dbus.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withLog(n: number): Promise<Mem & { lkcKiB: number }> {
  const log = Array.from({ length: n }, (_, i) => ioEntry(i));
  const h = new DiscoveryTarget({ logFor: (q) => (q === NQN ? log : undefined) });
  await h.start();
  const s = await startStafd({
    conf: `[Global]\nkato = 0\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=${h.port};nqn=${NQN}\n`,
    clientTimeoutMs: 60_000,
    startMs: 60_000,
    script: program('stafd'),
    nodeArgs: DAEMON_FLAGS,
  });
  try {
    await until('the log cached', async () => sample(await s.metrics(), 'stas_dlpe') === n, 600_000);
    await until('the last-known config with the log', () => lkcEntryCount(s.lkcPath) === n, 600_000);
    await settle();
    return { ...memOf(s.pid), lkcKiB: readFileSync(s.lkcPath).length / 1024 };
  } finally {
    await s.stop(60_000);
    await s.cleanup();
    await h.stop();
  }
}

/** The bundle's program file (`stafd.mjs`). */
const program = (prog: string) =>
  [`${prog}.mjs`, `${prog}.cjs`, `${prog}.js`].map((f) => join(BUNDLE, f)).find((f) => existsSync(f)) ??
  join(BUNDLE, `${prog}.mjs`);

const f1 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(1));
const row = (label: string, m: Mem, extra = '') =>
  `  ${label.padEnd(26)}${[m.rss, m.pss, m.anon, m.file, m.hwm].map((x) => f1(x).padStart(8)).join('')}${extra}`;

console.log(
  `Memory of the bundle in ${BUNDLE} (MiB; Node ${process.version}; daemons: node ${DAEMON_FLAGS.join(' ')})`,
);
console.log(`  ${''.padEnd(26)}${['RSS', 'PSS', 'anon', 'file', 'peak'].map((h) => h.padStart(8)).join('')}`);
const idleRows: [string, [Mem, Mem]][] = [
  [
    'node (idle floor)',
    await measure(['-e', 'console.log(" running (config -)"); setInterval(() => {}, 1e6)'], {}, /running/),
  ],
];
for (const prog of ['stafd', 'stacd'] as const) idleRows.push([`${prog} idle`, await idle(prog)]);
for (const [label, [early]] of idleRows) console.log(row(label, early));
for (const [label, [, late]] of idleRows) console.log(row(`${label}, ${IDLE_LONG_MS / 1000} s`, late));
for (const n of [10_000, 65_536]) {
  const m = await withLog(n);
  console.log(row(`stafd, ${n} entries`, m, `  (last-known config ${m.lkcKiB.toFixed(0)} KiB)`));
}
