#!/usr/bin/env node
import { randomUUID } from 'node:crypto';
/** stasadm: STorage Appliance Services admin tool — writes the host identity (host NQN, host ID, symbolic name). */
import { resolve } from 'node:path';
import { writeFileAtomic } from '../adapters/atomic-file.js';
import { readRegularFileSync } from '../adapters/config-file.js';
import { parseStrict, splitCommand, UsageError } from '../core/argv.js';
import { setIniOption } from '../core/config/ini-edit.js';
import { hostNqnFromUuid, isUuid, uuidFromMachineId, uuidFromSmbiosProductUuid } from '../core/host-nqn.js';
import { errorText } from '../core/log.js';
import { VERSION_TEXT } from '../version.js';

const PROG = 'stasadm';
const DEFAULT_CONF = '/etc/stas/sys.conf';
const COMMANDS = ['hostnqn', 'hostid', 'set-symname', 'clear-symname'] as const;

const USAGE = `usage: ${PROG} [-h] [-v] [-c FILE] {${COMMANDS.join(',')}} ...\n`;
const HELP = `${USAGE}
Configuration utility for STAS.

options:
  -h, --help            show this help message and exit
  -v, --version         Print version, then exit
  -c FILE, --conf-file FILE
                        Configuration file. Default ${DEFAULT_CONF}.

Commands:
  {${COMMANDS.join(',')}}
    hostnqn             Configure the host NQN. The NQN is auto-generated.
    hostid              Configure the host ID. The ID is auto-generated.
    set-symname         Set the host symbolic name
    clear-symname       Clear the host symbolic name

Each command writes the [Host] section of FILE in place (comments and other options are kept). With -f/--file
the value is written to that file instead, and FILE gets "file://<absolute path>".
`;
const SUB_HELP: Record<string, string> = {
  hostnqn: `usage: ${PROG} hostnqn [-h] [-f FILE]\n\noptions:\n  -h, --help            show this help message and exit\n  -f FILE, --file FILE  Optional file where to save the NQN.\n`,
  hostid: `usage: ${PROG} hostid [-h] [-f FILE]\n\noptions:\n  -h, --help            show this help message and exit\n  -f FILE, --file FILE  Optional file where to save the ID.\n`,
  'set-symname': `usage: ${PROG} set-symname [-h] [-f FILE] SYMNAME\n\npositional arguments:\n  SYMNAME               Symbolic name\n\noptions:\n  -h, --help            show this help message and exit\n  -f FILE, --file FILE  Optional file where to save the symbolic name.\n`,
  'clear-symname': `usage: ${PROG} clear-symname [-h]\n\noptions:\n  -h, --help            show this help message and exit\n`,
};

function readOptional(path: string): string | null {
  try {
    return readRegularFileSync(path);
  } catch {
    return null;
  }
}

/** The UUID for a new host NQN: machine-id HMAC, else DMI product UUID (root only), else device tree, else random. */
function systemUuid(): string {
  const fromMachineId = uuidFromMachineId(readOptional('/etc/machine-id') ?? '');
  if (fromMachineId) return fromMachineId;
  if (process.geteuid?.() !== 0) throw new Error('Permission denied. Root privileges required.');
  const fromDmi = uuidFromSmbiosProductUuid(readOptional('/sys/class/dmi/id/product_uuid') ?? '');
  if (fromDmi) return fromDmi;
  const fromDt = (readOptional('/proc/device-tree/ibm,partition-uuid') ?? '').replace(/\0/g, '').trim();
  if (isUuid(fromDt)) return fromDt.toLowerCase();
  return randomUUID();
}

/** Stores `value` for [Host] `option`: in `file` (then referenced as file://) or literally in the conf file. */
function save(confFile: string, option: string, value: string | null, file?: string): void {
  let stored = value;
  if (file !== undefined && value !== null) {
    const abs = resolve(file);
    writeFileAtomic(abs, `${value}\n`);
    stored = `file://${abs}`;
  }
  const before = readOptional(confFile) ?? '';
  const after = setIniOption(before, 'Host', option, stored);
  if (after !== before) writeFileAtomic(confFile, after);
}

export function main(argv: readonly string[]): number {
  const globalOpts = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
    'conf-file': { type: 'string', short: 'c' },
  } as const;
  try {
    const { global, command, rest } = splitCommand(argv, globalOpts);
    const g = parseStrict(global, globalOpts).values;
    if (g.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (g.version) {
      process.stdout.write(VERSION_TEXT);
      return 0;
    }
    if (command === undefined) {
      process.stdout.write(USAGE);
      return 1;
    }
    if (!(COMMANDS as readonly string[]).includes(command)) {
      throw new UsageError(
        `argument command: invalid choice: '${command}' (choose from ${COMMANDS.map((c) => `'${c}'`).join(', ')})`,
      );
    }
    const confFile = g['conf-file'] ?? DEFAULT_CONF;
    const subOpts: Record<string, { type: 'boolean' | 'string'; short: string }> = {
      help: { type: 'boolean', short: 'h' },
    };
    if (command !== 'clear-symname') subOpts['file'] = { type: 'string', short: 'f' };
    const sub = parseStrict(rest, subOpts, command === 'set-symname');
    if (sub.values.help) {
      process.stdout.write(SUB_HELP[command]!);
      return 0;
    }
    const file = sub.values['file'] as string | undefined;
    switch (command) {
      case 'hostnqn':
        save(confFile, 'nqn', hostNqnFromUuid(systemUuid()), file);
        break;
      case 'hostid':
        save(confFile, 'id', randomUUID(), file);
        break;
      case 'set-symname': {
        if (sub.positionals.length !== 1)
          throw new UsageError('the following arguments are required: SYMNAME');
        const symname = sub.positionals[0]!;
        if (symname.trim() === '' || /[\r\n]/.test(symname))
          throw new UsageError('SYMNAME must be one non-empty line');
        if (file === undefined && /\s#/.test(symname)) {
          throw new UsageError(
            'SYMNAME contains " #", which sys.conf reads as a comment: store it with -f FILE',
          );
        }
        save(confFile, 'symname', symname, file);
        break;
      }
      case 'clear-symname':
        save(confFile, 'symname', null);
        break;
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${USAGE}${PROG}: error: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`${errorText(e)}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
