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
import { execFileSync } from 'node:child_process';
import { disconnectAll, newHostIdentity, resetLab, writeHostIdentity } from '../test/lab/support/host.js';
import { Nvmet, type Port } from '../test/lab/support/nvmet.js';
import {
  addSubsystems,
  bareWrites,
  clearRegistry,
  dcCount,
  emit,
  ioCount,
  median,
  now,
  pct,
  procStats,
  requireLab,
  StasDaemons,
  table,
  until,
} from './lab-bench.js';

requireLab('stacd-scale');
const sizes = (process.argv[2] ?? '16,64,256').split(',').map(Number);
const AEN_ROUNDS = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 3);
const nqn = (i: number) => `nqn.2024-01.io.stas-bench:s${i}`;
const msText = (x: number) => `${x.toFixed(0)} ms`;
const over = (x: number, base: number) => `${(((x - base) / base) * 100).toFixed(0)} %`;

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
async function round(n: number, disc: Port, aen: boolean): Promise<Round> {
  // 1. The limit: N connect writes back to back, then N deletes.
  const bare = bareWrites(n, nqn, host, disc);
  let t0 = now();
  await disconnectAll();
  const bareDeletes = now() - t0;

  // 2. nvme-cli.
  t0 = now();
  execFileSync('nvme', ['connect-all', '-t', 'tcp', '-a', disc.traddr, '-s', String(disc.trsvcid)], {
    stdio: 'ignore',
  });
  await until(async () => (await ioCount()) >= n, 120_000);
  const cli = now() - t0;
  await disconnectAll();
  clearRegistry();

  // 3. stafd + stacd. STAS_BENCH_PROF=DIR: V8 CPU profiles of both daemons (node --cpu-prof), one per daemon and size.
  const run = new StasDaemons(
    host,
    {
      stafd: `[Service Discovery]\nzeroconf = disabled\n[Controllers]\ncontroller = transport=tcp;traddr=${disc.traddr};trsvcid=${disc.trsvcid}\n`,
      stacd: '[Global]\n',
    },
    (prog) =>
      process.env.STAS_BENCH_PROF
        ? [
            '--cpu-prof',
            `--cpu-prof-dir=${process.env.STAS_BENCH_PROF}`,
            `--cpu-prof-name=${prog}-${n}.cpuprofile`,
          ]
        : [],
  );
  await run.start('stafd');
  // Let stafd fetch the log first: the stacd figures are stacd's own work. (nvmet's log may also list the
  // discovery subsystem itself: at least N entries.)
  await until(async () => (await run.metrics({ stafd: ['stas_dlpe'] })).stas_dlpe! >= n, 300_000);
  // stafd's kernel DC is in /sys/class/nvme too.
  const dcs = await dcCount();
  t0 = now();
  await run.start('stacd', false);
  await until(async () => (await ioCount()) >= n + dcs, 300_000);
  const cold = now() - t0;
  await until(async () => {
    try {
      await run.stacInfo();
      return true;
    } catch {
      return false;
    }
  }, 60_000);
  const coldInfo = await run.passDone('');
  const coldPass = Number.parseFloat(coldInfo['last working pass'] ?? 'NaN');
  // Warm: disconnect everything through the config (SIGHUP), then connect it all again.
  const sighup = async (conf: string, cond: () => Promise<boolean>) => {
    const before = (await run.stacInfo())['last working pass'] ?? '';
    run.hupStacd(conf);
    await until(cond, 300_000);
    const i = await run.passDone(before);
    return {
      ms: Number.parseFloat(i['last working pass'] ?? 'NaN'),
      phases: i['last working pass phases'] ?? '',
    };
  };
  const warmDisconnect = await sighup('[Global]\nip-family = ipv6\n', async () => (await ioCount()) === dcs);
  const warmConnect = await sighup('[Global]\n', async () => (await ioCount()) >= n + dcs);
  const last = await run.stacInfo();

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
  const { cpuMs, hwmMiB: peakRssMiB } = procStats(run.pid('stacd'));
  await run.stop();
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
  clearRegistry();
  const disc = nvmet.addDiscoveryPort();
  addSubsystems(nvmet, disc, n, nqn);
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    rounds.push(await round(n, disc, n === sizes[sizes.length - 1] && r === ROUNDS - 1 && AEN_ROUNDS > 0));
    console.error(`bench: N=${n} round ${r + 1}/${ROUNDS} done`);
  }
  results.push({ n, rounds });
}
await resetLab(nvmet);

console.log(
  `\nstacd scale (kernel lab: QEMU TCG, 2 vCPUs; medians of ${ROUNDS} rounds). A stacd pass = sysfs scan + registry +` +
    '\nstafd query + plan + execution, timed by stacd (process_info). Cold: the first pass after start;' +
    '\nwarm: a running stacd after SIGHUP. start→all connected adds node start-up and D-Bus set-up (no soak: the first pass starts at once).\n',
);
const m = (rs: Round[], k: keyof Round) => median(rs.map((r) => r[k] as number));
emit('scale', {
  rounds: ROUNDS,
  sizes: results.map(({ n, rounds: rs }) => ({
    n,
    bare: m(rs, 'bare'),
    cli: m(rs, 'cli'),
    warm: m(rs, 'warmConnect'),
    coldPass: m(rs, 'coldPass'),
    cold: m(rs, 'cold'),
    bareDeletes: m(rs, 'bareDeletes'),
    warmDisconnect: m(rs, 'warmDisconnect'),
    peakRssMiB: m(rs, 'rssMiB'),
    // Each round's pass over the same round's bare writes, the median of those: steadier than a ratio of medians
    // when the host's speed drifts between rounds.
    warmRatio: median(rs.map((r) => r.warmConnect / r.bare)),
    coldRatio: median(rs.map((r) => r.coldPass / r.bare)),
    every: rs.map((r) => ({ bare: r.bare, warm: r.warmConnect, coldPass: r.coldPass })),
  })),
  aen: aenLatencies.length
    ? { n: sizes[sizes.length - 1], p50: pct(aenLatencies, 50), p95: pct(aenLatencies, 95) }
    : undefined,
});
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
