/**
 * Command-line helpers shared by the programs (src/cli) and the daemons (src/daemons/program.ts): split global
 * options from a sub-command, argparse-style errors. Pure, no I/O, and no node:util: its parseArgs costs an idle
 * daemon two internal modules (~0.2 MiB RSS), so parseArgv below reproduces it (strict mode) for stas' tables.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One option, as util.parseArgs describes it (a node:util ParseArgsConfig['options'] table fits). */
export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[] | boolean[];
}
export type Options = Record<string, OptionSpec>;

type Scalar<T> = T extends 'string' ? string : T extends 'boolean' ? boolean : never;
type OptionValue<S extends OptionSpec> = S extends { multiple: true }
  ? Scalar<S['type']>[]
  : Scalar<S['type']>;
/** Parsed values: each option absent (undefined) or its string / boolean (array with `multiple: true`). */
export type Values<O extends Options> = { [K in keyof O]?: OptionValue<O[K]> };
export interface Parsed<O extends Options> {
  /** A null-prototype object, as parseArgs returns. */
  values: Values<O>;
  positionals: string[];
}

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

/**
 * `util.parseArgs({ args, options, allowPositionals, strict: true })` of Node 20 (without its config validation,
 * `tokens` and `allowNegative`): same values, positionals and error messages (thrown as TypeError).
 */
export function parseArgv<O extends Options>(
  args: readonly string[],
  options: O,
  allowPositionals = false,
): Parsed<O> {
  const spec = (name: string): OptionSpec | undefined =>
    Object.hasOwn(options, name) ? options[name] : undefined;
  // A short letter nobody declares stands for the option of that name, as in parseArgs (`-x` is `--x`).
  const longOf = (c: string) => Object.entries(options).find(([, o]) => o.short === c)?.[0] ?? c;
  const values: Record<string, unknown> = Object.create(null);
  const positionals: string[] = [];

  const store = (name: string, rawName: string, value: string | undefined, inline: boolean) => {
    const o = spec(name);
    if (!o) {
      const hint = allowPositionals
        ? `. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ${JSON.stringify(rawName)}`
        : '';
      throw new TypeError(`Unknown option '${rawName}'${hint}`);
    }
    const shortAndLong = `${o.short ? `-${o.short}, ` : ''}--${name}`;
    if (o.type === 'string' && value === undefined)
      throw new TypeError(`Option '${shortAndLong} <value>' argument missing`);
    if (o.type === 'boolean' && value !== undefined)
      throw new TypeError(`Option '${shortAndLong}' does not take an argument`);
    if (!inline && value !== undefined && value.length > 1 && value[0] === '-') {
      const example = rawName.startsWith('--') ? `'${rawName}=-XYZ'` : `'--${name}=-XYZ' or '${rawName}-XYZ'`;
      throw new TypeError(
        `Option '${rawName}' argument is ambiguous.\nDid you forget to specify the option argument for '${rawName}'?\nTo specify an option argument starting with a dash use ${example}.`,
      );
    }
    if (name === '__proto__') return;
    const v = value ?? true;
    values[name] = o.multiple ? [...((values[name] as unknown[] | undefined) ?? []), v] : v;
  };

  const rest = [...args];
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg === '--') {
      for (const p of rest) {
        if (!allowPositionals)
          throw new TypeError(`Unexpected argument '${p}'. This command does not take positional arguments`);
        positionals.push(p);
      }
      break;
    }
    if (arg.length >= 2 && arg[0] === '-' && arg[1] !== '-') {
      const name = longOf(arg[1]!);
      const takesValue = spec(name)?.type === 'string';
      if (arg.length === 2) {
        // -f, -f VALUE (the next argument, whatever it looks like)
        store(name, arg, takesValue && rest.length > 0 ? rest.shift() : undefined, false);
      } else if (takesValue) {
        store(name, arg.slice(0, 2), arg.slice(2), true); // -fVALUE
      } else {
        // -abc → -a -b -c; -abfVALUE → -a -b -fVALUE; a lone last -f takes the next argument.
        const expanded: string[] = [];
        for (let i = 1; i < arg.length; i++) {
          if (spec(longOf(arg[i]!))?.type !== 'string' || i === arg.length - 1) expanded.push(`-${arg[i]}`);
          else {
            expanded.push(`-${arg.slice(i)}`);
            break;
          }
        }
        rest.unshift(...expanded);
      }
      continue;
    }
    if (arg.length > 2 && arg.startsWith('--')) {
      const eq = arg.indexOf('=', 3);
      if (eq < 0) {
        const name = arg.slice(2); // --foo, --foo VALUE
        store(name, arg, spec(name)?.type === 'string' && rest.length > 0 ? rest.shift() : undefined, false);
      } else {
        const name = arg.slice(2, eq); // --foo=VALUE
        store(name, `--${name}`, arg.slice(eq + 1), true);
      }
      continue;
    }
    if (!allowPositionals)
      throw new TypeError(`Unexpected argument '${arg}'. This command does not take positional arguments`);
    positionals.push(arg);
  }
  for (const [name, o] of Object.entries(options)) {
    if (
      Object.hasOwn(o, 'default') &&
      o.default !== undefined &&
      values[name] === undefined &&
      name !== '__proto__'
    )
      values[name] = o.default;
  }
  return { values: values as Values<O>, positionals };
}

/** parseArgv (strict parseArgs), with its errors turned into UsageError without parseArgs' positional hint. */
export function parseStrict<O extends Options>(
  args: string[],
  options: O,
  allowPositionals = false,
): Parsed<O> {
  try {
    return parseArgv(args, options, allowPositionals);
  } catch (e) {
    throw new UsageError(
      e instanceof Error ? e.message.replace(/\. To specify a positional argument.*$/s, '') : String(e),
    );
  }
}
