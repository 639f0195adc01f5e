/**
 * Command-line helpers shared by the programs (src/cli) and the daemons (src/daemons/program.ts): split global
 * options from a sub-command, argparse-style errors. Pure: node:util's parseArgs, no I/O.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Splits argv at the sub-command: tokens before it are global options (values of options that take one are
 * skipped), the first non-option token is the command, the rest belong to it.
 */
export function splitCommand(
  argv: readonly string[],
  globalOptions: Options,
): { global: string[]; command?: string; rest: string[] } {
  const takesValue = new Set<string>();
  for (const [long, o] of Object.entries(globalOptions)) {
    if (o.type === 'string') {
      takesValue.add(`--${long}`);
      if (o.short) takesValue.add(`-${o.short}`);
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (takesValue.has(a)) {
      i++;
      continue;
    }
    if (a === '--') return { global: argv.slice(0, i), command: argv[i + 1], rest: argv.slice(i + 2) };
    if (!a.startsWith('-') || a === '-')
      return { global: argv.slice(0, i), command: a, rest: argv.slice(i + 1) };
  }
  return { global: [...argv], rest: [] };
}

/** parseArgs in strict mode, with its errors turned into UsageError. */
export function parseStrict<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError(
      e instanceof Error ? e.message.replace(/\. To specify a positional argument.*$/s, '') : String(e),
    );
  }
}
