/**
 * The stacd program: command line, pre-flight, configuration and host identity, the link to stafd (name watch,
 * signals, tri-state answers), kernel uevents, the udev rule shadow, D-Bus service, signals.
 */
import { stafClient, watchName } from '../../adapters/dbus/clients.js';
import { idlXml, STACD_OBJECT, STAFD_DBUS_NAME } from '../../adapters/dbus/idl.js';
import { openSystemBus } from '../../adapters/dbus/service.js';
import { HostExclusionList } from '../../adapters/exclusion-list.js';
import { KernelFabrics } from '../../adapters/kernel/fabrics.js';
import { ownershipRegistry } from '../../adapters/kernel/registry.js';
import { scanControllers } from '../../adapters/kernel/sysfs.js';
import { UeventMonitor } from '../../adapters/kernel/uevents.js';
import { defaultLkcPath } from '../../adapters/lkc-file.js';
import { localInterfaces } from '../../adapters/net-interfaces.js';
import { maskAutoconnectRule, unmaskAutoconnectRule } from '../../adapters/udev-rule.js';
import { parseStacdConfig, type StacdConfig } from '../../core/config/service-config.js';
import { errorText } from '../../core/log.js';
import type { StafdView } from '../../core/stacd/plan.js';
import { stafdViewFromJson } from '../../core/stacd/stafd-view.js';
import { VERSION } from '../../version.js';
import { exportStacdApi } from '../dbus-api.js';
import { type DaemonSpec, runUntilStopped, serveMetrics, startDaemon } from '../program.js';
import { StacdMetrics } from './metrics.js';
import { StacdService } from './service.js';
import { StafdViewCache } from './stafd-view-cache.js';

const PROG = 'stacd';
const HELP = `
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
  --metrics LISTEN      Serve OpenMetrics (GET /metrics, no authentication) on LISTEN: 127.0.0.1:PORT,
                        [::1]:PORT, localhost:PORT or the absolute path of a unix socket
  -v, --version         Print the version and exit

signals: SIGHUP reloads the configuration (new parameters apply to new connections); SIGTERM/SIGINT stop and
leave every connection in place.
`;

const SPEC: DaemonSpec<StacdConfig> = {
  prog: PROG,
  help: HELP,
  idl: () => idlXml(STACD_OBJECT),
  parse: parseStacdConfig,
};

export async function main(argv: readonly string[]): Promise<number> {
  const started = startDaemon(SPEC, argv);
  if (typeof started === 'number') return started;
  const { confFile, log, identity } = started;
  let config: StacdConfig = started.config;

  let bus: Awaited<ReturnType<typeof openSystemBus>>;
  try {
    bus = await openSystemBus({ onClose: () => log('error', 'Lost the connection to D-Bus') });
  } catch (e) {
    log('error', `D-Bus: ${errorText(e)}`);
    return 1;
  }
  const staf = stafClient(bus, { timeoutMs: 10_000 });
  let stafdPresent = false;
  const askStafd = async (): Promise<StafdView> => {
    if (!stafdPresent) return { answered: false };
    try {
      return stafdViewFromJson(await staf.getAllLogPages(true), {
        defaultHostNqn: identity.hostNqn,
        ignoreIface: config.ignoreIface,
      });
    } catch (e) {
      log('warning', `stafd did not answer: ${errorText(e)}`);
      return { answered: false };
    }
  };

  // stafd's log pages, asked for when stafd announces a change (not once per pass). The query starts first, then
  // the pass (at once when none runs): the pass awaits this very answer and connects what it lists.
  const stafdView = new StafdViewCache(askStafd);
  const stafdChanged = () => {
    stafdView.refresh();
    service.changed();
  };

  const kernel = new KernelFabrics();
  const metrics = new StacdMetrics(() => service);
  const hostExclusions = new HostExclusionList(log);
  const service = new StacdService({
    config,
    identity,
    stafd: () => stafdView.get(),
    kernel: {
      scan: () => scanControllers(),
      connect: (r) => kernel.connect(r),
      disconnect: (d) => kernel.disconnect(d),
      ...ownershipRegistry(),
    },
    ifaces: localInterfaces,
    log,
    lkcPath: defaultLkcPath(PROG),
    onPass: (seconds) => metrics.observePass(seconds),
    hostExclusions: () => hostExclusions.load(identity.hostId),
  });
  hostExclusions.watch(() => service.changed());

  // Know whether stafd is there before answering anything (a plan asked for at start must not say
  // "stafd is not answering" only because the name watch was not set up yet).
  await staf.onLogPagesChanged(stafdChanged);
  await staf.onDcRemoved(stafdChanged);
  const stafWatch = await watchName(bus, STAFD_DBUS_NAME, (owner) => {
    stafdPresent = owner !== null;
    log('info', owner ? 'stafd is on the bus' : 'stafd left the bus: keeping every connection');
    stafdChanged();
  });

  try {
    await exportStacdApi(bus, service, log);
  } catch (e) {
    log('error', `D-Bus: ${errorText(e)}`);
    return 1;
  }

  const uevents = new UeventMonitor();
  try {
    uevents.start();
    // A controller came or went: a pass at once, or one trailing pass. stacd's own connects bring an add uevent
    // each (and a remove when they fail): those arrive during the pass that made them and make one trailing pass,
    // which leaves a failed connect alone until its retry is due.
    uevents.on('nvme', (ev) => {
      if (ev.kind === 'add' || ev.kind === 'remove') service.changed();
    });
    uevents.on('overflow', () => {
      log('warning', 'Kernel events were lost (receive buffer overflow): full resynchronisation');
      service.changed();
    });
  } catch (e) {
    log(
      'warning',
      `No kernel uevents (${errorText(e)}): controllers that vanish are noticed at the next pass only`,
    );
  }

  const applyUdevRule = () => {
    if (config.udevRule) void unmaskAutoconnectRule();
    else
      try {
        maskAutoconnectRule();
      } catch (e) {
        log('warning', `Cannot shadow nvme-cli's udev rule: ${errorText(e)}`);
      }
  };
  applyUdevRule();
  const metricsServer = await serveMetrics(started, () => metrics.registry.expose());
  service.start();
  log('info', `${PROG} ${VERSION} running (config ${confFile})`);

  return runUntilStopped(
    SPEC,
    started,
    (next) => {
      config = next;
      applyUdevRule();
      stafdView.refresh(); // ignore-iface shapes the view
      service.reload(config);
    },
    async () => {
      log('info', 'connections are left in place');
      await metricsServer?.close();
      await service.stop();
      hostExclusions.close();
      uevents.stop();
      await stafWatch.close().catch(() => {});
      if (!config.udevRule) await unmaskAutoconnectRule().catch(() => {});
      bus.close();
    },
  );
}
