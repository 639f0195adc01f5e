/**
 * stafd's last-known configuration: the discovery controllers and their cached log pages, written under
 * /run/stafd after every reconciliation so that a restart serves the old log pages at once (stacd must not see
 * empty logs while stafd reconnects). JSON, written atomically; an unreadable file means a cold start.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../adapters/atomic-file.js';
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

/** $RUNTIME_DIRECTORY (systemd RuntimeDirectory=stafd) or /run/stafd. */
export function defaultLkcPath(prog: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['RUNTIME_DIRECTORY']?.split(':')[0] || `/run/${prog}`;
  return join(dir, 'last-known-config.json');
}

export function saveLkc(path: string, dcs: readonly SavedDc[]): void {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const body = {
    version: VERSION,
    dcs: dcs.map((d) => ({
      ...d,
      logPages: d.logPages.map((e) => ({ ...e, tsas: Buffer.from(e.tsas).toString('base64') })),
    })),
  };
  writeFileAtomic(path, `${JSON.stringify(body)}\n`, 0o600);
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
    return code === 'ENOENT'
      ? { dcs: [] }
      : { dcs: [], problem: `cannot read ${path}: ${(e as Error).message}` };
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
        tsas: new Uint8Array(Buffer.from(isStr(p['tsas']) ? p['tsas'] : '', 'base64')),
      });
    }
    const kernelDevice = d['kernelDevice'];
    out.push({
      tid: Object.fromEntries(fields.map((f) => [f, tid[f] as string])) as Required<TidInput>,
      origin,
      logPages,
      ...(isStr(kernelDevice) && /^nvme\d+$/.test(kernelDevice) ? { kernelDevice } : {}),
    });
  }
  return { dcs: out };
}
