/**
 * The stacd program: command line, pre-flight, configuration and host identity, the link to stafd (name watch,
 * signals, tri-state answers), kernel uevents, the udev rule shadow, D-Bus service, signals.
 */
import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { loadConfigFileSync } from '../../adapters/config-file.js';
import { stafClient, watchName } from '../../adapters/dbus/clients.js';
import { idlXml, STACD_OBJECT, STAFD_DBUS_NAME } from '../../adapters/dbus/idl.js';
import { openSystemBus } from '../../adapters/dbus/service.js';
import { exportStacService } from '../../adapters/dbus/stac-service.js';
import { loadHostIdentity } from '../../adapters/host-identity.js';
import { KernelFabrics } from '../../adapters/kernel/fabrics.js';
import { scanControllers } from '../../adapters/kernel/sysfs.js';
import { UeventMonitor } from '../../adapters/kernel/uevents.js';
import { maskAutoconnectRule, unmaskAutoconnectRule } from '../../adapters/udev-rule.js';
import { parseStrict, type UsageError } from '../../cli/argv.js';
import type { ConfigDiagnostic } from '../../core/config/diagnostics.js';
import { parseStacdConfig, type StacdConfig } from '../../core/config/service-config.js';
import type { InterfaceMap } from '../../core/match.js';
import type { StafdView } from '../../core/stacd/plan.js';
import { stafdViewFromJson } from '../../core/stacd/stafd-view.js';
import { VERSION } from '../../version.js';
import { createLogger, type Logger } from '../logger.js';
import { defaultLkcPath } from '../stafd/last-known-config.js';
import type { TidArgs } from '../stafd/service.js';
import { StacdService } from './service.js';

const PROG = 'stacd';
const USAGE = `usage: ${PROG} [-h] [-f FILE] [-s] [--tron] [--idl FILE] [--sys-conf FILE] [-v]\n`;
const HELP = `${USAGE}
STorage Appliance Connector (stacd): connects to the NVMe-oF I/O controllers listed in the discovery log pages
that stafd collects, and to those configured with controller=; removes connections per disconnect-scope.

options:
  -h, --help            show this help message and exit
  -f FILE, --conf-file FILE
                        Configuration file (default: /etc/stas/stacd.conf)
  -s, --syslog          Send messages to syslog/journald (priority prefixes) instead of plain stdout lines
  --tron                Trace ON (debug messages)
  --idl FILE            Print the D-Bus IDL to FILE and exit
  --sys-conf FILE       Host identity file (default: /etc/stas/sys.conf)
  -v, --version         Print the version and exit

signals: SIGHUP reloads the configuration (new parameters apply to new connections); SIGTERM/SIGINT stop and
leave every connection in place.
`;

function report(log: Logger, diags: readonly ConfigDiagnostic[]): void {
  for (const d of diags) log(d.level === 'info' ? 'info' : d.level, d.message);
}

