/**
 * Prints the start-up time of the daemons as tsc compiles them (dist/src/cli/*.js, one module per source file)
 * and as `make install` ships them (dist/bundle/*.mjs, tools/bundle.ts): `--version`
 * (which loads the whole program), and start → bus name owned on a private dbus-daemon (root; zeroconf off, no
 * controller). Each figure is the median (and the slowest) of the rounds, with a warm page cache and, when
 * /proc/sys/vm/drop_caches is writable (root, not in a container that hides it), a cold one: the caches are
 * dropped before each cold round. `node -e 0` is the floor. No assertion: figures only.
 * Usage: node dist/bench/startup.js [rounds]   (npm run build first: it makes dist/bundle/)
 * STAS_BENCH_JSON=FILE also appends the medians to FILE as JSON (bench/report.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { watchName } from '../src/adapters/dbus/clients.js';
import { STACD_DBUS_NAME, STAFD_DBUS_NAME } from '../src/adapters/dbus/idl.js';
import { openSystemBus } from '../src/adapters/dbus/service.js';
import { haveDbusDaemon, startDbusDaemon } from '../test/support/dbus-daemon.js';
import { emit } from './lab-bench.js';

const rounds = Number(process.argv[2] ?? 7);
const TSC = fileURLToPath(new URL('../src/cli/', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../bundle/', import.meta.url));
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';

if (!existsSync(join(BUNDLE, 'stafd.mjs'))) {
  process.stderr.write(`startup: ${BUNDLE} missing: run npm run build\n`);
  process.exit(2);
}

function dropCaches(): boolean {
  try {
    spawnSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}
const canDrop = dropCaches();

const program = (kind: 'tsc' | 'bundle', prog: string) =>
  kind === 'tsc' ? join(TSC, `${prog}.js`) : join(BUNDLE, `${prog}.mjs`);

/** Milliseconds from spawn to exit of `node args`. */
function timedRun(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, args, { stdio: 'ignore' });
    p.once('error', reject);
    p.once('exit', (code) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`node ${args.join(' ')}: exit status ${code}`));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'stas-bench-startup-'));
const sysConf = join(dir, 'sys.conf');
writeFileSync(sysConf, `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
writeFileSync(join(dir, 'stafd.conf'), '[Service Discovery]\nzeroconf = disabled\n');
writeFileSync(join(dir, 'stacd.conf'), '');
const dbus = haveDbusDaemon() && process.geteuid?.() === 0 ? await startDbusDaemon() : undefined;
const bus = dbus ? await openSystemBus({ address: dbus.address }) : undefined;

/** Milliseconds from spawn to the daemon's bus name owned; the daemon is then stopped (SIGTERM). */
async function timedBusName(file: string, prog: 'stafd' | 'stacd', round: number): Promise<number> {
  const name = prog === 'stafd' ? STAFD_DBUS_NAME : STACD_DBUS_NAME;
  let owned: (ms: number) => void = () => {};
  const got = new Promise<number>((r) => (owned = r));
  let t0 = 0;
  const watch = await watchName(bus!, name, (owner) => {
    if (owner) owned(performance.now() - t0);
  });
  t0 = performance.now();
  const p = spawn(process.execPath, [file, '-f', join(dir, `${prog}.conf`), '--sys-conf', sysConf], {
    env: {
      ...process.env,
      DBUS_SYSTEM_BUS_ADDRESS: dbus!.address,
      RUNTIME_DIRECTORY: join(dir, `run-${prog}-${round}`),
    },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const failed = exited.then(() => {
    throw new Error(`${prog} (${file}) exited before taking its bus name`);
  });
  const ms = await Promise.race([got, failed]);
  p.kill('SIGTERM');
  await exited;
  await watch.close();
  return ms;
}

interface Row {
  what: string;
  warm: number[];
  cold: number[];
}

async function measure(what: string, once: (round: number) => Promise<number>): Promise<Row> {
  const row: Row = { what, warm: [], cold: [] };
  await once(-1); // fills the page cache
  for (let i = 0; i < rounds; i++) row.warm.push(await once(i));
  if (canDrop) {
    for (let i = 0; i < rounds; i++) {
      dropCaches();
      row.cold.push(await once(rounds + i));
    }
  }
  return row;
}

const rows: Row[] = [];
rows.push(await measure('node -e 0', () => timedRun(['-e', '0'])));
for (const prog of ['stafd', 'stacd'] as const) {
  for (const kind of ['tsc', 'bundle'] as const) {
    rows.push(
      await measure(`${prog} --version (${kind})`, () => timedRun([program(kind, prog), '--version'])),
    );
  }
}
if (bus) {
  for (const prog of ['stafd', 'stacd'] as const) {
    for (const kind of ['tsc', 'bundle'] as const) {
      rows.push(
        await measure(`${prog} start → bus name (${kind})`, (round) =>
          timedBusName(program(kind, prog), prog, round),
        ),
      );
    }
  }
} else {
  process.stderr.write('startup: no dbus-daemon or not root: start → bus name left out\n');
}
bus?.close();
await dbus?.stop();
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};
const cell = (xs: number[]) =>
  xs.length ? `${median(xs).toFixed(0)} ms (max ${Math.max(...xs).toFixed(0)})` : 'n/a';
process.stdout.write(
  `node ${process.version}, ${rounds} rounds each; cold = page cache dropped before each round` +
    `${canDrop ? '' : ' (not possible here: /proc/sys/vm/drop_caches is not writable)'}\n\n`,
);
process.stdout.write('| what | warm: median (max) | cold: median (max) |\n|---|---|---|\n');
for (const r of rows) process.stdout.write(`| ${r.what} | ${cell(r.warm)} | ${cell(r.cold)} |\n`);
emit('startup', {
  rounds,
  canDrop,
  rows: rows.map((r) => ({
    what: r.what,
    warm: r.warm.length ? median(r.warm) : null,
    cold: r.cold.length ? median(r.cold) : null,
  })),
});
