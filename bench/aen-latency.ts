/**
 * AEN → new I/O controller live, and removal → gone, in the kernel lab (bench/aen-latency.sh boots it), for stas and
 * for nvme-cli's udev rule path in the same boot, on the same nvmet discovery port with N subsystems already
 * connected:
 *   - udev rule path: a persistent kernel discovery controller and a uevent watcher (busybox uevent) that runs the
 *     rule's `nvme connect-all --device=nvmeN …` (70-nvmf-autoconnect.rules) on each Discovery Log Change AEN, then
 *     reads the log once more to re-arm the AEN (Debian 12's nvme-cli leaves it masked);
 *   - stas: stafd (each DC host asked for: kernel, userspace) and stacd, running and settled.
 * Each of CHANGES changes links one new subsystem to the port (nvmet sends the AEN) and times link → a controller
 * of that subsystem in state `live` (sysfs polled every 10 ms); for stas, then unlinks each (nvmet drops its
 * controllers; stacd disconnects them) and times unlink → the controller gone. The rule never disconnects anything.
 * Also counted, per change: stacd passes, stafd log page reads and AENs (metrics); and each daemon's RSS once
 * settled, before the first change (idle). The shared parts are in bench/lab-bench.ts; bench/report.ts runs this
 * with the other benches in one boot (STAS_BENCH_JSON: the figures as JSON).
 * Figures only: nothing here asserts a timing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connectOptions,
  ctrlAttr,
  disconnectAll,
  fabricsConnect,
  GUEST_BUSYBOX,
  newHostIdentity,
  resetLab,
  writeHostIdentity,
} from '../test/lab/support/host.js';
import { DISCOVERY_NQN, Nvmet, type Port } from '../test/lab/support/nvmet.js';
import { controllerLine, type DcHost, stafdConf } from '../test/lab/support/stafd-run.js';
import {
  addSubsystems,
  clearRegistry,
  emit,
  gone,
  live,
  pct,
  procStats,
  requireLab,
  StasDaemons,
  table,
  timeUntil,
  until,
} from './lab-bench.js';

requireLab('aen-latency');
const N = Number(process.argv[2] ?? 16);
const CHANGES = Number(process.argv[3] ?? 20);
const HOSTS = (process.argv[4] ?? 'kernel,userspace').split(',') as DcHost[];
const nqn = (i: number) => `nqn.2024-01.io.stas-bench:base${i}`;

interface PathResult {
  name: string;
  add: number[];
  remove: number[];
  missed: number;
  counts?: string;
  /** stacd's working pass of each added subsystem (process_info): its duration and phases. */
  passes?: { ms: number; phases: string }[];
  /** RSS of each daemon once settled with the N base subsystems connected, before the first change. */
  idleRss?: { stafd: number; stacd: number };
}

const host = newHostIdentity();
writeHostIdentity(host);
const nvmet = new Nvmet();
await resetLab(nvmet);
clearRegistry();
const disc: Port = nvmet.addDiscoveryPort();
addSubsystems(nvmet, disc, N, nqn);
let serial = 0;
/** A new subsystem, not linked yet. */
const newSubsystem = () => {
  const q = `nqn.2024-01.io.stas-bench:chg${serial++}`;
  nvmet.addSubsystem({ nqn: q, namespaces: [], ports: [] });
  return q;
};
const baseConnected = async () => {
  for (let i = 0; i < N; i++) if (!(await live(nqn(i))())) return false;
  return true;
};

