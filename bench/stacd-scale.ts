/**
 * stacd at scale, in the kernel lab (bench/stacd-scale.sh boots it): one discovery log with N I/O controllers on
 * nvmet. For each N, ROUNDS rounds (medians printed) of:
 *   - the limit: the N connect writes back to back by a minimal loop, then N deletes back to back;
 *   - `nvme connect-all` (Debian's nvme-cli) on the same discovery controller;
 *   - stafd + stacd: stacd started cold (time until all are connected, its first pass), then two passes of a warm
 *     daemon: a SIGHUP with `ip-family=ipv6` (stacd disconnects its N controllers) and a SIGHUP back (it connects
 *     them again). Passes, sysfs scans, CPU time and peak RSS of stacd.
 * Then, on the largest N, the AEN → new IOC connected latency over AEN_ROUNDS changes.
 * Figures only: nothing here asserts a timing. STAS_BENCH_PROF=DIR adds V8 CPU profiles of both daemons.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stacClient } from '../src/adapters/dbus/clients.js';
import { openSystemBus } from '../src/adapters/dbus/service.js';
import {
  disconnectAll,
  labSkipReason,
  newHostIdentity,
  resetLab,
  writeHostIdentity,
} from '../test/lab/support/host.js';
import { Nvmet } from '../test/lab/support/nvmet.js';
import { startDbusDaemon } from '../test/support/dbus-daemon.js';

const skip = labSkipReason();
if (skip) {
  console.error(`bench: ${skip}. Run it with bench/stacd-scale.sh.`);
  process.exit(2);
}
const sizes = (process.argv[2] ?? '16,64,256').split(',').map(Number);
const AEN_ROUNDS = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 3);
const nqn = (i: number) => `nqn.2024-01.io.stas-bench:s${i}`;
const now = () => Number(process.hrtime.bigint()) / 1e6;
// A cheap count (one directory listing) so that the bench's own polling does not compete with stacd for the CPUs.
const ioCount = async () => (await readdir('/sys/class/nvme')).length;
async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = now() + ms;
  while (now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const msText = (x: number) => `${x.toFixed(0)} ms`;
const over = (x: number, base: number) => `${(((x - base) / base) * 100).toFixed(0)} %`;

function procStats(pid: number): { cpuMs: number; peakRssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuMs: (ticks * 1000) / 100, peakRssMiB: Number(hwm ?? 0) / 1024 };
}

interface Round {
  bare: number;
  bareDeletes: number;
  cli: number;
  cold: number;
  coldPass: number;
  warmDisconnect: number;
  warmConnect: number;
  warmPhases: string;
  warmDisconnectPhases: string;
  passes: number;
  scans: number;
  cpuMs: number;
  rssMiB: number;
}

const host = newHostIdentity();
writeHostIdentity(host);
const nvmet = new Nvmet();
const aenLatencies: number[] = [];
const results: { n: number; rounds: Round[] }[] = [];

/** One round on a target with N subsystems behind the discovery port; the AEN rounds run if `aen` is set. */
async function round(n: number, disc: ReturnType<Nvmet['addDiscoveryPort']>, aen: boolean): Promise<Round> {
  // 1. The limit: N connect writes back to back, then N deletes.
  let t0 = now();
  for (let i = 0; i < n; i++) {
    const fd = openSync('/dev/nvme-fabrics', 'r+');
    writeSync(
      fd,
      `transport=tcp,traddr=127.0.0.1,trsvcid=8009,nqn=${nqn(i)},hostnqn=${host.hostnqn},hostid=${host.hostid}`,
    );
    readSync(fd, Buffer.alloc(64), 0, 64, 0);
    closeSync(fd);
  }
  const bare = now() - t0;
  t0 = now();
  await disconnectAll();
  const bareDeletes = now() - t0;

  // 2. nvme-cli.
  t0 = now();
  execFileSync('nvme', ['connect-all', '-t', 'tcp', '-a', '127.0.0.1', '-s', '8009'], { stdio: 'ignore' });
  await until(async () => (await ioCount()) >= n, 120_000);
  const cli = now() - t0;
  await disconnectAll();

  // 3. stafd + stacd.
  const dbus = await startDbusDaemon();
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  writeFileSync(join(dir, 'sys.conf'), `[Host]\nnqn = ${host.hostnqn}\nid = ${host.hostid}\n`);
  writeFileSync(
    join(dir, 'stafd.conf'),
    '[Service Discovery]\nzeroconf = disabled\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=8009\n',
  );
  const stacdConf = join(dir, 'stacd.conf');
  writeFileSync(stacdConf, '[Global]\n');
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address };
  // STAS_BENCH_PROF=DIR: V8 CPU profiles of both daemons (node --cpu-prof), one per daemon and size.
  const prof = (name: string) =>
    process.env.STAS_BENCH_PROF
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${process.env.STAS_BENCH_PROF}`,
          `--cpu-prof-name=${name}-${n}.cpuprofile`,
        ]
      : [];
  const stafd = spawn(
    process.execPath,
    [
      ...prof('stafd'),
      'dist/src/cli/stafd.js',
      '-f',
      join(dir, 'stafd.conf'),
      '--sys-conf',
      join(dir, 'sys.conf'),
    ],
    { env: { ...env, RUNTIME_DIRECTORY: join(dir, 'f') }, stdio: 'ignore' },
  );
  const bus = await openSystemBus({ address: dbus.address });
  // Let stafd fetch the log first: the stacd figures are stacd's own work.
  await new Promise((r) => setTimeout(r, 3000));
  t0 = now();
  const stacd = spawn(
    process.execPath,
    [...prof('stacd'), 'dist/src/cli/stacd.js', '-f', stacdConf, '--sys-conf', join(dir, 'sys.conf')],
    { env: { ...env, RUNTIME_DIRECTORY: join(dir, 'c') }, stdio: 'ignore' },
  );
  await until(async () => (await ioCount()) >= n, 300_000);
  const cold = now() - t0;
  const stac = stacClient(bus);
  const info = async () => JSON.parse(await stac.processInfo()) as Record<string, string>;
  /** Waits for the end of a working pass: process_info reports a new duration once the pass has finished. */
  const passDone = async (previous: string): Promise<Record<string, string>> => {
    let i = await info();
    await until(async () => {
      i = await info();
      return i['last working pass'] !== '' && i['last working pass'] !== previous;
    }, 60_000);
    return i;
  };
  const coldInfo = await passDone('');
  const coldPass = Number.parseFloat(coldInfo['last working pass'] ?? 'NaN');
  // Warm: disconnect everything through the config (SIGHUP), then connect it all again.
  const sighup = async (conf: string, cond: () => Promise<boolean>) => {
    const before = (await info())['last working pass'] ?? '';
    writeFileSync(stacdConf, conf);
    stacd.kill('SIGHUP');
    await until(cond, 300_000);
    const i = await passDone(before);
    return {
      ms: Number.parseFloat(i['last working pass'] ?? 'NaN'),
      phases: i['last working pass phases'] ?? '',
    };
  };
  const warmDisconnect = await sighup('[Global]\nip-family = ipv6\n', async () => (await ioCount()) === 0);
  const warmConnect = await sighup('[Global]\n', async () => (await ioCount()) >= n);
  const last = await info();

  // 4. AEN → new IOC connected.
  if (aen) {
    for (let k = 0; k < AEN_ROUNDS; k++) {
      const q = `nqn.2024-01.io.stas-bench:aen${k}`;
      nvmet.addSubsystem({ nqn: q, namespaces: [], ports: [] });
      const before = await ioCount();
      const t1 = now();
      nvmet.link(q, disc);
      if (await until(async () => (await ioCount()) > before, 60_000)) aenLatencies.push(now() - t1);
    }
  }
  const { cpuMs, peakRssMiB } = procStats(stacd.pid!);
  const exited = (c: typeof stacd) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r));
  stacd.kill('SIGTERM');
  stafd.kill('SIGTERM');
  await Promise.race([
    Promise.all([exited(stacd), exited(stafd)]),
    new Promise((r) => setTimeout(r, 20_000)),
  ]);
  bus.disconnect();
  await dbus.stop();
  await disconnectAll();
  if (aen) for (let k = 0; k < AEN_ROUNDS; k++) nvmet.unlink(`nqn.2024-01.io.stas-bench:aen${k}`, disc);
  return {
    bare,
    bareDeletes,
    cli,
    cold,
    coldPass,
    warmDisconnect: warmDisconnect.ms,
    warmConnect: warmConnect.ms,
    warmPhases: warmConnect.phases,
    warmDisconnectPhases: warmDisconnect.phases,
    passes: Number(last['reconcile passes']),
    scans: Number(last['sysfs scans']),
    cpuMs,
    rssMiB: peakRssMiB,
  };
}

for (const n of sizes) {
  await resetLab(nvmet);
  const disc = nvmet.addDiscoveryPort();
  for (let i = 0; i < n; i++) nvmet.addSubsystem({ nqn: nqn(i), namespaces: [], ports: [disc] });
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    rounds.push(await round(n, disc, n === sizes[sizes.length - 1] && r === ROUNDS - 1 && AEN_ROUNDS > 0));
    console.error(`bench: N=${n} round ${r + 1}/${ROUNDS} done`);
  }
  results.push({ n, rounds });
}
await resetLab(nvmet);

const table = (rows: string[][]) => {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}`.trimEnd());
};
console.log(
  `\nstacd scale (kernel lab: QEMU TCG, 2 vCPUs; medians of ${ROUNDS} rounds). A stacd pass = sysfs scan + registry +` +
    '\nstafd query + plan + execution, timed by stacd (process_info). Cold: the first pass after start;' +
    '\nwarm: a running stacd after SIGHUP. start→all connected adds node start-up and D-Bus set-up (no soak: the first pass starts at once).\n',
);
const m = (rs: Round[], k: keyof Round) => median(rs.map((r) => r[k] as number));
table([
  [
    'N',
    'bare writes',
    'nvme connect-all',
    'stacd warm pass',
    'overhead',
    'cold pass',
    'overhead',
    'start→all connected',
  ],
  ...results.map(({ n, rounds: rs }) => [
    String(n),
    msText(m(rs, 'bare')),
    msText(m(rs, 'cli')),
    msText(m(rs, 'warmConnect')),
    over(m(rs, 'warmConnect'), m(rs, 'bare')),
    msText(m(rs, 'coldPass')),
    over(m(rs, 'coldPass'), m(rs, 'bare')),
    msText(m(rs, 'cold')),
  ]),
]);
console.log('');
table([
  [
    'N',
    'bare deletes',
    'stacd warm disconnect pass',
    'overhead',
    'passes',
    'sysfs scans',
    'stacd CPU',
    'peak RSS',
  ],
  ...results.map(({ n, rounds: rs }) => [
    String(n),
    msText(m(rs, 'bareDeletes')),
    msText(m(rs, 'warmDisconnect')),
    over(m(rs, 'warmDisconnect'), m(rs, 'bareDeletes')),
    String(m(rs, 'passes')),
    String(m(rs, 'scans')),
    msText(m(rs, 'cpuMs')),
    `${m(rs, 'rssMiB').toFixed(1)} MiB`,
  ]),
]);
console.log('\n  warm pass phases (each round), connect | disconnect:');
for (const { n, rounds: rs } of results)
  console.log(`  N=${n}: ${rs.map((r) => `[${r.warmPhases} | ${r.warmDisconnectPhases}]`).join(' ')}`);
console.log('\n  every round (bare / cli / warm pass / cold pass, ms):');
for (const { n, rounds: rs } of results)
  console.log(
    `  N=${n}: ${rs.map((r) => [r.bare, r.cli, r.warmConnect, r.coldPass].map((x) => x.toFixed(0)).join('/')).join('  ')}`,
  );
if (aenLatencies.length) {
  console.log(
    `\nAEN -> new IOC connected (${aenLatencies.length} changes, N=${sizes[sizes.length - 1]}): p50 ${pct(aenLatencies, 50).toFixed(0)} ms, p95 ${pct(aenLatencies, 95).toFixed(0)} ms (includes stafd's re-read and stacd's pass; bench/aen-latency.sh compares with the udev rule path)`,
  );
}
