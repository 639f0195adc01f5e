/**
 * The stafd program: command line, pre-flight, configuration and host identity, D-Bus service, mDNS browsing,
 * signals (SIGHUP reload keeping the last good configuration, SIGTERM/SIGINT orderly exit).
 */
import { writeFileSync } from 'node:fs';
import { loadConfigFileSync } from '../../adapters/config-file.js';
import { idlXml, STAFD_OBJECT } from '../../adapters/dbus/idl.js';
import { openSystemBus } from '../../adapters/dbus/service.js';
import { exportStafService, type StafService } from '../../adapters/dbus/staf-service.js';
import { loadHostIdentity } from '../../adapters/host-identity.js';
import { DiscoverySession } from '../../adapters/nvme-tcp/discovery-session.js';
import { parseStrict, type UsageError } from '../../cli/argv.js';
import type { ConfigDiagnostic } from '../../core/config/diagnostics.js';
import { parseStafdConfig, type StafdConfig } from '../../core/config/service-config.js';
import { VERSION } from '../../version.js';
import { createLogger, type Logger } from '../logger.js';
import { defaultLkcPath } from './last-known-config.js';
import { StafdService, type TidArgs } from './service.js';
import { startZeroconf, type Zeroconf } from './zeroconf.js';

const PROG = 'stafd';
const USAGE = `usage: ${PROG} [-h] [-f FILE] [-s] [--tron] [--idl FILE] [--sys-conf FILE] [-v]\n`;
const HELP = `${USAGE}
STorage Appliance Finder (stafd): locates NVMe-oF Discovery Controllers (configuration, mDNS, referrals),
connects to them, caches their discovery log pages and publishes them on D-Bus (org.nvmexpress.staf).

options:
  -h, --help            show this help message and exit
  -f FILE, --conf-file FILE
                        Configuration file (default: /etc/stas/stafd.conf)
  -s, --syslog          Send messages to syslog/journald (priority prefixes) instead of plain stdout lines
  --tron                Trace ON (debug messages)
  --idl FILE            Print the D-Bus IDL to FILE and exit
  --sys-conf FILE       Host identity file (default: /etc/stas/sys.conf)
  -v, --version         Print the version and exit

signals: SIGHUP reloads the configuration (new parameters apply to new connections); SIGTERM/SIGINT stop.
`;

function report(log: Logger, diags: readonly ConfigDiagnostic[]): void {
  for (const d of diags) log(d.level === 'info' ? 'info' : d.level, d.message);
}

export async function main(argv: readonly string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseStrict([...argv], {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      'conf-file': { type: 'string', short: 'f' },
      syslog: { type: 'boolean', short: 's' },
      tron: { type: 'boolean' },
      idl: { type: 'string' },
      'sys-conf': { type: 'string' },
    }).values;
  } catch (e) {
    process.stderr.write(`${USAGE}${PROG}: error: ${(e as UsageError).message}\n`);
    return 2;
  }
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values['version']) {
    process.stdout.write(`nvme-stas ${VERSION}\n`);
    return 0;
  }
  if (typeof values['idl'] === 'string') {
    writeFileSync(values['idl'], idlXml(STAFD_OBJECT));
    return 0;
  }
  if (process.geteuid?.() !== 0) {
    process.stderr.write(`Permission denied. You need root privileges to run ${PROG}.\n`);
    return 1;
  }

  const confFile = (values['conf-file'] as string | undefined) ?? '/etc/stas/stafd.conf';
  const first = loadConfigFileSync(confFile, parseStafdConfig);
  const log = createLogger({ syslog: !!values['syslog'], tron: !!values['tron'] || first.config.tron });
  report(log, first.diagnostics);
  let config: StafdConfig = first.config;

  let identity: ReturnType<typeof loadHostIdentity>['identity'];
  try {
    const loaded = loadHostIdentity((values['sys-conf'] as string | undefined) ?? '/etc/stas/sys.conf');
    report(log, loaded.diagnostics);
    identity = loaded.identity;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }

  let dbus: StafService | undefined;
  const service = new StafdService({
    config,
    confFile,
    identity,
    connect: (o) => DiscoverySession.connect(o),
    log,
    signals: {
      logPagesChanged: (tid, device) => dbus?.logPagesChanged(tid, device),
      dcRemoved: () => dbus?.dcRemoved(),
    },
    lkcPath: defaultLkcPath(PROG),
  });

  // Restore the cached controllers and log pages before taking the bus name, so that the first caller (stacd
  // after a restart) already gets them.
  service.start();

  let bus: Awaited<ReturnType<typeof openSystemBus>>;
  try {
    bus = await openSystemBus({ onClose: () => log('error', 'Lost the connection to D-Bus') });
    dbus = await exportStafService(bus, {
      listControllers: (detailed) => service.listControllers(detailed),
      getLogPages: (...args) => service.getLogPages(...(args.slice(0, 7) as TidArgs)),
      getAllLogPages: (detailed) => service.getAllLogPages(detailed),
      processInfo: () => service.processInfo(),
      controllerInfo: (...args) => service.controllerInfo(...(args.slice(0, 7) as TidArgs)),
      getTron: () => log.tron,
      setTron: (on) => {
        log.tron = on;
        service.tron = on;
      },
      logLevel: () => (log.tron ? 'DEBUG' : 'INFO'),
      events: () => service.eventsJson(),
    });
  } catch (e) {
    log('error', `D-Bus: ${(e as Error).message}`);
    return 1;
  }

  let zeroconf: Zeroconf | undefined;
  const applyZeroconf = () => {
    if (config.zeroconf && !zeroconf) zeroconf = startZeroconf(bus, service, log, () => config);
    else if (!config.zeroconf && zeroconf) {
      zeroconf.stop();
      zeroconf = undefined;
      service.setDiscovered([]);
    }
  };
  applyZeroconf();
  log('info', `${PROG} ${VERSION} running (config ${confFile})`);

  return await new Promise<number>((resolve) => {
    process.on('SIGHUP', () => {
      const next = loadConfigFileSync(confFile, parseStafdConfig);
      report(log, next.diagnostics);
      if (next.hasErrors) {
        log('error', `${confFile} has errors: keeping the last good configuration`);
        return;
      }
      config = next.config;
      log.tron = !!values['tron'] || config.tron;
      service.reload(config);
      applyZeroconf();
      log('info', 'Configuration reloaded');
    });
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      log('info', `${sig} received: stopping`);
      zeroconf?.stop();
      await service.stop();
      await dbus?.close().catch(() => {});
      bus.disconnect();
      resolve(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}
