/**
 * The real stafd program as a child process for end-to-end tests and benchmarks: a private dbus-daemon, a config
 * and host identity in a temp dir, RUNTIME_DIRECTORY in that temp dir (the last-known config never touches /run),
 * the OpenMetrics endpoint on 127.0.0.1 with a free port, and what /proc says about the process (fds, RSS, CPU).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type StafClient, stafClient } from '../../src/adapters/dbus/clients.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { type DbusDaemon, startDbusDaemon } from './dbus-daemon.js';
import { scaled } from './slow.js';

export const STAFD_JS = fileURLToPath(new URL('../../src/cli/stafd.js', import.meta.url));
export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
export const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';

const DCCM = '[Discovery controller connection management]';

/**
 * stafd.conf text with `kernel-discovery = false` (in its [Discovery controller connection management] section, or
 * that section appended): tcp DCs on stafd's userspace NVMe/TCP host. Host-side tests run the real stafd against
 * the test double that way, without /dev/nvme-fabrics (stafd's default is kernel discovery controllers). A text
 * that sets kernel-discovery itself is returned unchanged.
 */
export function userspaceDcs(conf: string): string {
  if (/^\s*kernel-discovery\s*=/m.test(conf)) return conf;
  const at = conf.indexOf(DCCM);
  if (at >= 0) {
    const end = at + DCCM.length;
    return `${conf.slice(0, end)}\nkernel-discovery = false${conf.slice(end)}`;
  }
  return `${conf}${conf === '' || conf.endsWith('\n') ? '' : '\n'}${DCCM}\nkernel-discovery = false\n`;
}

import { until } from './until.js';

export { until };

/** GET /metrics from 127.0.0.1:port: the body. */
export function scrape(port: number, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no /metrics answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The value of one OpenMetrics sample (`name{labels}` exactly), or undefined. */
export function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** /proc figures of a process. */
export function procFigures(pid: number): { fds: number; rssMiB: number; hwmMiB: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return {
    fds: readdirSync(`/proc/${pid}/fd`).length,
    rssMiB: kb('VmRSS') / 1024,
    hwmMiB: kb('VmHWM') / 1024,
    cpuMs: (ticks * 1000) / 100,
  };
}

/** How many log entries stafd's last-known config at `path` holds (0 while it is not written yet). */
export function lkcEntryCount(path: string): number {
  if (!existsSync(path)) return 0;
  const body = JSON.parse(readFileSync(path, 'utf8')) as { dcs: { logPages: unknown[] }[] };
  return body.dcs.reduce((a, dc) => a + dc.logPages.length, 0);
}

export interface StafdProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly dir: string;
  readonly dbus: DbusDaemon;
  /** A D-Bus client of this stafd (every call fails after `clientTimeoutMs` without a reply). */
  readonly staf: StafClient;
  readonly metricsPort: number;
  /** $RUNTIME_DIRECTORY/last-known-config.json */
  readonly lkcPath: string;
  /** Everything stafd wrote to stdout and stderr so far. */
  output(): string;
  /** Output lines that contain every one of `parts`. */
  lines(...parts: string[]): string[];
  metrics(): Promise<string>;
  figures(): ReturnType<typeof procFigures>;
  /**
   * SIGTERM, then waits up to `deadlineMs` for stafd to exit on its own. Resolves with its exit code and signal
   * (signal 'SIGKILL' and killed=true when it had to be killed at the deadline).
   */
  stop(deadlineMs?: number): Promise<{ code: number | null; signal: string | null; killed: boolean }>;
  /** Kills stafd if still running, closes the client, stops the dbus-daemon and removes the temp dir. */
  cleanup(): Promise<void>;
}

