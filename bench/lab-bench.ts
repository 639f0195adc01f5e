/**
 * What the lab benches share (bench/aen-latency.ts, bench/stacd-scale.ts, bench/report.ts): the lab check, the
 * nvmet set-up of N subsystems behind one discovery port, sysfs polling (controller live / gone / count),
 * bare `/dev/nvme-fabrics` writes, stafd + stacd started on a private bus from THIS tsc output tree (so a bench
 * built into dist-x/ runs dist-x/'s daemons whatever the working directory), their metrics and /proc figures,
 * percentiles and plain-text tables, and the machine-readable results that bench/report.ts collects.
 * Runs INSIDE the lab guest (lab/vm-run.sh), as root. Figures only: nothing here asserts a timing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type StacClient, type StafClient, stacClient, stafClient } from '../src/adapters/dbus/clients.js';
import { type DBusConnection, openSystemBus } from '../src/adapters/dbus/service.js';
import { REGISTRY_DIR } from '../src/adapters/kernel/registry.js';
import { type HostIdentity, labSkipReason } from '../test/lab/support/host.js';
import type { Nvmet, Port } from '../test/lab/support/nvmet.js';
import { type DbusDaemon, startDbusDaemon } from '../test/support/dbus-daemon.js';
import { DAEMON_FLAGS } from './daemon-flags.js';

/** The tsc output tree this file belongs to (dist/, dist-bench/, ...). */
export const DIST = fileURLToPath(new URL('../', import.meta.url));
export const cliPath = (prog: string) => join(DIST, 'src', 'cli', `${prog}.js`);

/** Exits with status 2 and a hint when not inside the lab guest as root. */
export function requireLab(script: string): void {
  const skip = labSkipReason();
  if (skip) {
    console.error(`bench: ${skip}. Run it with bench/${script}.sh (or bench/report.sh).`);
    process.exit(2);
  }
}

export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** The p-th percentile (nearest rank, lower) of xs; NaN when empty. */
export const pct = (xs: number[], p: number) =>
  xs.length
    ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!
    : Number.NaN;
