/**
 * The lab demo (runs inside the kernel lab guest; scripts/demo.sh boots it): a real nvmet target with three
 * subsystems, stas' host identity from stasadm, the userspace NVMe/TCP discovery session reading the target's
 * discovery log, every I/O controller connected through the kernel, then a subsystem added on the target and the
 * AEN-driven connect of it.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { loadHostIdentity } from '../src/adapters/host-identity.js';
import { KernelFabrics } from '../src/adapters/kernel/fabrics.js';
import { scanControllers } from '../src/adapters/kernel/sysfs.js';
import { DiscoverySession } from '../src/adapters/nvme-tcp/discovery-session.js';
import type { DiscoveryLogEntry } from '../src/core/nvme/discovery-log.js';
import { SubType } from '../src/core/nvme/discovery-log.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../src/core/tid.js';
import { labSkipReason } from '../test/lab/support/host.js';
import { Nvmet } from '../test/lab/support/nvmet.js';

const skip = labSkipReason();
if (skip) {
  console.error(`demo: ${skip}. Run it with scripts/demo.sh.`);
  process.exit(2);
}

const say = (s: string) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);
const subtype = (n: number) => ({ 1: 'referral', 2: 'nvme', 3: 'discovery' })[n] ?? String(n);
function table(rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}`.trimEnd());
}

say('host identity (stasadm)');
execFileSync(process.execPath, [
  'dist/src/cli/stasadm.js',
  '-c',
  '/etc/stas/sys.conf',
  'hostnqn',
  '-f',
  '/etc/nvme/hostnqn',
]);
execFileSync(process.execPath, [
  'dist/src/cli/stasadm.js',
  '-c',
  '/etc/stas/sys.conf',
  'hostid',
  '-f',
  '/etc/nvme/hostid',
]);
const { identity } = loadHostIdentity('/etc/stas/sys.conf');
console.log(`  host NQN ${identity.hostNqn}\n  host ID  ${identity.hostId}`);

say('target: kernel nvmet, discovery on 127.0.0.1:8009, I/O on 127.0.0.1:4420');
const nvmet = new Nvmet();
nvmet.teardown();
const disc = nvmet.addDiscoveryPort();
const io = nvmet.addPort({ trsvcid: 4420 });
const nqn = (i: number) => `nqn.2024-01.io.stas-demo:subsys${i}`;
for (const i of [1, 2, 3]) {
  nvmet.addSubsystem({
    nqn: nqn(i),
    namespaces: [{ backend: 'null_blk', sizeBytes: 64 << 20 }],
    ports: [io],
  });
  nvmet.link(nqn(i), disc);
}
console.log(`  subsystems: ${[1, 2, 3].map(nqn).join(', ')}`);

say('discovery controller (userspace NVMe/TCP)');
const session = await DiscoverySession.connect({
  traddr: '127.0.0.1',
  trsvcid: 8009,
  hostNqn: identity.hostNqn,
  hostId: identity.hostId,
  subsysnqn: WELL_KNOWN_DISC_NQN,
  katoMs: 30_000,
});
console.log(
  `  connected: cntlid ${session.cntlid}, model "${session.identify.model}", ${session.identify.subnqn}`,
);
await session.enableDiscoveryChangeNotices();

const showLog = (entries: DiscoveryLogEntry[]) =>
  table([
    ['subtype', 'traddr', 'trsvcid', 'subnqn'],
    ...entries.map((e) => [subtype(e.subtype), e.traddr, e.trsvcid, e.subnqn]),
  ]);
let log = await session.readDiscoveryLog();
say(`discovery log page (genctr ${log.genctr}, ${log.entries.length} entries)`);
showLog(log.entries);

const kernel = new KernelFabrics();
const connected = new Set<string>();
async function connectAll(entries: DiscoveryLogEntry[]): Promise<void> {
  for (const e of entries.filter((x) => x.subtype === SubType.nvme)) {
    // The log lists the discovery port; nvmet serves the same subsystems for I/O on 4420.
    const tid = Tid.from(
      { transport: 'tcp', traddr: e.traddr, trsvcid: '4420', subsysnqn: e.subnqn },
      { defaultHostNqn: identity.hostNqn },
    );
    if (connected.has(tid.key())) continue;
    const c = await kernel.connect({
      transport: tid.transport,
      traddr: tid.traddr,
      trsvcid: tid.trsvcid,
      nqn: tid.subsysnqn,
      hostNqn: tid.hostNqn,
      hostId: identity.hostId,
      kato: 120,
    });
    connected.add(tid.key());
    console.log(`  ${tid.toString()} | ${c.device} - Connection established!`);
  }
}
async function showKernel(): Promise<void> {
  const ctrls = await scanControllers();
  table([
    ['device', 'state', 'transport', 'address', 'subsysnqn'],
    ...ctrls.map((c) => [c.device, c.state, c.transport, `${c.traddr}:${c.trsvcid}`, c.subsysnqn]),
  ]);
}

say('connecting the I/O controllers through /dev/nvme-fabrics');
await connectAll(log.entries);
say('kernel view (one sysfs scan)');
await showKernel();

say('target change: subsys4 added to the port -> AEN');
const aen = once(session, 'aen');
nvmet.addSubsystem({ nqn: nqn(4), namespaces: [{ backend: 'null_blk', sizeBytes: 64 << 20 }], ports: [io] });
const t0 = Date.now();
nvmet.link(nqn(4), disc);
const [event] = await aen;
console.log(
  `  AEN received after ${Date.now() - t0} ms: type ${event.type}, info 0x${event.info.toString(16)}, log page 0x${event.logPage.toString(16)}`,
);
log = await session.readDiscoveryLog();
say(`discovery log page (genctr ${log.genctr}, ${log.entries.length} entries)`);
showLog(log.entries);
await connectAll(log.entries);
say('kernel view');
await showKernel();

say('clean up');
await session.close();
for (const c of await scanControllers()) await kernel.disconnect(c.device);
nvmet.teardown();
console.log('  done');
