/**
 * stafd's last-known configuration: the discovery controllers and their cached log pages, written under
 * /run/stafd after every reconciliation so that a restart serves the old log pages at once (stacd must not see
 * empty logs while stafd reconnects). JSON, written atomically; an unreadable file means a cold start.
 *
 * LkcWriter is how the daemon writes it: changes are coalesced (at most one write in flight, a minimum interval
 * between writes) and the JSON is produced and written in slices, so an AEN storm or a 65,536-entry log neither
 * turns into an fsync storm nor holds the event loop.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeFileAtomic, writeFileAtomicAsync } from '../../adapters/atomic-file.js';
import { isControllerName } from '../../core/kernel-controller.js';
import { errorText, type LogFn } from '../../core/log.js';
import type { DiscoveryLogEntry } from '../../core/nvme/discovery-log.js';
import type { DcOrigin } from '../../core/stafd/dc-plan.js';
import type { TidInput } from '../../core/tid.js';

export interface SavedDc {
  tid: Required<TidInput>;
  origin: DcOrigin;
  logPages: DiscoveryLogEntry[];
  /** Kernel discovery controller stafd created for this DC and left in place (persistent-connections). */
  kernelDevice?: string | undefined;
}

const VERSION = 1;
/** TSAS is 256 bytes; all zero (no transport-specific address subtype) it is left out of the file. */
const TSAS_LENGTH = 256;
/** Entries per piece of JSON: the writer may yield between pieces. */
const ENTRIES_PER_PIECE = 64;

/** $RUNTIME_DIRECTORY (systemd RuntimeDirectory=stafd) or /run/stafd. */
export function defaultLkcPath(prog: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['RUNTIME_DIRECTORY']?.split(':')[0] || `/run/${prog}`;
  return join(dir, 'last-known-config.json');
}

function isZeroTsas(tsas: Uint8Array): boolean {
  if (tsas.length !== TSAS_LENGTH) return false;
  for (let i = 0; i < tsas.length; i++) if (tsas[i] !== 0) return false;
  return true;
}

function entryJson(e: DiscoveryLogEntry): string {
  return JSON.stringify({
    trtype: e.trtype,
    adrfam: e.adrfam,
    subtype: e.subtype,
    treq: e.treq,
    portid: e.portid,
    cntlid: e.cntlid,
    asqsz: e.asqsz,
    eflags: e.eflags,
    trsvcid: e.trsvcid,
    subnqn: e.subnqn,
    traddr: e.traddr,
    ...(isZeroTsas(e.tsas) ? {} : { tsas: Buffer.from(e.tsas).toString('base64') }),
  });
}

/**
 * The file's JSON text in pieces: a DC's head, batches of its entries, its tail. Joined, they are one JSON
 * document (version 1); the DCs' arrays must not change while the pieces are produced.
 */
export function* lkcJsonPieces(dcs: readonly SavedDc[]): Generator<string> {
  yield `{"version":${VERSION},"dcs":[`;
  for (let d = 0; d < dcs.length; d++) {
    const dc = dcs[d]!;
    const head = JSON.stringify({ tid: dc.tid, origin: dc.origin });
    yield `${d > 0 ? ',' : ''}${head.slice(0, -1)},"logPages":[`;
    const pages = dc.logPages;
    for (let i = 0; i < pages.length; i += ENTRIES_PER_PIECE) {
      const batch: string[] = [];
      for (let j = i; j < Math.min(i + ENTRIES_PER_PIECE, pages.length); j++)
        batch.push(entryJson(pages[j]!));
      yield `${i > 0 ? ',' : ''}${batch.join(',')}`;
    }
    const kernelDevice =
      dc.kernelDevice === undefined ? '' : `,"kernelDevice":${JSON.stringify(dc.kernelDevice)}`;
    yield `]${kernelDevice}}`;
  }
  yield ']}\n';
}

/** Writes the file at once (synchronously). The daemon uses LkcWriter. */
export function saveLkc(path: string, dcs: readonly SavedDc[]): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, [...lkcJsonPieces(dcs)].join(''), 0o600);
}

/** Coalescing, asynchronous writer of the last-known configuration. */
export class LkcWriter {
  private readonly minIntervalMs: number;
  private readonly log: LogFn;
  private snapshot: (() => readonly SavedDc[]) | undefined;
  /** schedule() calls so far, and how many of them the last started write covers. */
  private scheduled = 0;
  private startedUpTo = 0;
  /** How many schedule() calls are on disk. */
  private writtenUpTo = 0;
  private lastStart = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private completed = 0;
  private size = 0;

  constructor(
    private readonly path: string,
    opts: { minIntervalMs?: number; log?: LogFn } = {},
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 1000;
    this.log = opts.log ?? (() => {});
  }

  /** Completed writes (for metrics/bench). */
  get writes(): number {
    return this.completed;
  }