export const median = (xs: number[]) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Prints rows as aligned columns (two spaces of indent). */
export function table(rows: string[][]): void {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}`.trimEnd());
}

/**
 * Appends one result record to $STAS_BENCH_JSON (one JSON object a line) when set: how bench/report.ts
 * collects the figures of the parts it runs as child processes.
 */
export function emit(part: string, data: unknown): void {
  const file = process.env['STAS_BENCH_JSON'];
  if (file) appendFileSync(file, `${JSON.stringify({ part, data })}\n`);
}

// ---- sysfs polling ----

/** Polls `ok` every `everyMs` until it holds: the time it took, or undefined after `limitMs`. */
export async function timeUntil(
  ok: () => Promise<boolean> | boolean,
  limitMs = 60_000,
  everyMs = 10,
): Promise<number | undefined> {
  const t0 = now();
  while (now() - t0 < limitMs) {
    if (await ok()) return now() - t0;
    await sleep(everyMs);
  }
  return undefined;
}

/** Whether `cond` came to hold within `ms` (polled every 100 ms: cheap next to the daemons' work). */
export async function until(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  return (await timeUntil(cond, ms, 100)) !== undefined;
}

/** The number of controllers in /sys/class/nvme: one directory listing, so polling it costs the daemons little. */
export const ioCount = async () => (await readdir('/sys/class/nvme')).length;

/**
 * The number of discovery controllers in /sys/class/nvme (stafd's kernel DCs): what {@link ioCount} counts
 * beyond the I/O controllers. Read once per set-up, so the polling stays one listing.
 */
export const dcCount = async () => (await devicesOf('nqn.2014-08.org.nvmexpress.discovery')).length;

/** The controllers (nvmeN) of the subsystem `subnqn`. */
export async function devicesOf(subnqn: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir('/sys/class/nvme')) {
    try {
      if (readFileSync(`/sys/class/nvme/${d}/subsysnqn`, 'utf8').trim() === subnqn) out.push(d);
    } catch {
      // going away
    }
  }
  return out;
}

/** A condition: a controller of `subnqn` is in state `live`. */
export const live = (subnqn: string) => async () => {
  for (const d of await devicesOf(subnqn)) {
    try {
      if (readFileSync(`/sys/class/nvme/${d}/state`, 'utf8').trim() === 'live') return true;
    } catch {
      // going away
    }
  }
  return false;
};

/** A condition: no controller of `subnqn` is left. */
export const gone = (subnqn: string) => async () => (await devicesOf(subnqn)).length === 0;

// ---- the target ----

/**
 * One discovery port with `n` subsystems named `nqn(i)` behind it, on an nvmet emptied first (and the host's
 * controllers deleted). The subsystems have no namespace.
 */
export function addSubsystems(nvmet: Nvmet, disc: Port, n: number, nqn: (i: number) => string): void {
  for (let i = 0; i < n; i++) nvmet.addSubsystem({ nqn: nqn(i), namespaces: [], ports: [disc] });
}

/** The limit a connecting daemon is held against: `n` connect writes to /dev/nvme-fabrics back to back (ms). */
export function bareWrites(n: number, nqn: (i: number) => string, host: HostIdentity, port: Port): number {
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const fd = openSync('/dev/nvme-fabrics', 'r+');
    writeSync(
      fd,
      `transport=tcp,traddr=${port.traddr},trsvcid=${port.trsvcid},nqn=${nqn(i)},hostnqn=${host.hostnqn},hostid=${host.hostid}`,
    );
    readSync(fd, Buffer.alloc(64), 0, 64, 0);
    closeSync(fd);
  }
  return now() - t0;
}

// ---- the daemons ----

/** CPU time, RSS and peak RSS of a process (/proc). */
export function procStats(pid: number): { cpuMs: number; rssMiB: number; hwmMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { cpuMs: (ticks * 1000) / 100, rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
}

/** GET /metrics over a unix socket: the value of each unlabelled sample asked for. */
export function metrics(socketPath: string, names: string[]): Promise<Record<string, number>> {
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

/**
 * stafd and stacd of this tree on a private dbus-daemon, their config files in a temp dir, each serving its
 * metrics on a unix socket; D-Bus clients of both. `nodeArgs` go before the program (e.g. --cpu-prof).
 */
export class StasDaemons {
  readonly dir = mkdtempSync(join(tmpdir(), 'stas-bench-'));
  readonly sysConf = join(this.dir, 'sys.conf');
  readonly stafConf = join(this.dir, 'stafd.conf');
  readonly stacConf = join(this.dir, 'stacd.conf');
  readonly metricsSock = {
    stafd: join(this.dir, 'stafd-metrics.sock'),
    stacd: join(this.dir, 'stacd-metrics.sock'),
  };
  readonly proc: Partial<Record<'stafd' | 'stacd', ChildProcess>> = {};
  private out = { stafd: '', stacd: '' };
  private dbus: DbusDaemon | undefined;
  private bus: DBusConnection | undefined;
  private clients: { staf: StafClient; stac: StacClient } | undefined;

  constructor(
    host: HostIdentity,
    conf: { stafd: string; stacd: string },
    private readonly nodeArgs: (prog: 'stafd' | 'stacd') => string[] = () => [],
  ) {
    writeFileSync(this.sysConf, `[Host]\nnqn = ${host.hostnqn}\nid = ${host.hostid}\n`);
    writeFileSync(this.stafConf, conf.stafd);
    writeFileSync(this.stacConf, conf.stacd);
  }

  get staf(): StafClient {
    if (!this.clients) throw new Error('no bus yet');
    return this.clients.staf;
  }

  get stac(): StacClient {
    if (!this.clients) throw new Error('no bus yet');
    return this.clients.stac;
  }

  pid(prog: 'stafd' | 'stacd'): number {
    return this.proc[prog]!.pid!;
  }

  output(): string {
    return `--- stafd:\n${this.out.stafd}\n--- stacd:\n${this.out.stacd}`;
  }

  private async startBus(): Promise<void> {
    if (this.dbus) return;
    this.dbus = await startDbusDaemon();
    this.bus = await openSystemBus({ address: this.dbus.address });
    this.clients = {
      staf: stafClient(this.bus, { timeoutMs: 60_000 }),
      stac: stacClient(this.bus, { timeoutMs: 60_000 }),
    };
  }

  /** Spawns `prog`; with `wait`, returns once it answers on the bus (process_info). */
  async start(prog: 'stafd' | 'stacd', wait = true): Promise<void> {
    await this.startBus();
    const conf = prog === 'stafd' ? this.stafConf : this.stacConf;
    const p = spawn(
      process.execPath,
      [
        ...DAEMON_FLAGS,
        ...this.nodeArgs(prog),
        cliPath(prog),
        '-f',
        conf,
        '--sys-conf',
        this.sysConf,
        '--metrics',
        this.metricsSock[prog],
      ],
      {
        env: {
          ...process.env,
          DBUS_SYSTEM_BUS_ADDRESS: this.dbus!.address,
          RUNTIME_DIRECTORY: join(this.dir, prog),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    p.stdout!.on('data', (d) => (this.out[prog] += d));
    p.stderr!.on('data', (d) => (this.out[prog] += d));
    this.proc[prog] = p;
    if (!wait) return;
    const client = prog === 'stafd' ? this.staf : this.stac;
    const ok = await until(async () => {
      if (p.exitCode !== null) throw new Error(`${prog} exited (${p.exitCode})\n${this.output()}`);
      return client.processInfo().then(
        () => true,
        () => false,
      );
    }, 120_000);
    if (!ok) throw new Error(`${prog} not on the bus after 120 s\n${this.output()}`);
    if (!(await until(() => existsSync(this.metricsSock[prog]), 30_000)))
      throw new Error(`${prog} serves no metrics\n${this.output()}`);
  }

  /** stacd's process_info. */
  async stacInfo(): Promise<Record<string, string>> {
    return JSON.parse(await this.stac.processInfo()) as Record<string, string>;
  }

  /** Settled: no stacd pass running or due (process_info's config soak timer [off]). */
  async stacdSettled(): Promise<boolean> {
    return ((await this.stacInfo())['config soak timer'] ?? '').endsWith('[off]');
  }

  /** Waits for the end of a stacd working pass other than `previous` (process_info's last working pass). */
  async passDone(previous: string, ms = 300_000): Promise<Record<string, string>> {
    let i = await this.stacInfo();
    await until(async () => {
      i = await this.stacInfo();
      return i['last working pass'] !== '' && i['last working pass'] !== previous;
    }, ms);
    return i;
  }

  /** Rewrites stacd.conf and sends SIGHUP to stacd. */
  hupStacd(conf: string): void {
    writeFileSync(this.stacConf, conf);
    this.proc.stacd!.kill('SIGHUP');
  }

  /** Both daemons' metrics, the samples asked for of each. */
  async metrics(names: { stafd?: string[]; stacd?: string[] }): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const prog of ['stafd', 'stacd'] as const)
      if (names[prog]?.length && existsSync(this.metricsSock[prog]))
        Object.assign(out, await metrics(this.metricsSock[prog], names[prog]!));
    return out;
  }

  /** SIGTERM to both (stacd first, so that it does not react to stafd leaving), SIGKILL after 30 s; stops the bus. */
  async stop(): Promise<void> {
    for (const prog of ['stacd', 'stafd'] as const) {
      const p = this.proc[prog];
      if (!p || p.exitCode !== null || p.signalCode !== null) continue;
      const exited = once(p, 'exit');
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    this.bus?.close();
    await this.dbus?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Forgets stacd's ownership records (/run/nvme/registry): at the start of a bench part, once every controller is
 * deleted, so that records of deleted controllers do not name the devices the kernel hands out again.
 */
export function clearRegistry(): void {
  rmSync(REGISTRY_DIR, { recursive: true, force: true });
}
