/**
 * The stafd program: command line, pre-flight, configuration and host identity, D-Bus service, mDNS browsing,
 * signals (SIGHUP reload keeping the last good configuration, SIGTERM/SIGINT orderly exit).
 */
import { idlXml, STAFD_OBJECT } from '../../adapters/dbus/idl.js';
import { openSystemBus } from '../../adapters/dbus/service.js';
import { HostExclusionList } from '../../adapters/exclusion-list.js';
import type { KernelDcHost } from '../../adapters/kernel/kernel-dc-session.js';
import { defaultLkcPath } from '../../adapters/lkc-file.js';
import { loadNbftDiscoveryControllers } from '../../adapters/nbft.js';
import { parseStafdConfig, type StafdConfig } from '../../core/config/service-config.js';
import { errorText } from '../../core/log.js';
import { VERSION } from '../../version.js';
import { exportStafdApi, type StafdDbus } from '../dbus-api.js';
import { type DaemonSpec, runUntilStopped, serveMetrics, startDaemon } from '../program.js';
import { dcSessionFactory } from './dc-host.js';
import { StafdMetrics } from './metrics.js';
import { StafdService } from './service.js';
import { zeroconfSwitch } from './zeroconf-switch.js';

const PROG = 'stafd';
const HELP = `
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
  --metrics LISTEN      Serve OpenMetrics (GET /metrics, no authentication) on LISTEN: 127.0.0.1:PORT,
                        [::1]:PORT, localhost:PORT or the absolute path of a unix socket
  -v, --version         Print the version and exit

signals: SIGHUP reloads the configuration (new parameters apply to new connections); SIGTERM/SIGINT stop.
`;

const SPEC: DaemonSpec<StafdConfig> = {
  prog: PROG,
  help: HELP,
  idl: () => idlXml(STAFD_OBJECT),
  parse: parseStafdConfig,
};

export async function main(argv: readonly string[]): Promise<number> {
  const started = startDaemon(SPEC, argv);
  if (typeof started === 'number') return started;
  const { confFile, log, identity } = started;
  let config: StafdConfig = started.config;

  let dbus: StafdDbus | undefined;
  // The hosts of the discovery controllers' sessions are loaded on the first connect that needs them (an idle
  // stafd, with no controller, loads neither: issue 14 §3). One kernel host for the process.
  let kernelDcs: Promise<KernelDcHost> | undefined;
  const kernelDcHost = () =>
    (kernelDcs ??= import('../../adapters/kernel/kernel-dc-session.js').then(
      (m) => new m.KernelDcHost(m.systemKernelDcPorts(), log),
      (e: unknown) => {
        kernelDcs = undefined;
        throw e;
      },
    ));
  const metrics = new StafdMetrics(
    () => service.snapshot(),
    () => service.lkcWrites,
  );
  const hostExclusions = new HostExclusionList(log);
  const nbft = await loadNbftDiscoveryControllers({ log });
  const service = new StafdService({
    config,
    confFile,
    identity,
    // Kernel discovery controllers (the default, every transport); tcp with kernel-discovery=false: stafd's
    // userspace NVMe/TCP host.
    connect: dcSessionFactory(
      {
        kernel: async (o) => (await kernelDcHost()).connect(o),
        userspace: async (o) =>
          (await import('../../adapters/nvme-tcp/userspace-dc-session.js')).DiscoverySession.connect(o),
      },
      () => config.kernelDiscovery,
    ),
    log,
    signals: {
      logPagesChanged: (tid, device) => dbus?.logPagesChanged(tid, device),
      dcRemoved: () => dbus?.dcRemoved(),
    },
    lkcPath: defaultLkcPath(PROG),
    // The firmware's NBFTs, read once per process (not on SIGHUP).
    nbft,
    onRunner: (r) => metrics.watch(r),
    onBoundHit: (bound) => metrics.boundHit(bound),
    hostExclusions: () => hostExclusions.load(identity.hostId),
  });
  hostExclusions.watch(() => void service.reconcile());

  // Restore the cached controllers and log pages before taking the bus name, so that the first caller (stacd
  // after a restart) already gets them.
  service.start();

  let bus: Awaited<ReturnType<typeof openSystemBus>>;
  try {
    bus = await openSystemBus({ onClose: () => log('error', 'Lost the connection to D-Bus') });
    dbus = await exportStafdApi(bus, service, log);
  } catch (e) {
    log('error', `D-Bus: ${errorText(e)}`);
    return 1;
  }

  // The mDNS side is loaded when zeroconf is first on (at start-up or on a SIGHUP).
  const zeroconf = zeroconfSwitch({
    load: async () => {
      const { startZeroconf } = await import('./zeroconf.js');
      return () => startZeroconf(bus, service, log, () => config);
    },
    off: () => service.setDiscovered([]),
    log,
  });
  await zeroconf.apply(config.zeroconf);
  const metricsServer = await serveMetrics(started, () => metrics.registry.expose());
  log('info', `${PROG} ${VERSION} running (config ${confFile})`);

  return runUntilStopped(
    SPEC,
    started,
    (next) => {
      config = next;
      service.reload(config);
      void zeroconf.apply(config.zeroconf);
    },
    async () => {
      await metricsServer?.close();
      zeroconf.stop();
      hostExclusions.close();
      await service.stop();
      await dbus?.close().catch(() => {});
      bus.close();
    },
  );
}
