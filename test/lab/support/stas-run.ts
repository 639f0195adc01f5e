/**
 * stafd + stacd on a private bus for the lab tests (as test/lab/stacd.test.ts runs them): config files in a temp
 * dir, both daemons restartable and reloadable (SIGHUP), D-Bus clients of both, bounded waits that show both
 * daemons' output when they time out, and the kernel's I/O controllers.
 *
 * Runs INSIDE the lab guest (lab/vm-run.sh), as root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type StacClient,
  type StafClient,
  stacClient,
  stafClient,
} from '../../../src/adapters/dbus/clients.js';
import { type DBusConnection, openSystemBus } from '../../../src/adapters/dbus/service.js';
import { REGISTRY_DIR } from '../../../src/adapters/kernel/registry.js';
import { scanControllers } from '../../../src/adapters/kernel/sysfs.js';
import type { KernelController } from '../../../src/core/kernel-controller.js';
import { type DbusDaemon, startDbusDaemon } from '../../support/dbus-daemon.js';
import { scaled } from '../../support/slow.js';
import { type HostIdentity, newHostIdentity, resetLab, writeHostIdentity } from './host.js';
import { Nvmet, type Port } from './nvmet.js';

/** Longest wait for a condition (a 3 s connect retry, under TCG); every wait is scaled by STAS_LAB_SLOW. */
export const WAIT_MS = 30_000;

/** One item of `stacctl plan` (org.nvmexpress.stac.plan). */
export interface PlanEntry {
  action: 'connect' | 'disconnect' | 'keep' | 'skip';
  transport: string;
  traddr: string;
  trsvcid: string;
  subsysnqn: string;
  'host-traddr': string;
  'host-iface': string;
  'host-nqn': string;
  device?: string;
  reason: string;
}

/** The kernel's I/O controllers (any state: a controller the target dropped is still there, reconnecting). */
export async function ioControllers(): Promise<KernelController[]> {
  return (await scanControllers()).filter((c) => c.cntrltype === 'io');
}

/** Subsystem NQNs of the kernel's I/O controllers, sorted (one per controller). */
export async function ioNqns(): Promise<string[]> {
  return (await ioControllers()).map((c) => c.subsysnqn).sort();
}

/**
 * Forgets every ownership record of /run/nvme/registry. Only for the start of a test, when the lab has no
 * controller at all (freshLab): the records left by the previous test's controllers (deleted by resetLab behind
 * stacd's back) would otherwise name devices the kernel hands out again.
 */
export function clearRegistry(): void {
  rmSync(REGISTRY_DIR, { recursive: true, force: true });
}

export class StasRun {
  readonly dir = mkdtempSync(join(tmpdir(), 'stas-lab-stas-'));
  readonly sysPath = join(this.dir, 'sys.conf');
  readonly stafConf = join(this.dir, 'stafd.conf');
  readonly stacConf = join(this.dir, 'stacd.conf');
  stafd: ChildProcess | undefined;
  stacd: ChildProcess | undefined;
  /** Extra command-line arguments of each daemon (e.g. --metrics). */
  readonly args: Record<'stafd' | 'stacd', string[]> = { stafd: [], stacd: [] };
  private out = { stafd: '', stacd: '' };
  private dbus: DbusDaemon | undefined;
  private bus: DBusConnection | undefined;
  private stacClient: StacClient | undefined;
  private stafClient: StafClient | undefined;

  constructor(host: HostIdentity) {
    writeFileSync(this.sysPath, `[Host]\nnqn = ${host.hostnqn}\nid = ${host.hostid}\n`);
  }

  writeStafdConf(text: string): void {
    writeFileSync(this.stafConf, text);
  }

  writeStacdConf(text: string): void {
    writeFileSync(this.stacConf, text);
  }

  get stac(): StacClient {
    if (!this.stacClient) throw new Error('no bus yet');
    return this.stacClient;
  }

  get staf(): StafClient {
    if (!this.stafClient) throw new Error('no bus yet');
    return this.stafClient;
  }

  output(): string {
    return `--- stafd:\n${this.out.stafd}\n--- stacd:\n${this.out.stacd}`;
  }

  /** What stacd printed (all its runs). */
  stacdOutput(): string {
    return this.out.stacd;
  }

  async startBus(): Promise<void> {
    if (this.dbus) return;
    this.dbus = await startDbusDaemon();
    this.bus = await openSystemBus({ address: this.dbus.address });
    this.stacClient = stacClient(this.bus, { timeoutMs: scaled(10_000) });
    this.stafClient = stafClient(this.bus, { timeoutMs: scaled(10_000) });
  }

