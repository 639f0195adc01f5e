/**
 * Prints the time and memory of reading a large discovery log (default 10,000 entries) from the test double
 * over loopback with the userspace NVMe/TCP session. Usage: node dist/bench/dlp-read.js [entries] [rounds]
 */
import { DiscoverySession } from '../src/adapters/nvme-tcp/userspace-dc-session.js';
import { WELL_KNOWN_DISC_NQN } from '../src/core/tid.js';
import { DiscoveryTarget, ioEntry } from '../test/support/discovery-target.js';

const n = Number(process.argv[2] ?? 10000);
const rounds = Number(process.argv[3] ?? 5);
const target = new DiscoveryTarget({ entries: Array.from({ length: n }, (_, i) => ioEntry(i)) });
const port = await target.start();
const session = await DiscoverySession.connect({
  traddr: '127.0.0.1',
  trsvcid: port,
  hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  subsysnqn: WELL_KNOWN_DISC_NQN,
  katoMs: 0,
  commandTimeoutMs: 60000,
});
const times: number[] = [];
let peakRss = 0;
for (let r = 0; r < rounds; r++) {
  const t0 = process.hrtime.bigint();
  const log = await session.readDiscoveryLog({ maxEntries: n });
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  if (log.entries.length !== n) throw new Error(`read ${log.entries.length} entries, expected ${n}`);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}
await session.close();
await target.stop();
times.sort((a, b) => a - b);
const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
console.log(
  `discovery log read, ${n} entries (${mib(1024 * (n + 1))} MiB), ${rounds} rounds, target and host in one process`,
);
console.log(
  `  time   min ${times[0]!.toFixed(1)} ms   median ${times[Math.floor(times.length / 2)]!.toFixed(1)} ms   max ${times[times.length - 1]!.toFixed(1)} ms`,
);
console.log(
  `  memory peak RSS ${mib(peakRss)} MiB, heap used now ${mib(process.memoryUsage().heapUsed)} MiB`,
);
