/**
 * An in-memory fabric of discovery controllers for runner and service unit tests: a DcSessionFactory whose
 * sessions serve logs from functions (no sockets, so the tests can drive hundreds of DCs and mock the clock).
 * It counts connects, open sessions and log reads, and can hold a read until the test releases it.
 */
import { EventEmitter } from 'node:events';
import type { DcConnectOptions, DcSession, DcSessionEvents } from '../../src/adapters/dc-session.js';
import type { DiscoveryLogEntry } from '../../src/core/nvme/discovery-log.js';
import type { DiscoveryLog } from '../../src/core/nvme/discovery-log-read.js';
import type { IdentifyController } from '../../src/core/nvme/identify.js';

/** What a fake DC answers to a log read: entries (GENCTR 1), or an error to throw. */
export type FakeLog = () => DiscoveryLogEntry[] | Error;

const IDENTIFY: IdentifyController = {
  vid: 0,
  serial: 'FAKE0001',
  model: 'fake discovery controller',
  firmware: '1.0',
  mdts: 0,
  cntlid: 1,
  version: 0x10300,
  oaes: 0x80000000,
  cntrltype: 2,
  kas: 0,
  subnqn: 'nqn.2014-08.org.nvmexpress.discovery',
  dctype: 1,
};

/** The AEN a DC sends when its discovery log changed. */
export const LOG_CHANGE_AEN = { type: 0x2, info: 0xf0, logPage: 0x70 };

export class FakeDcSession extends EventEmitter<DcSessionEvents> implements DcSession {
  readonly identify = IDENTIFY;
  isClosed = false;
  reads = 0;
  /** When set, reads wait for release() (one read in flight at a time is what the runner promises). */
  hold = false;
  inFlight = 0;
  maxInFlight = 0;
  private waiting: (() => void)[] = [];

  constructor(
    readonly address: string,
    private readonly log: FakeLog,
    private readonly onClose: () => void,
  ) {
    super();
  }

  async enableDiscoveryChangeNotices(): Promise<void> {}

  async discoveryLogOptions(): Promise<number> {
    return 0;
  }

  async readDiscoveryLog(): Promise<DiscoveryLog> {
    this.reads++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold) await new Promise<void>((r) => this.waiting.push(r));
      const got = this.log();
      if (got instanceof Error) throw got;
      return { genctr: 1n, recfmt: 0, entries: got, attempts: 1 };
    } finally {
      this.inFlight--;
    }
  }

  /** Lets the held reads finish. */
  releaseReads(): void {
    for (const r of this.waiting.splice(0)) r();
  }

  async dim(): Promise<void> {}

  async close(): Promise<void> {
    this.drop(undefined);
  }

  /** The connection ends (err: lost; undefined: closed on request). */
  drop(err: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.onClose();
    this.emit('close', err);
  }
}

export class FakeFabric {
  private readonly dcs = new Map<string, FakeLog>();
  readonly sessions: FakeDcSession[] = [];
  connects = 0;
  open = 0;

  /** Adds (or replaces) the DC at `traddr:trsvcid`. */
  set(traddr: string, trsvcid: string, log: FakeLog): void {
    this.dcs.set(`${traddr}:${trsvcid}`, log);
  }

  readonly connect = async (o: DcConnectOptions): Promise<DcSession> => {
    const address = `${o.traddr}:${o.trsvcid}`;
    const log = this.dcs.get(address);
    if (!log) throw new Error(`cannot connect to ${address}: connection refused`);
    this.connects++;
    this.open++;
    const s = new FakeDcSession(address, log, () => this.open--);
    this.sessions.push(s);
    return s;
  };

  /** The sessions to `address` (traddr:trsvcid), newest last. */
  sessionsTo(address: string): FakeDcSession[] {
    return this.sessions.filter((s) => s.address === address);
  }

  get reads(): number {
    return this.sessions.reduce((n, s) => n + s.reads, 0);
  }
}