  private spawn(prog: 'stafd' | 'stacd'): ChildProcess {
    const conf = prog === 'stafd' ? this.stafConf : this.stacConf;
    this.out[prog] += `----- ${prog} start (${new Date().toISOString()})\n`;
    const argv = [`dist/src/cli/${prog}.js`, '-f', conf, '--sys-conf', this.sysPath, ...this.args[prog]];
    const p = spawn(process.execPath, argv, {
      env: {
        ...process.env,
        DBUS_SYSTEM_BUS_ADDRESS: this.dbus!.address,
        RUNTIME_DIRECTORY: join(this.dir, prog),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stdout!.on('data', (d) => (this.out[prog] += d));
    p.stderr!.on('data', (d) => (this.out[prog] += d));
    return p;
  }

  /** Starts stafd and waits until it answers on the bus. */
  async startStafd(): Promise<void> {
    await this.startBus();
    const p = this.spawn('stafd');
    this.stafd = p;
    await this.until('stafd on the bus', async () => {
      if (p.exitCode !== null) throw new Error(`stafd exited (${p.exitCode})\n${this.output()}`);
      return this.staf.processInfo().then(
        () => true,
        () => false,
      );
    });
  }

  /** Starts stacd and waits until it answers on the bus. */
  async startStacd(): Promise<void> {
    await this.startBus();
    const p = this.spawn('stacd');
    this.stacd = p;
    await this.until('stacd on the bus', async () => {
      if (p.exitCode !== null) throw new Error(`stacd exited (${p.exitCode})\n${this.output()}`);
      return this.stac.processInfo().then(
        () => true,
        () => false,
      );
    });
  }

  /** SIGTERM, bounded wait; returns the exit code. */
  async stop(prog: 'stafd' | 'stacd'): Promise<number | null> {
    const p = this[prog];
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = once(p, 'exit');
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), scaled(WAIT_MS));
    await exited;
    clearTimeout(timer);
    return p.exitCode;
  }

  /** Rewrites stacd.conf (if given) and sends SIGHUP to stacd. */
  hupStacd(conf?: string): void {
    if (conf !== undefined) writeFileSync(this.stacConf, conf);
    this.stacd!.kill('SIGHUP');
  }

  /** Rewrites stafd.conf (if given) and sends SIGHUP to stafd. */
  hupStafd(conf?: string): void {
    if (conf !== undefined) writeFileSync(this.stafConf, conf);
    this.stafd!.kill('SIGHUP');
  }

  /** Polls `cond` every 100 ms until it holds; throws after `ms` (scaled) with both daemons' output. */
  async until(what: string, cond: () => Promise<boolean> | boolean, ms = WAIT_MS): Promise<void> {
    const limit = scaled(ms);
    const end = Date.now() + limit;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > end)
        throw new Error(`timed out after ${limit} ms waiting for ${what}\n${this.output()}`);
      await sleep(100);
    }
  }

  /** Waits until stacd's output matches (it logs a connect or disconnect after the kernel shows it). */
  async stacdSays(re: RegExp, ms = WAIT_MS): Promise<void> {
    await this.until(`stacd to log ${re}`, () => re.test(this.out.stacd), ms);
  }

  /** `stacctl plan`, parsed. */
  async plan(): Promise<PlanEntry[]> {
    return JSON.parse(await this.stac.plan()) as PlanEntry[];
  }

  /** stacd's reconcile pass counter (process_info; incremented when a pass starts). */
  async passes(): Promise<number> {
    return Number((JSON.parse(await this.stac.processInfo()) as Record<string, string>)['reconcile passes']);
  }

  /**
   * Makes sure that a whole stacd pass ran after this call: SIGHUP (same configuration) twice, each time waiting
   * until a new pass started. Passes never overlap, so the second one starting means the first one, which saw
   * the kernel and stafd as they were when this was called, has finished executing.
   */
  async fullPass(): Promise<void> {
    for (let i = 0; i < 2; i++) {
      const n = await this.passes();
      this.hupStacd();
      await this.until(`stacd pass ${n + 1}`, async () => (await this.passes()) > n);
    }
  }

  /** Whether stafd's cached log pages (all DCs) mention `nqn`. */
  async stafdLists(nqn: string): Promise<boolean> {
    return (await this.staf.getAllLogPages(false)).includes(`"${nqn}"`);
  }

  /** Kills both daemons if still running, closes the client, stops the bus, removes the files. */
  async cleanup(): Promise<void> {
    for (const p of [this.stacd, this.stafd]) {
      if (p && p.exitCode === null && p.signalCode === null) {
        const exited = once(p, 'exit');
        p.kill('SIGKILL');
        await exited;
      }
    }
    this.bus?.close();
    await this.dbus?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The start of a stafd + stacd lab test, like host.ts freshLab (no controllers, empty nvmet, new host identity,
 * a discovery port on 8009 and an I/O port on 4420) plus a clean ownership registry and a StasRun. When the
 * test ends the daemons are killed BEFORE the lab is reset (so stacd cannot reconnect what the reset deletes),
 * and the registry is cleared again.
 */
export async function stasLab(t: { after: (fn: () => unknown) => void }): Promise<{
  nvmet: Nvmet;
  host: HostIdentity;
  disc: Port;
  io: Port;
  run: StasRun;
}> {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  clearRegistry();
  const host = newHostIdentity();
  writeHostIdentity(host);
  const run = new StasRun(host);
  t.after(async () => {
    await run.cleanup();
    await resetLab(nvmet);
    clearRegistry();
  });
  return { nvmet, host, disc: nvmet.addDiscoveryPort(), io: nvmet.addPort({ trsvcid: 4420 }), run };
}