/** Interface → addresses (first = primary) from the OS, for matching connections to host-iface. */
function interfaces(): InterfaceMap {
  const map = new Map<string, { ipv4: string[]; ipv6: string[] }>();
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const v = { ipv4: [] as string[], ipv6: [] as string[] };
    for (const a of addrs ?? []) (a.family === 'IPv4' ? v.ipv4 : v.ipv6).push(a.address);
    map.set(name, v);
  }
  return map;
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
    writeFileSync(values['idl'], idlXml(STACD_OBJECT));
    return 0;
  }
  if (process.geteuid?.() !== 0) {
    process.stderr.write(`Permission denied. You need root privileges to run ${PROG}.\n`);
    return 1;
  }

  const confFile = (values['conf-file'] as string | undefined) ?? '/etc/stas/stacd.conf';
  const first = loadConfigFileSync(confFile, parseStacdConfig);
  const log = createLogger({ syslog: !!values['syslog'], tron: !!values['tron'] || first.config.tron });
  report(log, first.diagnostics);
  let config: StacdConfig = first.config;
  let identity: ReturnType<typeof loadHostIdentity>['identity'];
  try {
    const loaded = loadHostIdentity((values['sys-conf'] as string | undefined) ?? '/etc/stas/sys.conf');
    report(log, loaded.diagnostics);
    identity = loaded.identity;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }

  let bus: Awaited<ReturnType<typeof openSystemBus>>;
  try {
    bus = await openSystemBus({ onClose: () => log('error', 'Lost the connection to D-Bus') });
  } catch (e) {
    log('error', `D-Bus: ${(e as Error).message}`);
    return 1;
  }
  const staf = stafClient(bus, { timeoutMs: 10_000 });
  let stafdPresent = false;
  const stafdView = async (): Promise<StafdView> => {
    if (!stafdPresent) return { answered: false };
    try {
      return stafdViewFromJson(await staf.getAllLogPages(true), {
        defaultHostNqn: identity.hostNqn,
        ignoreIface: config.ignoreIface,
      });
    } catch (e) {
      log('warning', `stafd did not answer: ${(e as Error).message}`);
      return { answered: false };
    }
  };

  const kernel = new KernelFabrics();
  const service = new StacdService({
    config,
    identity,
    stafd: stafdView,
    kernel: {
      scan: () => scanControllers(),
      connect: (r) => kernel.connect(r),
      disconnect: (d) => kernel.disconnect(d),
    },
    ifaces: interfaces,
    log,
    lkcPath: defaultLkcPath(PROG),
  });

  // Know whether stafd is there before answering anything (a plan asked for at start must not say
  // "stafd is not answering" only because the name watch was not set up yet).
  await staf.onLogPagesChanged(() => service.soak());
  await staf.onDcRemoved(() => service.soak());
  const stafWatch = await watchName(bus, STAFD_DBUS_NAME, (owner) => {
    stafdPresent = owner !== null;
    log('info', owner ? 'stafd is on the bus' : 'stafd left the bus: keeping every connection');
    service.soak();
  });

  try {
    await exportStacService(bus, {
      listControllers: (detailed) => service.listControllers(detailed),
      processInfo: () => service.processInfo(),
      controllerInfo: (...args) => service.controllerInfo(...(args.slice(0, 7) as TidArgs)),
      getTron: () => log.tron,
      setTron: (on) => {
        log.tron = on;
        service.tron = on;
      },
      logLevel: () => (log.tron ? 'DEBUG' : 'INFO'),
      events: () => service.eventsJson(),
      plan: () => service.planJson(),
    });
  } catch (e) {
    log('error', `D-Bus: ${(e as Error).message}`);
    return 1;
  }

  const uevents = new UeventMonitor();
  try {
    uevents.start();
    uevents.on('nvme', (ev) => {
      if (ev.kind === 'add' || ev.kind === 'remove') service.soak(ev.kind === 'remove' ? 200 : 1000);
    });
    uevents.on('overflow', () => {
      log('warning', 'Kernel events were lost (receive buffer overflow): full resynchronisation');
      service.soak(0);
    });
  } catch (e) {
    log(
      'warning',
      `No kernel uevents (${(e as Error).message}): controllers that vanish are noticed at the next pass only`,
    );
  }

  const applyUdevRule = () => {
    if (config.udevRule) void unmaskAutoconnectRule();
    else
      try {
        maskAutoconnectRule();
      } catch (e) {
        log('warning', `Cannot shadow nvme-cli's udev rule: ${(e as Error).message}`);
      }
  };
  applyUdevRule();
  service.start();
  log('info', `${PROG} ${VERSION} running (config ${confFile})`);

  return await new Promise<number>((resolve) => {
    process.on('SIGHUP', () => {
      const next = loadConfigFileSync(confFile, parseStacdConfig);
      report(log, next.diagnostics);
      if (next.hasErrors) {
        log('error', `${confFile} has errors: keeping the last good configuration`);
        return;
      }
      config = next.config;
      log.tron = !!values['tron'] || config.tron;
      applyUdevRule();
      service.reload(config);
      log('info', 'Configuration reloaded');
    });
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      log('info', `${sig} received: stopping (connections are left in place)`);
      await service.stop();
      uevents.stop();
      await stafWatch.close().catch(() => {});
      if (!config.udevRule) await unmaskAutoconnectRule().catch(() => {});
      bus.disconnect();
      resolve(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}
