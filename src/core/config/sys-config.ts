// sys.conf text → raw [Host] values (nqn, id, key, symname; `file://` resolution happens elsewhere), with diagnostics. Pure.
import { type ConfigResult, DiagnosticSink } from './diagnostics.js';
import { parseIni } from './ini.js';
import { SYS_SCHEMA } from './schema.js';
import { readOptions } from './service-config.js';

/** sys.conf [Host] values as written, defaults applied (compatible with host-identity's HostConfigValues). */
export interface SysConfig {
  /** Literal host NQN or `file://<path>` (default `file:///etc/nvme/hostnqn`). */
  readonly nqn: string;
  /** Literal host ID or `file://<path>` (default `file:///etc/nvme/hostid`). */
  readonly id: string;
  /** DH-HMAC-CHAP host secret or `file://<path>` (default `file:///etc/nvme/hostkey`). A secret: never log. */
  readonly key?: string;
  /** Host symbolic name or `file://<path>`; undefined when not configured. */
  readonly symname?: string;
}

/** Parses sys.conf text; `file` names the file in diagnostics. Never throws. */
export function parseSysConfig(text: string, file: string = SYS_SCHEMA.file): ConfigResult<SysConfig> {
  const sink = new DiagnosticSink(file);
  const { values } = readOptions(parseIni(text, sink), SYS_SCHEMA, 'stafd', sink);
  const get = (key: string): string | undefined => values.string('Host', key);
  const config: { nqn: string; id: string; key?: string; symname?: string } = {
    nqn: get('nqn')!,
    id: get('id')!,
  };
  const key = get('key');
  const symname = get('symname');
  if (key !== undefined) config.key = key;
  if (symname !== undefined) config.symname = symname;
  return sink.result(config);
}

export function defaultSysConfig(): SysConfig {
  return parseSysConfig('').config;
}
