/**
 * stacd at scale, in the kernel lab (bench/stacd-scale.sh boots it): one discovery log with N I/O controllers on
 * nvmet; prints the time until stacd has them all connected, sysfs scans and passes, stacd's CPU time and peak
 * RSS, against the same N connect writes done back to back by a minimal loop and by `nvme connect-all`; then the
 * AEN → new IOC connected latency over 20 changes. Figures only: nothing here asserts a timing.
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

function procStats(pid: number): { cpuMs: number; peakRssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuMs: (ticks * 1000) / 100, peakRssMiB: Number(hwm ?? 0) / 1024 };
}

const rows: string[][] = [
  [
    'N',
    'bare writes',
    'nvme connect-all',
    'stacd pass',
    'overhead',
    'start→all connected',
    'passes',
    'sysfs scans',
    'stacd CPU',
    'stacd peak RSS',
  ],
];
const host = newHostIdentity();
writeHostIdentity(host);
const nvmet = new Nvmet();
const aenLatencies: number[] = [];
const phases: string[] = [];

for (const n of sizes) {
  await resetLab(nvmet);
  const disc = nvmet.addDiscoveryPort();
  for (let i = 0; i < n; i++) nvmet.addSubsystem({ nqn: nqn(i), namespaces: [], ports: [disc] });

  // 1. The limit: N connect writes back to back.
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
  await disconnectAll();

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
  writeFileSync(join(dir, 'stacd.conf'), '[Global]\n');
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address };
  const stafd = spawn(
    process.execPath,
    ['dist/src/cli/stafd.js', '-f', join(dir, 'stafd.conf'), '--sys-conf', join(dir, 'sys.conf')],
    { env: { ...env, RUNTIME_DIRECTORY: join(dir, 'f') }, stdio: 'ignore' },
  );
  const bus = await openSystemBus({ address: dbus.address });
  // Let stafd fetch the log first: the stacd figure is stacd's own work.
  await new Promise((r) => setTimeout(r, 3000));
  t0 = now();
  const stacd = spawn(
    process.execPath,
    ['dist/src/cli/stacd.js', '-f', join(dir, 'stacd.conf'), '--sys-conf', join(dir, 'sys.conf')],
    { env: { ...env, RUNTIME_DIRECTORY: join(dir, 'c') }, stdio: 'ignore' },
  );
  const ok = await until(async () => (await ioCount()) >= n, 300_000);
  const stas = now() - t0;
  const stac = stacClient(bus);
  let info = JSON.parse(await stac.processInfo());
  // The pass that connected the last controllers has finished once process_info reports its duration.
  await until(async () => {
    info = JSON.parse(await stac.processInfo());
    return info['last working pass'] !== '';
  }, 30_000);
  const passMs = Number.parseFloat(info['last working pass']);
  phases.push(`N=${n}: ${info['last working pass phases']}`);
  const { cpuMs, peakRssMiB } = procStats(stacd.pid!);
  rows.push([
    String(n),
    `${bare.toFixed(0)} ms`,
    `${cli.toFixed(0)} ms`,
    `${passMs.toFixed(0)} ms`,
    `${(((passMs - bare) / bare) * 100).toFixed(0)} %`,
    ok ? `${stas.toFixed(0)} ms` : 'timeout',
    info['reconcile passes'],
    info['sysfs scans'],
    `${cpuMs.toFixed(0)} ms`,
    `${peakRssMiB.toFixed(1)} MiB`,
  ]);

  // 4. AEN → new IOC connected, on the largest N only.
  if (n === sizes[sizes.length - 1]) {
    for (let k = 0; k < AEN_ROUNDS; k++) {
      const q = `nqn.2024-01.io.stas-bench:aen${k}`;
      nvmet.addSubsystem({ nqn: q, namespaces: [], ports: [] });
      const before = await ioCount();
      const t1 = now();
      nvmet.link(q, disc);
      if (await until(async () => (await ioCount()) > before, 60_000)) aenLatencies.push(now() - t1);
    }
  }
  stacd.kill('SIGTERM');
  stafd.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  bus.disconnect();
  await dbus.stop();
  await disconnectAll();
}
await resetLab(nvmet);

const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(
  '\nstacd scale (kernel lab, TCG, 2 vCPUs). stacd pass: scan + stafd query + plan + all connects, vs the bare writes;\n  start→all connected adds node start-up, D-Bus set-up and the 1.5 s soak.',
);
for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}`.trimEnd());
for (const p of phases) console.log(`  stacd pass phases ${p}`);
if (aenLatencies.length) {
  console.log(
    `\nAEN -> new IOC connected (${aenLatencies.length} changes, N=${sizes[sizes.length - 1]}): p50 ${pct(aenLatencies, 50).toFixed(0)} ms, p95 ${pct(aenLatencies, 95).toFixed(0)} ms (includes stafd's re-read and stacd's 1.5 s soak)`,
  );
}
