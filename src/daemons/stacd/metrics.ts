/**
 * stacd's metrics, read from the service at each scrape (IOCs by state from the last plan, its connect,
 * disconnect, pass and sysfs scan counters), and the histogram of reconcile pass durations it reports.
 */
import { Registry } from '../../core/metrics.js';
import { IOC_STATES, type StacdService } from './service.js';

export class StacdMetrics {
  readonly registry = new Registry();
  private readonly durations;

  /** `service` is read at each scrape. */
  constructor(service: () => StacdService) {
    const r = this.registry;
    const counter = (name: string, help: string, value: (s: StacdService) => number) =>
      r.counter({ name, help }, () => value(service()));
    r.gauge(
      {
        name: 'stas_ioc',
        help: 'Wanted I/O controllers by state (connected, connecting, failed, skipped on NCC, excluded), as of the last reconcile pass.',
        labelNames: ['state'],
      },
      () => {
        const n = service().iocStates();
        return IOC_STATES.map((state) => ({ labels: { state }, value: n[state] }));
      },
    );
    counter('stas_connects', 'I/O controller connections made through /dev/nvme-fabrics.', (s) => s.connects);
    counter(
      'stas_connect_failures',
      'I/O controller connection attempts that failed.',
      (s) => s.connectFailures,
    );
    counter('stas_disconnects', 'I/O controllers disconnected.', (s) => s.disconnects);
    counter('stas_reconcile_passes', 'Reconcile passes started.', (s) => s.passes);
    this.durations = r.histogram({
      name: 'stas_reconcile_duration_seconds',
      help: 'Duration of reconcile passes (inputs, plan and execution).',
      unit: 'seconds',
    });
    counter(
      'stas_sysfs_scans',
      'Scans of /sys/class/nvme (one per pass and per plan asked for).',
      (s) => s.sysfsScans,
    );
  }

  /** StacdServiceOptions.onPass. */
  observePass(seconds: number): void {
    this.durations.observe(seconds);
  }
}
