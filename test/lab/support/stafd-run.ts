/**
 * The stafd program for the lab tests: a private dbus-daemon, the real stafd process
 * (`node dist/src/cli/stafd.js -f CONF --sys-conf SYS` with DBUS_SYSTEM_BUS_ADDRESS and RUNTIME_DIRECTORY, as
 * test/integration/stafd-daemon.test.ts runs it), a D-Bus client subscribed to its signals, bounded waits that show
 * stafd's output when they time out, and cleanup when the test ends.
 *
 * Runs INSIDE the lab guest (lab/vm-run.sh), as root. Which host carries the discovery controllers is the test's
 * choice ({@link DcHost}): the kernel's (stafd's default: kernel discovery controllers, /dev/nvme-fabrics, the
 * passthrough ioctl, uevents) or stafd's own userspace NVMe/TCP host (`kernel-discovery = false`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type StafClient, stafClient, type TidArgs } from '../../../src/adapters/dbus/clients.js';
import { type DBusConnection, openSystemBus } from '../../../src/adapters/dbus/service.js';
import { WELL_KNOWN_DISC_NQN } from '../../../src/core/tid.js';
import { type DbusDaemon, startDbusDaemon } from '../../support/dbus-daemon.js';
import { scaled } from '../../support/slow.js';
import type { HostIdentity } from './host.js';

export const STAFD_JS = fileURLToPath(new URL('../../../src/cli/stafd.js', import.meta.url));
/**
 * Longest wait for any condition (the slowest path in these tests is a 3 s reconnect); every wait is scaled by
 * STAS_LAB_SLOW.
 */
export const WAIT_MS = 30_000;

/** One `controller=` line for a TCP discovery controller. */
export function controllerLine(trsvcid: number | string, traddr = '127.0.0.1', extra = ''): string {
  return `controller = transport=tcp;traddr=${traddr};trsvcid=${trsvcid}${extra}`;
}

/**
 * Which host carries stafd's tcp discovery controllers: 'kernel' (stafd's default) or 'userspace'
 * (`kernel-discovery = false`).
 */
export type DcHost = 'kernel' | 'userspace';

/**
 * The host of the lab tests that do not choose one: $STAS_LAB_DC_HOST (set by the userspace variants of the
 * scenario files, e.g. stafd-userspace.test.ts), else the kernel (stafd's default).
 */
export function labDcHost(): DcHost {
  return process.env['STAS_LAB_DC_HOST'] === 'userspace' ? 'userspace' : 'kernel';
}

/**
 * stafd.conf text from its sections (zeroconf disabled unless asked for). `dcHost` (default {@link labDcHost})
 * adds `kernel-discovery = false` for the userspace host, unless the test sets kernel-discovery itself.
 */
export function stafdConf(o: {
  global?: string[];
  zeroconf?: boolean;
  dccm?: string[];
  controllers?: string[];
  dcHost?: DcHost;
}): string {
  const dccm = o.dccm ?? [];
  const chosen = dccm.some((l) => /^\s*kernel-discovery\s*=/.test(l));
  const host = o.dcHost ?? labDcHost();
  return [
    '[Global]',
    ...(o.global ?? []),
    '[Service Discovery]',
    `zeroconf = ${o.zeroconf ? 'enabled' : 'disabled'}`,
    '[Discovery controller connection management]',
    ...dccm,
    ...(host === 'userspace' && !chosen ? ['kernel-discovery = false'] : []),
    '[Controllers]',
    ...(o.controllers ?? []),
    '',
  ].join('\n');
}

export interface StafdRunOptions {
  host: HostIdentity;
  /** stafd.conf text. */
  conf: string;
  /** sys.conf [Host] symname. */
  symname?: string;
}

export interface LogPagesChanged {
  tid: TidArgs;
  device: string;
}

/** A private bus, stafd on it (restartable, same files and runtime directory), and a client. */
export class StafdRun {
  readonly dir: string;
  readonly confPath: string;
  readonly sysPath: string;
  readonly runDir: string;
  /** log_pages_changed signals received (across stafd restarts). */
  readonly changed: LogPagesChanged[] = [];
  /** dc_removed signals received. */
  dcRemoved = 0;
  proc: ChildProcess | undefined;
  private out = '';
  private dbus: DbusDaemon | undefined;
  private bus: DBusConnection | undefined;
  private client: StafClient | undefined;
  private readonly cleanups: (() => unknown)[] = [];