export interface StafdProcessOptions {
  /**
   * stafd.conf text ([Service Discovery] zeroconf = disabled is prepended; tcp DCs on the userspace host unless
   * the text sets kernel-discovery: {@link userspaceDcs}).
   */
  conf: string;
  /** Client call timeout, ms (default 10 000). */
  clientTimeoutMs?: number;
  /** Deadline for stafd to be on the bus and serving metrics, ms (default 30 000). */
  startMs?: number;
  /** The program to run (default {@link STAFD_JS}; e.g. the bundle's stafd.mjs). */
  script?: string;
  /** Node flags before the script (e.g. the installed daemons' DAEMON_NODE_FLAGS). */
  nodeArgs?: readonly string[];
  /** --metrics LISTEN (default 127.0.0.1:0; `metricsPort` is then the port stafd's log names, else 0). */
  metrics?: string;
  /** A dbus-daemon to run on (cleanup leaves it running) instead of a private one. */
  dbus?: DbusDaemon;
  /**
   * The directory of stafd.conf, sys.conf and run/ (cleanup keeps it) instead of a new temp dir: a later stafd in
   * the same directory finds the last-known config of an earlier one.
   */
  dir?: string;
}

/**
 * Starts a private dbus-daemon and stafd on it with `--metrics 127.0.0.1:0`; resolves once stafd has set up its
 * metrics endpoint (or reported that it cannot) and answers on the bus.
 */
export async function startStafd(o: StafdProcessOptions): Promise<StafdProcess> {
  const dbus = o.dbus ?? (await startDbusDaemon());
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'stafd-proc-'));
  const metrics = o.metrics ?? '127.0.0.1:0';
  const conf = join(dir, 'stafd.conf');
  const sys = join(dir, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
  writeFileSync(conf, userspaceDcs(`[Service Discovery]\nzeroconf = disabled\n${o.conf}`));
  const proc = spawn(
    process.execPath,
    [...(o.nodeArgs ?? []), o.script ?? STAFD_JS, '-f', conf, '--sys-conf', sys, '--metrics', metrics],
    {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address, RUNTIME_DIRECTORY: join(dir, 'run') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Chunks kept as they come (a long attack writes a lot): joined on demand.
  const chunks: string[] = [];
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => chunks.push(d));
  proc.stderr!.on('data', (d: string) => chunks.push(d));
  const output = () => {
    if (chunks.length > 1) chunks.splice(0, chunks.length, chunks.join(''));
    return chunks[0] ?? '';
  };
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const bus = await openSystemBus({ address: dbus.address });
  const staf = stafClient(bus, { timeoutMs: scaled(o.clientTimeoutMs ?? 10_000) });
  let metricsPort = 0;
  const cleanup = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    bus.close();
    if (!o.dbus) await dbus.stop();
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      'stafd serving metrics',
      () => {
        if (proc.exitCode !== null) throw new Error(`stafd exited with ${proc.exitCode}: ${output()}`);
        metricsPort = Number(/Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(output())?.[1] ?? 0);
        return metricsPort > 0 || /Metrics on |Cannot serve metrics on /.test(output());
      },
      o.startMs ?? 30_000,
    );
    await until(
      'stafd on the bus',
      async () => {
        await staf.processInfo();
        return true;
      },
      o.startMs ?? 30_000,
    );
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    proc,
    pid: proc.pid!,
    dir,
    dbus,
    staf,
    metricsPort,
    lkcPath: join(dir, 'run', 'last-known-config.json'),
    output,
    lines: (...parts) =>
      output()
        .split('\n')
        .filter((l) => parts.every((p) => l.includes(p))),
    metrics: () => scrape(metricsPort),
    figures: () => procFigures(proc.pid!),
    async stop(deadlineMs = 60_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const [code, signal] = await exited;
        return { code, signal, killed: false };
      }
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), deadlineMs)));
      const r = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (r === 'late') {
        proc.kill('SIGKILL');
        const [code, signal] = await exited;
        return { code, signal, killed: true };
      }
      return { code: r[0], signal: r[1], killed: false };
    },
    cleanup,
  };
}
