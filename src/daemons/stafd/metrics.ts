/**
 * stafd's metrics: discovery controllers by state and origin, cached log entries (both read from the service
 * at each scrape), and counters of what the DC runners do (AENs, log reads, connect failures, DIM registrations).
 */
import { DC_BOUNDS } from '../../core/config/schema.js';
import { Registry } from '../../core/metrics.js';
import type { DcOrigin } from '../../core/stafd/dc-plan.js';
import type { DcState, DiscoveryControllerRunner } from './discovery-controller.js';

/** States and origins always exposed (0 when none), so that dashboards see every series. */
const DC_STATES: readonly DcState[] = ['idle', 'connecting', 'connected', 'waiting'];
const DC_ORIGINS: readonly DcOrigin[] = ['configured', 'discovered', 'referral'];

export interface DcSnapshot {
  origin: string;
  state: string;
  pages: number;
}

export class StafdMetrics {
  readonly registry = new Registry();
  private readonly aen;
  private readonly logReads;
  private readonly connectFailures;
  private readonly dim;
  private readonly boundHits;

  /**
   * `dcs` is read at each scrape (StafdService.snapshot); `lkcWrites` too (completed writes of the last-known
   * config).
   */
  constructor(dcs: () => readonly DcSnapshot[], lkcWrites: () => number = () => 0) {
    const r = this.registry;
    r.gauge(
      {
        name: 'stas_dc',
        help: 'Discovery controllers by state (idle, connecting, connected, waiting to retry) and origin.',
        labelNames: ['state', 'origin'],
      },
      () => {
        const n = new Map<string, { labels: { state: string; origin: string }; value: number }>();
        const at = (state: string, origin: string) => {
          const k = `${state}\n${origin}`;
          const e = n.get(k) ?? { labels: { state, origin }, value: 0 };
          n.set(k, e);
          return e;
        };
        for (const s of DC_STATES) for (const o of DC_ORIGINS) at(s, o);
        for (const dc of dcs()) at(dc.state, dc.origin).value++;
        return [...n.values()];
      },
    );
    r.gauge(
      { name: 'stas_dlpe', help: 'Discovery log page entries cached, over all discovery controllers.' },
      () => dcs().reduce((sum, dc) => sum + dc.pages, 0),
    );
    this.aen = r.counter({
      name: 'stas_aen',
      help: 'Asynchronous event notices received from discovery controllers.',
    });
    this.logReads = r.counter({
      name: 'stas_log_page_reads',
      help: 'Discovery log pages read successfully.',
    });
    this.connectFailures = r.counter({
      name: 'stas_dc_connect_failures',
      help: 'Failed connection attempts to discovery controllers.',
    });
    this.dim = r.counter({
      name: 'stas_dim_registrations',
      help: 'DIM registrations with Central Discovery Controllers, by result.',
      labelNames: ['result'],
    });
    this.dim.inc(0, { result: 'success' });
    this.dim.inc(0, { result: 'failure' });
    this.boundHits = r.counter({
      name: 'stas_bound_hits',
      help: 'Times a bound of stafd.conf (max-discovery-controllers, max-referral-depth, max-referrals-per-controller, max-cached-log-entries) kept discovery controllers, referrals or log entries out.',
      labelNames: ['bound'],
    });
    for (const b of DC_BOUNDS) this.boundHits.inc(0, { bound: b.key });
    if (lkcWrites)
      r.counter({ name: 'stas_lkc_writes', help: 'Writes of the last-known configuration file.' }, lkcWrites);
  }

  /** A bound kept something out (StafdServiceOptions.onBoundHit). */
  boundHit(bound: string): void {
    this.boundHits.inc(1, { bound });
  }

  /** Counts the events of one DC runner (StafdServiceOptions.onRunner). */
  watch(r: DiscoveryControllerRunner): void {
    r.on('aen', () => this.aen.inc());
    r.on('logRead', () => this.logReads.inc());
    r.on('state', (state) => {
      if (state === 'waiting' && r.lastError) this.connectFailures.inc();
    });
    r.on('dim', (ok) => this.dim.inc(1, { result: ok ? 'success' : 'failure' }));
  }
}