  constructor(readonly opts: StafdRunOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'stas-lab-stafd-'));
    this.confPath = join(this.dir, 'stafd.conf');
    this.sysPath = join(this.dir, 'sys.conf');
    this.runDir = join(this.dir, 'run');
    this.writeConf(opts.conf);
    writeFileSync(
      this.sysPath,
      `[Host]\nnqn = ${opts.host.hostnqn}\nid = ${opts.host.hostid}\n${opts.symname ? `symname = ${opts.symname}\n` : ''}`,
    );
  }

  /** The private bus address (for avahi-daemon, avahi-publish, busctl). */
  get busAddress(): string {
    if (!this.dbus) throw new Error('the private bus is not running');
    return this.dbus.address;
  }

  get staf(): StafClient {
    if (!this.client) throw new Error('no D-Bus client yet');
    return this.client;
  }

  /** Everything stafd printed, over all its runs in this test. */
  output(): string {
    return this.out;
  }

  writeConf(text: string): void {
    writeFileSync(this.confPath, text);
  }

  /** Starts the private dbus-daemon and connects the client (once), subscribed to both stafd signals. */
  async startBus(): Promise<void> {
    if (this.dbus) return;
    this.dbus = await startDbusDaemon();
    this.cleanups.push(() => this.dbus?.stop());
    this.bus = await openSystemBus({ address: this.dbus.address });
    this.cleanups.push(() => this.bus?.close());
    this.client = stafClient(this.bus, { timeoutMs: scaled(10_000) });
    // The subscriptions follow the owner of org.nvmexpress.staf, so they survive stafd restarts.
    const s1 = await this.client.onLogPagesChanged((tid, device) => this.changed.push({ tid, device }));
    const s2 = await this.client.onDcRemoved(() => this.dcRemoved++);
    this.cleanups.push(
      () => s1.close(),
      () => s2.close(),
    );
  }

  /** Spawns stafd and resolves once it answers on the bus. */
  async start(): Promise<void> {
    await this.startBus();
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null)
      throw new Error('stafd is already running');
    this.out += `----- stafd start (${new Date().toISOString()})\n`;
    const p = spawn(process.execPath, [STAFD_JS, '-f', this.confPath, '--sys-conf', this.sysPath], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: this.busAddress, RUNTIME_DIRECTORY: this.runDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stdout!.on('data', (d) => (this.out += d));
    p.stderr!.on('data', (d) => (this.out += d));
    this.proc = p;
    await this.until('stafd on the bus', async () => {
      if (p.exitCode !== null || p.signalCode !== null)
        throw new Error(`stafd exited (${p.exitCode ?? p.signalCode})\n${this.out}`);
      try {
        await this.staf.processInfo();
        return true;
      } catch {
        return false;
      }
    });
  }

  /** True while the stafd process runs. */
  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  hup(): void {
    this.proc?.kill('SIGHUP');
  }

  /** Sends `signal` and waits (bounded) for stafd to exit; returns its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const p = this.proc;
    if (!p) return null;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = once(p, 'exit');
      p.kill(signal);
      const timer = setTimeout(() => p.kill('SIGKILL'), scaled(WAIT_MS));
      await exited;
      clearTimeout(timer);
    }
    return p.exitCode;
  }

  /** Polls `cond` every 100 ms until it holds; throws after `ms` (scaled) with stafd's output. */
  async until(what: string, cond: () => Promise<boolean> | boolean, ms = WAIT_MS): Promise<void> {
    const limit = scaled(ms);
    const end = Date.now() + limit;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > end)
        throw new Error(`timed out after ${limit} ms waiting for ${what}\n--- stafd:\n${this.out}`);
      await sleep(100);
    }
  }

  /** The transport ID of a TCP DC as D-Bus takes it (system host NQN, no host-traddr/iface). */
  tid(trsvcid: number | string, traddr = '127.0.0.1', hostIface = ''): TidArgs {
    return ['tcp', traddr, String(trsvcid), WELL_KNOWN_DISC_NQN, '', hostIface, this.opts.host.hostnqn];
  }

  /** The transport ID of a controller dictionary of list_controllers. */
  static tidOf(c: Record<string, string>): TidArgs {
    const f = (k: string) => c[k] ?? '';
    return [
      f('transport'),
      f('traddr'),
      f('trsvcid'),
      f('subsysnqn'),
      f('host-traddr'),
      f('host-iface'),
      f('host-nqn'),
    ];
  }

  /** `trsvcid`s of the current DCs, sorted. */
  async dcPorts(): Promise<string[]> {
    return (await this.staf.listControllers(false)).map((c) => c['trsvcid'] ?? '').sort();
  }

  /** controller_info of a DC, parsed. */
  async info(tid: TidArgs): Promise<Record<string, string>> {
    return JSON.parse(await this.staf.controllerInfo(...tid)) as Record<string, string>;
  }

  /** get_all_log_pages(false), parsed. */
  async allLogPages(): Promise<
    { 'discovery-controller': Record<string, string>; 'log-pages': Record<string, string>[] }[]
  > {
    return JSON.parse(await this.staf.getAllLogPages(false));
  }

  /** Kills stafd (if still running), closes the client, stops the bus and removes the files. */
  async cleanup(): Promise<void> {
    if (this.running) {
      const exited = once(this.proc!, 'exit');
      this.proc!.kill('SIGKILL');
      await exited;
    }
    for (const c of this.cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A private bus with stafd running on it; everything is cleaned up when the test ends. */
export async function startStafd(
  t: { after: (fn: () => unknown) => void },
  opts: StafdRunOptions,
): Promise<StafdRun> {
  const run = new StafdRun(opts);
  t.after(() => run.cleanup());
  await run.start();
  return run;
}
