/**
 * What stafd and stacd share as programs: the command line (-h, -v, -f, -s, --tron, --idl, --sys-conf,
 * --metrics), the root check, the first configuration load with its diagnostics, the host identity, the signal
 * loop (SIGHUP reloads and keeps the last good configuration when the file has errors; SIGTERM/SIGINT stop), and
 * the opt-in metrics endpoint. Signals reach the program through src/daemons/signals.ts, whose listeners are in
 * place from the entry point's first line.
 */
import { writeFileSync } from 'node:fs';
import { loadConfigFile, loadConfigFileSync } from '../adapters/config-file.js';
import { loadHostIdentity } from '../adapters/host-identity.js';
import { type MetricsServer, startMetricsServer } from '../adapters/metrics-server.js';
import { parseStrict, UsageError } from '../core/argv.js';
import type { ConfigDiagnostic, ConfigResult } from '../core/config/diagnostics.js';
import type { HostIdentity } from '../core/host-identity.js';
import { errorText } from '../core/log.js';
import { describeListen, type MetricsListen, parseMetricsListen } from '../core/metrics.js';
import { VERSION_TEXT } from '../version.js';
import { createLogger, type Logger } from './logger.js';
import { daemonSignals, type SignalRouter } from './signals.js';

export interface DaemonSpec<C extends { tron: boolean }> {
  prog: 'stafd' | 'stacd';
  /** The help text after the usage line. */
  help: string;
  idl: () => string;
  parse: (text: string, file: string) => ConfigResult<C>;
}

export interface DaemonStart<C> {
  confFile: string;
  config: C;
  log: Logger;
  identity: HostIdentity;
  /** --tron given on the command line (it wins over the file on reloads too). */
  tronFlag: boolean;
  /** --metrics LISTEN: where to serve the metrics (none when not given). */
  metrics?: MetricsListen;
}

export function usage(prog: string): string {
  return `usage: ${prog} [-h] [-f FILE] [-s] [--tron] [--idl FILE] [--sys-conf FILE] [--metrics LISTEN] [-v]\n`;
}

export function report(log: Logger, diags: readonly ConfigDiagnostic[]): void {
  for (const d of diags) log(d.level === 'info' ? 'info' : d.level, d.message);
}

/** stafd's and stacd's command-line options (their man pages' SYNOPSIS). */
export const DAEMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  'conf-file': { type: 'string', short: 'f' },
  syslog: { type: 'boolean', short: 's' },
  tron: { type: 'boolean' },
  idl: { type: 'string' },
  'sys-conf': { type: 'string' },
  metrics: { type: 'string' },
} as const;

/** Parses the command line and loads configuration and identity; a number is the exit status to return now. */
export function startDaemon<C extends { tron: boolean }>(
  spec: DaemonSpec<C>,
  argv: readonly string[],
): DaemonStart<C> | number {
  let values: Record<string, string | boolean | undefined>;
  let metrics: MetricsListen | undefined;
  try {
    values = parseStrict([...argv], DAEMON_OPTIONS).values;
    if (typeof values['metrics'] === 'string')
      try {
        metrics = parseMetricsListen(values['metrics']);
      } catch (e) {
        throw new UsageError(`argument --metrics: ${errorText(e)}`);
      }
  } catch (e) {
    process.stderr.write(`${usage(spec.prog)}${spec.prog}: error: ${(e as UsageError).message}\n`);
    return 2;
  }
  if (values['help']) {
    process.stdout.write(`${usage(spec.prog)}${spec.help}`);
    return 0;
  }
  if (values['version']) {
    process.stdout.write(VERSION_TEXT);
    return 0;
  }
  if (typeof values['idl'] === 'string') {
    writeFileSync(values['idl'], spec.idl());
    return 0;
  }
  if (process.geteuid?.() !== 0) {
    process.stderr.write(`Permission denied. You need root privileges to run ${spec.prog}.\n`);
    return 1;
  }
  // A stop asked for while the program's modules loaded: nothing has started yet, so nothing needs stopping.
  const early = daemonSignals().stopRequested;
  if (early) {
    process.stderr.write(`${early} received before start-up: exiting\n`);
    return 0;
  }
  const confFile = (values['conf-file'] as string | undefined) ?? `/etc/stas/${spec.prog}.conf`;
  // Synchronous, but never blocked by a FIFO (only regular files are read; see readRegularFileSync).
  const first = loadConfigFileSync(confFile, spec.parse);
  const tronFlag = !!values['tron'];
  const log = createLogger({ syslog: !!values['syslog'], tron: tronFlag || first.config.tron });
  report(log, first.diagnostics);
  try {
    const loaded = loadHostIdentity((values['sys-conf'] as string | undefined) ?? '/etc/stas/sys.conf');
    report(log, loaded.diagnostics);
    return {
      confFile,
      config: first.config,
      log,
      identity: loaded.identity,
      tronFlag,
      ...(metrics ? { metrics } : {}),
    };
  } catch (e) {
    process.stderr.write(`${errorText(e)}\n`);
    return 1;
  }
}

/**
 * Serves `render()` on --metrics, if given. A failure to listen is logged and the daemon runs on without metrics
 * (its job matters more). Close the returned server on exit (a unix socket is removed).
 */
export async function serveMetrics(
  start: DaemonStart<unknown>,
  render: () => string,
): Promise<MetricsServer | undefined> {
  if (!start.metrics) return undefined;
  try {
    const server = await startMetricsServer(start.metrics, render);
    start.log('info', `Metrics on ${server.address}`);
    return server;
  } catch (e) {
    start.log(
      'error',
      `Cannot serve metrics on ${describeListen(start.metrics)}: ${errorText(e)}. Running without metrics`,
    );
    return undefined;
  }
}

/**
 * Runs until SIGTERM/SIGINT: SIGHUP re-reads the file (asynchronously: a FIFO or a slow file system holds up
 * nothing) and calls `reload` with a configuration free of errors (otherwise the last good one stays); reloads
 * run one at a time, and SIGHUPs that arrive during one are served by one more. `stop` runs once, at once (a
 * reload in progress is dropped). A stop or reload asked for during start-up is acted on now. Resolves with the
 * exit status. `signals`: the process' router (another one in tests).
 */
export function runUntilStopped<C extends { tron: boolean }>(
  spec: DaemonSpec<C>,
  start: DaemonStart<C>,
  reload: (config: C) => void,
  stop: () => Promise<void>,
  signals: SignalRouter = daemonSignals(),
): Promise<number> {
  const { log, confFile } = start;
  return new Promise<number>((resolve) => {
    let stopping = false;
    let reloading = false;
    let again = false;
    const reloadOnce = async () => {
      const next = await loadConfigFile(confFile, spec.parse);
      if (stopping) return;
      report(log, next.diagnostics);
      if (next.hasErrors) {
        log('error', `${confFile} has errors: keeping the last good configuration`);
        return;
      }
      log.tron = start.tronFlag || next.config.tron;
      reload(next.config);
      log('info', 'Configuration reloaded');
    };
    const onHup = async () => {
      if (stopping) return;
      if (reloading) {
        again = true;
        return;
      }
      reloading = true;
      try {
        do {
          again = false;
          try {
            await reloadOnce();
          } catch (e) {
            log('error', `Reload failed: ${errorText(e)}`);
          }
        } while (again && !stopping);
      } finally {
        reloading = false;
      }
    };
    const onStop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log('info', `${sig} received: stopping`);
      void stop().then(() => resolve(0));
    };
    signals.register({ stop: onStop, reload: () => void onHup() });
  });
}