/** The udev rule path: a persistent kernel DC, the rule run on each AEN. */
async function udevPath(): Promise<PathResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-udev-'));
  execFileSync('nvme', ['connect-all', '-t', 'tcp', '-a', disc.traddr, '-s', String(disc.trsvcid)], {
    stdio: 'ignore',
  });
  await timeUntil(baseConnected, 120_000);
  const dc = fabricsConnect(
    connectOptions({
      transport: 'tcp',
      traddr: disc.traddr,
      trsvcid: disc.trsvcid,
      nqn: DISCOVERY_NQN,
      hostnqn: host.hostnqn,
      hostid: host.hostid,
      keep_alive_tmo: 30,
    }),
  ).name;
  await timeUntil(async () => ctrlAttr(dc, 'state') === 'live');
  const ruleLog = join(dir, 'rule.log');
  writeFileSync(ruleLog, '');
  const rule = join(dir, 'nvmf-autoconnect.sh');
  writeFileSync(
    rule,
    `#!/bin/sh
[ "$ACTION" = change ] && [ "$SUBSYSTEM" = nvme ] && [ "$NVME_AEN" = 0x70f002 ] || exit 0
nvme connect-all --device="$DEVNAME" --transport="$NVME_TRTYPE" --traddr="$NVME_TRADDR" \\
  --trsvcid="$NVME_TRSVCID" --host-traddr="\${NVME_HOST_TRADDR:-none}" >/dev/null 2>&1
nvme get-log "/dev/$DEVNAME" --log-id=0x70 --log-len=4096 --raw-binary >/dev/null 2>&1
echo done >>${ruleLog}
`,
  );
  chmodSync(rule, 0o755);
  const udev = spawn(GUEST_BUSYBOX, ['uevent', rule], { stdio: 'ignore' });
  const ruleRuns = () => readFileSync(ruleLog, 'utf8').split('\n').filter(Boolean).length;
  // The watcher's netlink socket is bound some time after spawn: give it a moment (no AEN is lost meanwhile:
  // nothing changes on the target until the first link below).
  await sleep(1000);
  const r: PathResult = {
    name: 'udev rule path (nvme connect-all --device)',
    add: [],
    remove: [],
    missed: 0,
  };
  for (let k = 0; k < CHANGES; k++) {
    const q = newSubsystem();
    const runs = ruleRuns();
    nvmet.link(q, disc);
    const ms = await timeUntil(live(q));
    if (ms === undefined) r.missed++;
    else r.add.push(ms);
    // The next AEN comes only once the rule has read the log again.
    await timeUntil(async () => ruleRuns() > runs, 30_000);
    await sleep(300);
  }
  udev.kill();
  await disconnectAll();
  return r;
}

/** stas: stafd (DC host `dcHost`) and stacd, settled with the N base subsystems connected. */
async function stasPath(dcHost: DcHost): Promise<PathResult> {
  clearRegistry();
  const run = new StasDaemons(host, {
    stafd: stafdConf({ controllers: [controllerLine(disc.trsvcid, disc.traddr)], dcHost }),
    stacd: '[Global]\n',
  });
  await run.start('stafd');
  await run.start('stacd');
  if (!(await until(baseConnected, 300_000)))
    throw new Error(`the base subsystems not connected\n${run.output()}`);
  const r: PathResult = {
    name: `stas (stafd ${dcHost === 'kernel' ? 'kernel' : 'userspace'} DC, stacd)`,
    add: [],
    remove: [],
    missed: 0,
    passes: [],
  };
  const counters = () =>
    run.metrics({
      stafd: ['stas_log_page_reads_total', 'stas_aen_total'],
      stacd: ['stas_reconcile_passes_total', 'stas_connects_total', 'stas_disconnects_total'],
    });
  const settled = async () => {
    if (!(await until(() => run.stacdSettled(), 60_000)))
      throw new Error(`stacd not settled\n${run.output()}`);
  };
  await sleep(500);
  await settled();
  // Idle: settled, nothing changing; a second later so that what the start-up allocated can be collected.
  await sleep(1000);
  r.idleRss = { stafd: procStats(run.pid('stafd')).rssMiB, stacd: procStats(run.pid('stacd')).rssMiB };
  const c0 = await counters();
  const added: string[] = [];
  for (let k = 0; k < CHANGES; k++) {
    const q = newSubsystem();
    added.push(q);
    nvmet.link(q, disc);
    const ms = await timeUntil(live(q));
    if (ms === undefined) r.missed++;
    else r.add.push(ms);
    await settled();
    const pi = await run.stacInfo();
    r.passes!.push({
      ms: Number.parseFloat(pi['last working pass'] ?? 'NaN'),
      phases: pi['last working pass phases'] ?? '',
    });
    // Changes apart by more than stafd's least interval between two reads of one DC (250 ms): each is a leading
    // edge, as the udev path's are.
    await sleep(300);
  }
  const c1 = await counters();
  for (const q of added) {
    nvmet.unlink(q, disc);
    const ms = await timeUntil(gone(q));
    if (ms === undefined) r.missed++;
    else r.remove.push(ms);
    await settled();
    await sleep(300);
  }
  const c2 = await counters();
  const per = (a: number, b: number) => ((b - a) / CHANGES).toFixed(2);
  r.counts =
    `per added subsystem: ${per(c0.stas_reconcile_passes_total!, c1.stas_reconcile_passes_total!)} stacd passes, ` +
    `${per(c0.stas_log_page_reads_total!, c1.stas_log_page_reads_total!)} stafd log reads, ` +
    `${per(c0.stas_aen_total!, c1.stas_aen_total!)} AENs, ${per(c0.stas_connects_total!, c1.stas_connects_total!)} connects; ` +
    `per removed: ${per(c1.stas_reconcile_passes_total!, c2.stas_reconcile_passes_total!)} passes, ` +
    `${per(c1.stas_log_page_reads_total!, c2.stas_log_page_reads_total!)} log reads, ` +
    `${per(c1.stas_disconnects_total!, c2.stas_disconnects_total!)} disconnects`;
  await run.stop();
  await disconnectAll();
  return r;
}

