/**
 * The host-wide NVMe-oF exclusion list shared by every orchestrator (nvme-cli/libnvme: /etc/nvme/exclusions.conf
 * and exclusions.conf.d/*.conf): parsing one file's text into entries, and turning the entries into the `exclude=`
 * fields stas matches with (minimal match, src/core/exclude.ts). Pure.
 *
 * Format: an `[exclusions]` section holding `exclusion = key=value;key=value…` lines. Keys are the `nvme connect`
 * option names: transport, traddr, trsvcid, nqn, host-traddr, host-iface, hostnqn, hostid. Other sections are
 * ignored (reserved). Reading is fail-safe: an entry with an unknown key, an item without `=`, an empty value or no
 * field at all never matches, and is reported once with its file:line.
 */
import { DiagnosticSink, fileRef } from './config/diagnostics.js';
import { parseIni } from './config/ini.js';
import { EXCLUDE_ALL, type ExcludeFields } from './exclude.js';

/** Where the lists live; the daemons read them under this directory. */
export const EXCLUSIONS_FILE = 'exclusions.conf';
export const EXCLUSIONS_DROPIN_DIR = 'exclusions.conf.d';

/** Entry key → the key stas' exclude matcher understands (`hostid` is resolved against the host ID instead). */
const KEYS: Readonly<Record<string, string>> = {
  transport: 'transport',
  traddr: 'traddr',
  trsvcid: 'trsvcid',
  nqn: 'nqn',
  'host-traddr': 'host-traddr',
  'host-iface': 'host-iface',
  hostnqn: 'host-nqn',
  hostid: 'hostid',
};

export interface HostExclusion {
  /** Matcher fields (stas spellings; `hostid` kept apart). */
  readonly fields: ExcludeFields;
  /** The host ID the entry names, if any. */
  readonly hostId?: string;
  /** `File:<path>:<line>` for messages. */
  readonly where: string;
  /** The entry as written. */
  readonly text: string;
}

export interface ExclusionListFile {
  readonly entries: HostExclusion[];
  /** Entries that can never match and other problems, each naming file:line (warnings: the list stays usable). */
  readonly problems: string[];
}

/** Parses the text of one exclusion list file. */
export function parseExclusionList(text: string, file: string): ExclusionListFile {
  const sink = new DiagnosticSink(file);
  const doc = parseIni(text, sink);
  const problems = sink.diagnostics.map((d) => d.message);
  const entries: HostExclusion[] = [];
  const section = doc.sections.get('exclusions');
  for (const [key, values] of section?.options ?? []) {
    for (const v of values) {
      const where = fileRef(file, v.line);
      if (key !== 'exclusion') {
        problems.push(`${where} [exclusions]: unknown key "${key}"; line ignored`);
        continue;
      }
      const parsed = parseEntry(v.value);
      if (typeof parsed === 'string')
        problems.push(`${where} exclusion "${v.value}" never matches: ${parsed}`);
      else entries.push({ ...parsed, where, text: v.value });
    }
  }
  return { entries, problems };
}

function parseEntry(value: string): { fields: ExcludeFields; hostId?: string } | string {
  const fields: Record<string, string> = {};
  let hostId: string | undefined;
  for (const item of value.split(';')) {
    const token = item.trim();
    if (token === '') continue;
    const eq = token.indexOf('=');
    if (eq < 0) return `"${token}" is not key=value`;
    const key = token.slice(0, eq).trim();
    const val = token.slice(eq + 1).trim();
    const mapped = KEYS[key];
    if (!mapped) return `unknown key "${key}"`;
    if (val === '') return `empty value of ${key}`;
    if (mapped === 'hostid') hostId = val;
    else fields[mapped] = val;
  }
  if (Object.keys(fields).length === 0 && hostId === undefined) return 'no field';
  return hostId === undefined ? { fields } : { fields, hostId };
}

/**
 * The `exclude=`-style fields of the entries that apply to a host with this ID: an entry naming another host ID
 * never matches; one naming this host's ID matches on its other fields (every connection of stas uses this host
 * ID), and on nothing else when it has none (it then excludes everything this host would connect).
 */
export function applicableExclusions(entries: readonly HostExclusion[], hostId: string): ExcludeFields[] {
  const out: ExcludeFields[] = [];
  for (const e of entries) {
    if (e.hostId === undefined) out.push(e.fields);
    else if (e.hostId.toLowerCase() === hostId.toLowerCase())
      out.push(Object.keys(e.fields).length > 0 ? e.fields : EXCLUDE_ALL);
  }
  return out;
}