  /** Bytes of the last file written. */
  get lastSize(): number {
    return this.size;
  }

  /**
   * The state changed: a write of snapshot() (called at write time, so the latest state is written) happens
   * soon: at most one write in flight, and at least minIntervalMs between the starts of two writes.
   */
  schedule(snapshot: () => readonly SavedDc[]): void {
    this.snapshot = snapshot;
    this.scheduled++;
    this.arm();
  }

  /**
   * Resolves once everything scheduled so far is on disk (waits for a write in flight, then writes at once if
   * still dirty, ignoring the interval). Used at stop. A failed write is logged, not thrown.
   */
  async flush(): Promise<void> {
    const target = this.scheduled;
    while (this.inFlight) await this.inFlight;
    if (this.writtenUpTo >= target || !this.snapshot) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.start();
  }

  /** A write is due: start it when the interval allows (a timer), unless one is running or armed already. */
  private arm(): void {
    if (this.timer || this.inFlight || this.scheduled <= this.startedUpTo) return;
    const wait = this.lastStart + this.minIntervalMs - performance.now();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        // Timers may fire a little early: check against the same clock and wait the rest.
        if (performance.now() < this.lastStart + this.minIntervalMs) this.arm();
        else void this.start();
      },
      Math.max(0, Math.ceil(wait)),
    );
  }

  private start(): Promise<void> {
    const upTo = this.scheduled;
    const snapshot = this.snapshot!;
    this.startedUpTo = upTo;
    this.lastStart = performance.now();
    const run = async () => {
      try {
        const t0 = performance.now();
        const dcs = snapshot();
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.size = await writeFileAtomicAsync(this.path, lkcJsonPieces(dcs), 0o600);
        this.completed++;
        this.writtenUpTo = Math.max(this.writtenUpTo, upTo);
        this.log(
          'debug',
          `Saved last known config (${this.size} bytes, ${Math.round(performance.now() - t0)} ms)`,
        );
      } catch (e) {
        // Not retried by itself: the next change (schedule) or flush writes again.
        this.log('error', `Unable to save last known config: ${errorText(e)}`);
      } finally {
        this.inFlight = undefined;
        this.arm();
      }
    };
    this.inFlight = run();
    return this.inFlight;
  }
}

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}

/** Reads the file; anything missing, corrupt or of another version gives [] (and the reason, for a log line). */
export function loadLkc(path: string): { dcs: SavedDc[]; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { dcs: [] } : { dcs: [], problem: `cannot read ${path}: ${errorText(e)}` };
  }
  const body = raw as { version?: unknown; dcs?: unknown };
  if (body?.version !== VERSION || !Array.isArray(body.dcs))
    return { dcs: [], problem: `${path} has an unknown format` };
  const out: SavedDc[] = [];
  for (const d of body.dcs as Record<string, unknown>[]) {
    const tid = d['tid'] as Record<string, unknown> | undefined;
    const fields = [
      'transport',
      'traddr',
      'trsvcid',
      'subsysnqn',
      'hostTraddr',
      'hostIface',
      'hostNqn',
    ] as const;
    if (!tid || !fields.every((f) => isStr(tid[f]))) continue;
    const origin = d['origin'];
    if (origin !== 'configured' && origin !== 'discovered' && origin !== 'referral') continue;
    const pages = Array.isArray(d['logPages']) ? (d['logPages'] as Record<string, unknown>[]) : [];
    const logPages: DiscoveryLogEntry[] = [];
    for (const p of pages) {
      const nums = ['trtype', 'adrfam', 'subtype', 'treq', 'portid', 'cntlid', 'asqsz', 'eflags'] as const;
      if (
        !nums.every((k) => typeof p[k] === 'number') ||
        !isStr(p['trsvcid']) ||
        !isStr(p['subnqn']) ||
        !isStr(p['traddr'])
      )
        continue;
      logPages.push({
        trtype: p['trtype'] as number,
        adrfam: p['adrfam'] as number,
        subtype: p['subtype'] as number,
        treq: p['treq'] as number,
        portid: p['portid'] as number,
        cntlid: p['cntlid'] as number,
        asqsz: p['asqsz'] as number,
        eflags: p['eflags'] as number,
        trsvcid: p['trsvcid'],
        subnqn: p['subnqn'],
        traddr: p['traddr'],
        // Left out when all zero.
        tsas: isStr(p['tsas'])
          ? new Uint8Array(Buffer.from(p['tsas'], 'base64'))
          : new Uint8Array(TSAS_LENGTH),
      });
    }
    const kernelDevice = d['kernelDevice'];
    out.push({
      tid: Object.fromEntries(fields.map((f) => [f, tid[f] as string])) as Required<TidInput>,
      origin,
      logPages,
      ...(isStr(kernelDevice) && isControllerName(kernelDevice) ? { kernelDevice } : {}),
    });
  }
  return { dcs: out };
}