const results: PathResult[] = [];
results.push(await udevPath());
for (const h of HOSTS) results.push(await stasPath(h));
await resetLab(nvmet);

const f = (x: number) => (Number.isNaN(x) ? '-' : `${x.toFixed(0)} ms`);
console.log(
  `\nAEN -> new I/O controller live, removal -> gone (kernel lab, same boot; N=${N} subsystems connected, ` +
    `${CHANGES} changes each; sysfs polled every 10 ms):\n`,
);
table([
  ['path', 'add p50', 'add p95', 'add max', 'remove p50', 'remove p95', 'missed', 'idle RSS stafd/stacd'],
  ...results.map((r) => [
    r.name,
    f(pct(r.add, 50)),
    f(pct(r.add, 95)),
    f(Math.max(...r.add)),
    r.remove.length ? f(pct(r.remove, 50)) : 'never',
    r.remove.length ? f(pct(r.remove, 95)) : '',
    String(r.missed),
    r.idleRss ? `${r.idleRss.stafd.toFixed(0)}/${r.idleRss.stacd.toFixed(0)} MiB` : '',
  ]),
]);
console.log('');
for (const r of results) {
  console.log(`  ${r.name}: add ${r.add.map((x) => x.toFixed(0)).join(' ')}`);
  if (r.remove.length)
    console.log(`  ${' '.repeat(r.name.length)}  remove ${r.remove.map((x) => x.toFixed(0)).join(' ')}`);
  if (r.passes?.length) {
    const ms = r.passes.map((p) => p.ms);
    console.log(
      `  ${' '.repeat(r.name.length)}  stacd's connecting pass: p50 ${f(pct(ms, 50))} (median one: ${r.passes.find((p) => p.ms === pct(ms, 50))?.phases})`,
    );
  }
  if (r.counts) console.log(`  ${' '.repeat(r.name.length)}  ${r.counts}`);
}
emit('aen', {
  n: N,
  changes: CHANGES,
  paths: results.map((r) => ({
    name: r.name,
    kind: r.passes ? 'stas' : 'udev',
    addP50: pct(r.add, 50),
    addP95: pct(r.add, 95),
    removeP50: pct(r.remove, 50),
    removeP95: pct(r.remove, 95),
    added: r.add.length,
    removed: r.remove.length,
    missed: r.missed,
    idleRss: r.idleRss,
    counts: r.counts,
  })),
});
