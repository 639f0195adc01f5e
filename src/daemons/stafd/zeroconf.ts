/**
 * stafd's mDNS side: Avahi browsing, a reachability probe per announced DC (retried with backoff, as nvme-stas:
 * at once, then 5, 10, 30, 60, 300 and every 600 s), and the reachable set handed to the service as
 * discovered DCs.
 */
import { AvahiBrowser, type MdnsService } from '../../adapters/avahi/browser.js';
import type { DBusConnection } from '../../adapters/dbus/service.js';
import { isReachable } from '../../adapters/tcp-probe.js';
import type { StafdConfig } from '../../core/config/service-config.js';
import {
  type AddressOnInterface,
  duplicateAddresses,
  duplicateAddressMessage,
  NVME_DISC_SERVICE_TYPES,
} from '../../core/mdns.js';
import { Tid } from '../../core/tid.js';
import type { Logger } from '../logger.js';
import { gtimerText } from '../process-info.js';
import type { StafdService } from './service.js';

const PROBE_BACKOFF_S = [5, 10, 30, 60, 300, 600];

export interface Zeroconf {
  stop(): void;
}

/**
 * An error line (nvme-stas' level) for each address announced on several interfaces, once: not again on every
 * later browse event while it lasts, again only if its set of interfaces changes or it comes back after it went.
 * Call the returned function with the current services whenever they change.
 */
export function duplicateAddressReporter(
  log: (level: 'error', message: string) => void,
): (services: Iterable<AddressOnInterface>) => void {
  let reported = new Set<string>();
  return (services) => {
    const current = new Set<string>();
    for (const d of duplicateAddresses(services)) {
      const finding = `${d.address} ${[...d.ifaces].sort().join(' ')}`;
      current.add(finding);
      if (!reported.has(finding)) log('error', duplicateAddressMessage(d));
    }
    reported = current;
  };
}

interface Tracked {
  service: MdnsService;
  reachable: boolean;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
}

export function startZeroconf(
  bus: DBusConnection,
  stafd: StafdService,
  log: Logger,
  config: () => StafdConfig,
): Zeroconf {
  const browser = new AvahiBrowser({ log });
  const tracked = new Map<string, Tracked>();
  const reportDuplicates = duplicateAddressReporter(log);
  const checkDuplicates = () => reportDuplicates([...tracked.values()].map((t) => t.service));

  const publish = () => {
    const cfg = config();
    const tids = [...tracked.values()]
      .filter((t) => t.reachable)
      .map((t) =>
        Tid.from(
          { ...t.service.candidate, hostIface: t.service.candidate.hostIface },
          { defaultHostNqn: stafd.hostNqn, ignoreIface: cfg.ignoreIface },
        ),
      );
    stafd.setDiscovered(tids);
  };

  const probe = async (key: string) => {
    const t = tracked.get(key);
    if (!t) return;
    t.timer = undefined;
    const r = await isReachable(t.service.candidate, 5000);
    if (tracked.get(key) !== t) return;
    if (r.reachable) {
      t.reachable = true;
      log('info', `${t.service.label} is reachable`);
      publish();
      return;
    }
    const delay = PROBE_BACKOFF_S[Math.min(t.attempt, PROBE_BACKOFF_S.length - 1)]!;
    t.attempt++;
    log('debug', `${t.service.label} not reachable yet (${r.error ?? 'no answer'}); retrying in ${delay} s`);
    t.timer = setTimeout(() => void probe(key), delay * 1000);
    t.timer.unref?.();
  };

  browser.on('added', (s) => {
    const old = tracked.get(s.key);
    if (old?.timer) clearTimeout(old.timer);
    tracked.set(s.key, { service: s, reachable: false, attempt: 0, timer: undefined });
    checkDuplicates();
    void probe(s.key);
  });
  browser.on('removed', (key) => {
    const t = tracked.get(key);
    if (t?.timer) clearTimeout(t.timer);
    tracked.delete(key);
    checkDuplicates();
    publish();
  });
  // While avahi-daemon is absent, the browser's wake-up call repeats every 60 s from when it went (or from now).
  let absentSince = Date.now();
  browser.on('unavailable', () => {
    absentSince = Date.now();
  });
  // process_info's `avahi`, as nvme-stas shows it.
  stafd.avahiInfo = () => ({
    'avahi wake up timer': browser.isAvailable
      ? gtimerText(60)
      : gtimerText(60, 60 - (((Date.now() - absentSince) / 1000) % 60)),
    'service types': [...NVME_DISC_SERVICE_TYPES],
    services: Object.fromEntries(
      [...tracked.values()].map((t) => [
        t.service.label,
        {
          transport: t.service.candidate.transport,
          traddr: t.service.candidate.traddr,
          trsvcid: t.service.candidate.trsvcid,
          'host-iface': t.service.candidate.hostIface,
          subsysnqn: t.service.candidate.subsysnqn,
          reachable: t.reachable ? 'True' : 'False',
        },
      ]),
    ),
  });
  browser.start(bus);
  return {
    stop: () => {
      stafd.avahiInfo = undefined;
      for (const t of tracked.values()) if (t.timer) clearTimeout(t.timer);
      tracked.clear();
      browser.stop();
    },
  };
}
