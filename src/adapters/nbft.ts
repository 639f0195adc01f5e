/**
 * Reads the NBFTs the firmware left (every /sys/firmware/acpi/tables/NBFT*) and the network interfaces' MAC
 * addresses (/sys/class/net/<name>/address and type), and turns them into stafd's nBFT discovery controllers.
 * stafd does this once per process, at start-up (a SIGHUP does not read the tables again: they cannot change).
 * The decoder (src/core/nbft.ts) and the matching (src/core/stafd/nbft-dcs.ts) are imported only when there is an
 * NBFT* file: most hosts have none, and an idle stafd does not keep them in memory (issue 14 §3).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errorText, type LogFn } from '../core/log.js';
import type { NbftResult, NbftTable } from '../core/nbft.js';
import type { NbftDc, NetLink } from '../core/stafd/nbft-dcs.js';

export const NBFT_TABLES_DIR = '/sys/firmware/acpi/tables';
export const SYS_CLASS_NET = '/sys/class/net';
/** An ACPI table is at most a few KiB; anything beyond this is not an NBFT and is not read. */
const MAX_TABLE_BYTES = 1 << 20;

export interface NbftFile {
  path: string;
  result: NbftResult;
}

/** The `NBFT*` files of `dir`, sorted (what readNbftFiles decodes). A missing directory means none. */
export function nbftTablePaths(dir: string = NBFT_TABLES_DIR): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.startsWith('NBFT'))
      .sort()
      .map((name) => join(dir, name));
  } catch {
    return [];
  }
}

/**
 * Every `NBFT*` file of `dir` (sorted), decoded. A missing directory means no tables; unreadable files are errors.
 * The decoder is imported only if there is a file.
 */
export async function readNbftFiles(dir: string = NBFT_TABLES_DIR): Promise<NbftFile[]> {
  const paths = nbftTablePaths(dir);
  if (paths.length === 0) return [];
  const { parseNbft } = await import('../core/nbft.js');
  return paths.map((path) => {
    try {
      const st = statSync(path);
      if (!st.isFile()) return { path, result: { ok: false, error: 'not a regular file', warnings: [] } };
      if (st.size > MAX_TABLE_BYTES)
        return {
          path,
          result: { ok: false, error: `${st.size} bytes is too large for an NBFT`, warnings: [] },
        };
      return { path, result: parseNbft(readFileSync(path)) };
    } catch (e) {
      return { path, result: { ok: false, error: errorText(e), warnings: [] } };
    }
  });
}

/** The interfaces of `netDir` with their link-layer address and ARPHRD type (unreadable ones are skipped). */
export function readNetLinks(netDir: string = SYS_CLASS_NET): NetLink[] {
  let names: string[];
  try {
    names = readdirSync(netDir);
  } catch {
    return [];
  }
  const links: NetLink[] = [];
  for (const name of names) {
    try {
      const address = readFileSync(join(netDir, name, 'address'), 'utf8').trim();
      const type = Number(readFileSync(join(netDir, name, 'type'), 'utf8').trim());
      links.push({ name, address, type });
    } catch {
      // an interface that vanished meanwhile, or a stray file
    }
  }
  return links;
}

/** Python's repr of a list of strings, as nvme-stas logs the NBFT locations. */
function pyList(items: readonly string[]): string {
  return `[${items.map((s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ')}]`;
}

export interface LoadNbftOptions {
  /** Where the ACPI tables are (tests point this elsewhere). */
  dir?: string;
  /** Where the network interfaces are. */
  netDir?: string;
  log: LogFn;
}

/**
 * stafd's nBFT discovery controllers: reads and decodes the tables, logs `NBFT location(s): [...]` when there are
 * any, logs why a table or an entry is unusable, and matches each entry's HFI to an interface by MAC address.
 */
export async function loadNbftDiscoveryControllers(opts: LoadNbftOptions): Promise<NbftDc[]> {
  const files = await readNbftFiles(opts.dir);
  if (files.length === 0) return [];
  opts.log('info', `NBFT location(s): ${pyList(files.map((f) => f.path))}`);
  const tables: { path: string; table: NbftTable }[] = [];
  for (const f of files) {
    for (const w of f.result.warnings) opts.log('warning', `${f.path}: ${w}`);
    if (f.result.ok) tables.push({ path: f.path, table: f.result.table });
    else opts.log('warning', `${f.path}: not a usable NBFT: ${f.result.error}`);
  }
  const { nbftDiscoveryControllers } = await import('../core/stafd/nbft-dcs.js');
  const { dcs, warnings } = nbftDiscoveryControllers(tables, readNetLinks(opts.netDir));
  for (const w of warnings) opts.log('warning', w);
  for (const dc of dcs)
    opts.log(
      'info',
      `${dc.source}: discovery controller ${dc.tid.traddr}:${dc.tid.trsvcid}${dc.tid.hostIface ? ` on ${dc.tid.hostIface}` : ''}`,
    );
  return dcs;
}
