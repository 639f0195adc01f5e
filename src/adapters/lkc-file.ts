/**
 * The last-known configuration files (formats: src/core/last-known-config.ts), under $RUNTIME_DIRECTORY or
 * /run/<prog>, written atomically; an unreadable file means a cold start.
 *
 * LkcWriter is how stafd writes its file: changes are coalesced (at most one write in flight, a minimum interval
 * between writes) and the JSON is produced and written in slices, so an AEN storm or a 65,536-entry log neither
 * turns into an fsync storm nor holds the event loop (nor is ever one string in memory).
 */

import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lkcJsonPieces, ownedJson, parseLkc, parseOwned, type SavedDc } from '../core/last-known-config.js';
import { errorText, type LogFn } from '../core/log.js';
import { writeFileAtomic, writeFileAtomicAsync } from './atomic-file.js';
import { mkdir } from './fs-async.js';
import { monotonicMs } from './monotonic-clock.js';

export type { SavedDc } from '../core/last-known-config.js';

/** $RUNTIME_DIRECTORY (systemd RuntimeDirectory=stafd) or /run/stafd. */
export function defaultLkcPath(prog: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['RUNTIME_DIRECTORY']?.split(':')[0] || `/run/${prog}`;
  return join(dir, 'last-known-config.json');
}

/** Writes stafd's file at once (synchronously). The daemon uses LkcWriter. */
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
    const wait = this.lastStart + this.minIntervalMs - monotonicMs();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        // Timers may fire a little early: check against the same clock and wait the rest.
        if (monotonicMs() < this.lastStart + this.minIntervalMs) this.arm();
        else void this.start();
      },
      Math.max(0, Math.ceil(wait)),
    );
  }

  private start(): Promise<void> {
    const upTo = this.scheduled;
    const snapshot = this.snapshot!;
    this.startedUpTo = upTo;
    this.lastStart = monotonicMs();
    const run = async () => {
      try {
        const t0 = monotonicMs();
        const dcs = snapshot();
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.size = await writeFileAtomicAsync(this.path, lkcJsonPieces(dcs), 0o600);
        this.completed++;
        this.writtenUpTo = Math.max(this.writtenUpTo, upTo);
        this.log(
          'debug',
          `Saved last known config (${this.size} bytes, ${Math.round(monotonicMs() - t0)} ms)`,
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

/** Reads stafd's file; anything missing, corrupt or of another version gives [] (and the reason, for a log line). */
export function loadLkc(path: string): { dcs: SavedDc[]; problem?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { dcs: [] } : { dcs: [], problem: `cannot read ${path}: ${errorText(e)}` };
  }
  return parseLkc(text, path);
}

/** Writes stacd's file: device → identity. */
export function saveOwned(path: string, owned: ReadonlyMap<string, string>): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, ownedJson(owned), 0o600);
}

/** Reads stacd's file; anything unreadable or malformed gives an empty map: nothing is presumed ours. */
export function loadOwned(path: string): Map<string, string> {
  try {
    return parseOwned(readFileSync(path, 'utf8'));
  } catch {
    return new Map();
  }
}
