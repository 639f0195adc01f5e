/**
 * The demo (runs inside the kernel lab guest; scripts/demo.sh boots it): the kernel nvmet target with three
 * subsystems, a private dbus-daemon, a real avahi-daemon announcing the discovery controller over mDNS, stafd and
 * stacd. It shows — through stafctl and stacctl, in human form — the DC found, its log page, the I/O controllers
 * connected, then adds a subsystem on the target and shows the AEN-driven connect.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controllers, ctrlAttr, labSkipReason, resetLab } from '../test/lab/support/host.js';
import { Nvmet } from '../test/lab/support/nvmet.js';
import { publishService, startAvahiDaemon } from '../test/support/avahi.js';
import { startDbusDaemon } from '../test/support/dbus-daemon.js';

const skip = labSkipReason();
if (skip) {
  console.error(`demo: ${skip}. Run it with scripts/demo.sh.`);
  process.exit(2);
}
const t0 = Date.now();
const say = (s: string) =>
  console.log(`\n\x1b[1m== ${s}\x1b[0m  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
const nqn = (i: number) => `nqn.2024-01.io.stas-demo:subsys${i}`;
/** I/O controllers only: stafd's discovery controllers are kernel controllers too (its default). */
const ioCount = () =>
  controllers().filter((c) => {
    try {
      return ctrlAttr(c, 'cntrltype') === 'io';
    } catch {
      return false; // vanished meanwhile
    }
  }).length;
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'stas-demo-'));
const sys = join(dir, 'sys.conf');
say('host identity (stasadm)');
execFileSync(process.execPath, ['dist/src/cli/stasadm.js', '-c', sys, 'hostnqn', '-f', '/etc/nvme/hostnqn']);
execFileSync(process.execPath, ['dist/src/cli/stasadm.js', '-c', sys, 'hostid', '-f', '/etc/nvme/hostid']);
execFileSync(process.execPath, ['dist/src/cli/stasadm.js', '-c', sys, 'set-symname', 'stas demo host']);
console.log(`  ${sys}:\n${execFileSync('cat', [sys], { encoding: 'utf8' }).replace(/^/gm, '    ')}`);

say('target: kernel nvmet, discovery on 127.0.0.1:8009 with three subsystems');
const nvmet = new Nvmet();
await resetLab(nvmet);
const disc = nvmet.addDiscoveryPort();
for (const i of [1, 2, 3])
  nvmet.addSubsystem({
    nqn: nqn(i),
    namespaces: [{ backend: 'null_blk', sizeBytes: 64 << 20 }],
    ports: [disc],
  });

say('system services: a private dbus-daemon and avahi-daemon; the DC announced with avahi-publish');
const dbus = await startDbusDaemon();
const avahi = await startAvahiDaemon(dbus.address);
const pub = publishService(dbus.address, 'stas demo DC', '_nvme-disc._tcp', 8009, ['p=tcp']);
await pub.established;
console.log('  avahi-publish -s "stas demo DC" _nvme-disc._tcp 8009 p=tcp');

say('stafd and stacd start (no controller= line: everything comes from mDNS)');
writeFileSync(join(dir, 'stafd.conf'), '[Global]\nkato = 30\n');
writeFileSync(join(dir, 'stacd.conf'), '[Global]\n');
const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address };
const daemons = (['stafd', 'stacd'] as const).map((p) =>
  spawn(process.execPath, [`dist/src/cli/${p}.js`, '-f', join(dir, `${p}.conf`), '--sys-conf', sys], {
    env: { ...env, RUNTIME_DIRECTORY: join(dir, p) },
    stdio: 'ignore',
  }),
);
const ctl = (prog: 'stafctl' | 'stacctl', ...args: string[]) =>
  execFileSync(process.execPath, [`dist/src/cli/${prog}.js`, ...args], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
const ctlOk = (prog: 'stafctl' | 'stacctl', ...args: string[]) => {
  try {
    return ctl(prog, ...args);
  } catch {
    return '';
  }
};

await until('stafd to find and read the DC', () => /subsys3/.test(ctlOk('stafctl', '-H', 'adlp')));
say('stafctl -H ls: the discovery controller found by mDNS');
console.log(ctl('stafctl', '-H', 'ls'));
say('stafctl -H adlp: its discovery log page');
console.log(ctl('stafctl', '-H', 'adlp'));

await until('stacd to connect the three I/O controllers', () => ioCount() >= 3);
say('stacctl -H ls: the I/O controllers stacd connected through the kernel');
console.log(ctl('stacctl', '-H', 'ls'));
console.log('  the kernel view: ', readdirSync('/sys/class/nvme').join(' '));

say('target change: subsys4 added to the discovery port -> AEN');
nvmet.addSubsystem({ nqn: nqn(4), namespaces: [{ backend: 'null_blk', sizeBytes: 64 << 20 }], ports: [] });
const tChange = Date.now();
nvmet.link(nqn(4), disc);
await until('the AEN-driven connect of subsys4', () => ioCount() >= 4);
console.log(
  `  subsys4 connected ${((Date.now() - tChange) / 1000).toFixed(1)} s after the change (AEN, stafd re-read, stacd pass)`,
);
console.log(ctl('stacctl', '-H', 'ls'));
say('stacctl -H plan: what stacd would do now (nothing left to do)');
console.log(ctl('stacctl', '-H', 'plan'));

say('stop: SIGTERM to both daemons; the connections stay in place');
for (const d of daemons) d.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 1000));
console.log(`  controllers still connected: ${ioCount()}`);
await pub.stop();
await avahi.stop();
await dbus.stop();
await resetLab(nvmet);
say('done');
