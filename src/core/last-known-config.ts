/**
 * The last-known configurations' file formats, pure (the files: src/adapters/lkc-file.ts).
 *
 * stafd's (version 1): the discovery controllers and their cached log pages, so that a restart serves the old
 * log pages at once (stacd must not see empty logs while stafd reconnects). JSON produced in pieces, so that a
 * 65,536-entry log is never one string, and written by the caller as the pieces come.
 *
 * stacd's (version 2): the controllers it made or adopted, each with the identity it had (device names are
 * recycled by the kernel, so a name alone proves nothing), so that a restart keeps ownership.
 */
import { isControllerName } from './kernel-controller.js';
import { errorText } from './log.js';
import { type DiscoveryLogEntry, ZERO_TSAS } from './nvme/discovery-log.js';
import type { DcOrigin } from './stafd/dc-plan.js';
import type { TidInput } from './tid.js';

export interface SavedDc {
  tid: Required<TidInput>;
  origin: DcOrigin;
  logPages: readonly DiscoveryLogEntry[];
  /** Kernel discovery controller stafd created for this DC and left in place (persistent-connections). */
  kernelDevice?: string | undefined;
}

const VERSION = 1;
/** TSAS is 256 bytes; all zero (no transport-specific address subtype) it is left out of the file. */
const TSAS_LENGTH = 256;
/** Entries per piece of JSON: the writer may yield between pieces. */
const ENTRIES_PER_PIECE = 64;

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

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}

/**
 * stafd's file text parsed; anything corrupt or of another version gives [] and the reason (for a log line, which
 * names the file: `where`).
 */
export function parseLkc(text: string, where: string): { dcs: SavedDc[]; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { dcs: [], problem: `cannot read ${where}: ${errorText(e)}` };
  }
  const body = raw as { version?: unknown; dcs?: unknown };
  if (body?.version !== VERSION || !Array.isArray(body.dcs))
    return { dcs: [], problem: `${where} has an unknown format` };
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
        tsas: isStr(p['tsas']) ? new Uint8Array(Buffer.from(p['tsas'], 'base64')) : ZERO_TSAS,
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

const OWNED_VERSION = 2;

/** stacd's file text: device → identity (see controllerIdentity), sorted by device. */
export function ownedJson(owned: ReadonlyMap<string, string>): string {
  const body = {
    version: OWNED_VERSION,
    owned: Object.fromEntries([...owned].sort(([a], [b]) => a.localeCompare(b))),
  };
  return `${JSON.stringify(body)}\n`;
}

/** stacd's file text parsed: anything corrupt, of an older version (names only) or malformed gives an empty map. */
export function parseOwned(text: string): Map<string, string> {
  try {
    const body = JSON.parse(text) as { version?: unknown; owned?: unknown };
    if (body.version !== OWNED_VERSION || typeof body.owned !== 'object' || body.owned === null)
      return new Map();
    return new Map(
      Object.entries(body.owned as Record<string, unknown>).filter(
        (e): e is [string, string] => isControllerName(e[0]) && typeof e[1] === 'string',
      ),
    );
  } catch {
    return new Map();
  }
}
