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
 * Also counted, per change: stacd passes, stafd log page reads and AENs (metrics).
 * Figures only: nothing here asserts a timing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connectOptions,
  ctrlAttr,
  disconnectAll,
  fabricsConnect,
  GUEST_BUSYBOX,
  labSkipReason,
  newHostIdentity,
  resetLab,
  writeHostIdentity,
} from '../test/lab/support/host.js';
import { DISCOVERY_NQN, Nvmet, type Port } from '../test/lab/support/nvmet.js';
import { controllerLine, type DcHost, stafdConf } from '../test/lab/support/stafd-run.js';
import { clearRegistry, StasRun } from '../test/lab/support/stas-run.js';

const skip = labSkipReason();
if (skip) {
  console.error(`bench: ${skip}. Run it with bench/aen-latency.sh.`);
  process.exit(2);
}
const N = Number(process.argv[2] ?? 16);
const CHANGES = Number(process.argv[3] ?? 20);
const HOSTS = (process.argv[4] ?? 'kernel,userspace').split(',') as DcHost[];
const nqn = (i: number) => `nqn.2024-01.io.stas-bench:base${i}`;
const now = () => Number(process.hrtime.bigint()) / 1e6;

const pct = (xs: number[], p: number) =>
  xs.length
    ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!
    : Number.NaN;

/** The device of a controller of `subnqn` that satisfies `ok` (sysfs), polled every 10 ms; the time it took. */
async function timeUntil(ok: () => Promise<boolean>, limitMs = 60_000): Promise<number | undefined> {
  const t0 = now();
  while (now() - t0 < limitMs) {
    if (await ok()) return now() - t0;
    await sleep(10);
  }
  return undefined;
}
const devicesOf = async (subnqn: string): Promise<string[]> => {
  const out: string[] = [];
  for (const d of await readdir('/sys/class/nvme')) {
    try {
      if (readFileSync(`/sys/class/nvme/${d}/subsysnqn`, 'utf8').trim() === subnqn) out.push(d);
    } catch {
      // going away
    }
  }
  return out;
};
const live = (subnqn: string) => async () => {
  for (const d of await devicesOf(subnqn)) {
    try {
      if (readFileSync(`/sys/class/nvme/${d}/state`, 'utf8').trim() === 'live') return true;
    } catch {
      // going away
    }
  }
  return false;
};
const gone = (subnqn: string) => async () => (await devicesOf(subnqn)).length === 0;

/** GET /metrics over a unix socket: the value of each unlabelled sample asked for. */
function metrics(socketPath: string, names: string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const out: Record<string, number> = {};
        for (const n of names)
          out[n] = Number(new RegExp(`^${n} (\\S+)$`, 'm').exec(body)?.[1] ?? Number.NaN);
        resolve(out);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface PathResult {
  name: string;
  add: number[];
  remove: number[];
  missed: number;
  counts?: string;
  /** stacd's working pass of each added subsystem (process_info): its duration and phases. */
  passes?: { ms: number; phases: string }[];
}

const host = newHostIdentity();
writeHostIdentity(host);
const nvmet = new Nvmet();
await resetLab(nvmet);
clearRegistry();
const disc: Port = nvmet.addDiscoveryPort();
for (let i = 0; i < N; i++) nvmet.addSubsystem({ nqn: nqn(i), namespaces: [], ports: [disc] });
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
  const run = new StasRun(host);
  run.writeStafdConf(stafdConf({ controllers: [controllerLine(disc.trsvcid, disc.traddr)], dcHost }));
  run.writeStacdConf('[Global]\n');
  const fm = join(run.dir, 'stafd-metrics.sock');
  const cm = join(run.dir, 'stacd-metrics.sock');
  run.args.stafd.push('--metrics', fm);
  run.args.stacd.push('--metrics', cm);
  await run.startStafd();
  await run.startStacd();
  await run.until('the base subsystems connected', baseConnected, 300_000);
  await run.until('metrics', () => existsSync(fm) && existsSync(cm));
  const r: PathResult = {
    name: `stas (stafd ${dcHost === 'kernel' ? 'kernel' : 'userspace'} DC, stacd)`,
    add: [],
    remove: [],
    missed: 0,
    passes: [],
  };
  const counters = async () => ({
    ...(await metrics(fm, ['stas_log_page_reads_total', 'stas_aen_total'])),
    ...(await metrics(cm, ['stas_reconcile_passes_total', 'stas_connects_total', 'stas_disconnects_total'])),
  });
  /** Settled: no pass running or due (process_info's config soak timer [off]). */
  const settled = async () =>
    (
      (JSON.parse(await run.stac.processInfo()) as Record<string, string>)['config soak timer'] ?? ''
    ).endsWith('[off]');
  await sleep(500);
  await run.until('stacd settled', settled);
  const c0 = await counters();
  const added: string[] = [];
  for (let k = 0; k < CHANGES; k++) {
    const q = newSubsystem();
    added.push(q);
    nvmet.link(q, disc);
    const ms = await timeUntil(live(q));
    if (ms === undefined) r.missed++;
    else r.add.push(ms);
    await run.until('stacd settled', settled);
    const pi = JSON.parse(await run.stac.processInfo()) as Record<string, string>;
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
    await run.until('stacd settled', settled);
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
  await run.stop('stacd');
  await run.stop('stafd');
  await run.cleanup();
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
const rows = [
  ['path', 'add p50', 'add p95', 'add max', 'remove p50', 'remove p95', 'missed'],
  ...results.map((r) => [
    r.name,
    f(pct(r.add, 50)),
    f(pct(r.add, 95)),
    f(Math.max(...r.add)),
    r.remove.length ? f(pct(r.remove, 50)) : 'never',
    r.remove.length ? f(pct(r.remove, 95)) : '',
    String(r.missed),
  ]),
];
const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const row of rows) console.log(`  ${row.map((c, i) => c.padEnd(w[i]!)).join('  ')}`.trimEnd());
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
