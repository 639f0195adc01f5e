/**
 * Where connect time goes between bare writes and stacd, in the kernel lab (bench/connect-paths.sh boots it): N
 * subsystems behind one port, connected in turn by each path, rounds interleaved so that host drift hits all alike:
 *   - bare:     N synchronous open/write/read/close of /dev/nvme-fabrics from one loop (the limit);
 *   - fs c=1:   stacd's KernelFabrics on the node:fs thread-pool path, one write in flight;
 *   - fs c=2:   the same, two in flight (stacd's default);
 *   - native:   KernelFabrics through the addon's one-job connect (open, write, read, close on one pool thread);
 *   - +stafd:   native with an idle stafd running (its uevent watch sees every controller come and go).
 * After each, the N controllers are deleted in turn by one of: bare (sequential synchronous delete_controller
 * writes) and KernelFabrics.disconnect with 1, 2 or 4 deletes at once (stacd: 4).
 * Figures only: nothing is asserted.
 */

import { KernelFabrics } from '../src/adapters/kernel/fabrics.js';
import {
  controllers,
  disconnectAll,
  newHostIdentity,
  resetLab,
  writeHostIdentity,
} from '../test/lab/support/host.js';
import { Nvmet } from '../test/lab/support/nvmet.js';
import {
  addSubsystems,
  bareWrites,
  ioCount,
  median,
  now,
  requireLab,
  StasDaemons,
  table,
} from './lab-bench.js';

requireLab('connect-paths');
const N = Number(process.argv[2] ?? 256);
const ROUNDS = Number(process.argv[3] ?? 3);
const nqn = (i: number) => `nqn.2024-01.io.stas-bench:s${i}`;
const host = newHostIdentity();
writeHostIdentity(host);
const nvmet = new Nvmet();
await resetLab(nvmet);
const disc = nvmet.addDiscoveryPort();
addSubsystems(nvmet, disc, N, nqn);

async function viaAdapter(fabrics: KernelFabrics): Promise<number> {
  const t0 = now();
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      fabrics.connect({
        transport: 'tcp',
        traddr: disc.traddr,
        trsvcid: String(disc.trsvcid),
        nqn: nqn(i),
        hostNqn: host.hostnqn,
        hostId: host.hostid,
      }),
    ),
  );
  return now() - t0;
}

const paths: Record<string, () => Promise<number>> = {
  bare: async () => bareWrites(N, nqn, host, disc),
  'fs c=1': () => viaAdapter(new KernelFabrics({ concurrency: 1, native: false })),
  'fs c=2': () => viaAdapter(new KernelFabrics({ concurrency: 2, native: false })),
  'native c=2': () => viaAdapter(new KernelFabrics({ concurrency: 2 })),
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
times['native c=2 +stafd'] = [];

async function adapterDeletes(c: number): Promise<number> {
  const fabrics = new KernelFabrics({ deleteConcurrency: c });
  const t0 = now();
  await Promise.all(controllers().map((d) => fabrics.disconnect(d)));
  return now() - t0;
}
const deletes: Record<string, () => Promise<number>> = {
  'bare deletes': async () => {
    const t0 = now();
    await disconnectAll();
    return now() - t0;
  },
  'disconnect c=1': () => adapterDeletes(1),
  'disconnect c=2': () => adapterDeletes(2),
  'disconnect c=4': () => adapterDeletes(4),
};
const deleteTimes: Record<string, number[]> = Object.fromEntries(Object.keys(deletes).map((k) => [k, []]));
let d = 0;
/** Deletes every controller by the next delete path in turn; checks that none is left. */
async function deleteAll(): Promise<void> {
  const [name, run] = Object.entries(deletes)[d++ % Object.keys(deletes).length]!;
  deleteTimes[name]!.push(await run());
  if ((await ioCount()) > 0) throw new Error(`${name}: ${await ioCount()} controllers left`);
}

for (let r = 0; r < ROUNDS; r++) {
  for (const [name, run] of Object.entries(paths)) {
    times[name]!.push(await run());
    if ((await ioCount()) < N) throw new Error(`${name}: only ${await ioCount()} of ${N} connected`);
    await deleteAll();
  }
  // An idle stafd (no DC configured) beside the connects: its uevent watch takes every add and remove.
  const stafd = new StasDaemons(host, { stafd: '[Service Discovery]\nzeroconf = disabled\n', stacd: '' });
  await stafd.start('stafd');
  times['native c=2 +stafd']!.push(await viaAdapter(new KernelFabrics({ concurrency: 2 })));
  await stafd.stop();
  await deleteAll();
  console.error(`bench: round ${r + 1}/${ROUNDS} done`);
}
await resetLab(nvmet);

console.log(
  `\nconnect of N=${N} by path (kernel lab; ${ROUNDS} rounds interleaved; median, then every round)\n`,
);
const rows = (all: Record<string, number[]>, baseName: string) => {
  const base = median(all[baseName]!);
  return Object.entries(all).map(([k, v]) => [
    k,
    `${median(v).toFixed(0)} ms`,
    `${(median(v) / base).toFixed(2)}`,
    v.map((x) => x.toFixed(0)).join(' / '),
  ]);
};
table([['path', 'median', '× bare', 'rounds'], ...rows(times, 'bare')]);
console.log('');
table([['delete path', 'median', '× bare', 'rounds'], ...rows(deleteTimes, 'bare deletes')]);
