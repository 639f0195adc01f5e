import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import { OUTPUT_OPTIONS } from '../../src/cli/ctl.js';
import { type Options, parseArgv, parseStrict, splitCommand, UsageError } from '../../src/core/argv.js';
import { DAEMON_OPTIONS } from '../../src/daemons/program.js';
import { prng } from '../support/prng.js';

const globals = {
  help: { type: 'boolean', short: 'h' },
  'conf-file': { type: 'string', short: 'f' },
} as const;

test('splitCommand: global options (with their values) before the command, the rest after it', () => {
  assert.deepEqual(splitCommand(['-f', 'status', 'ls', '--detailed'], globals), {
    global: ['-f', 'status'],
    command: 'ls',
    rest: ['--detailed'],
  });
  assert.deepEqual(splitCommand(['--conf-file', 'x', '-h'], globals), {
    global: ['--conf-file', 'x', '-h'],
    rest: [],
  });
  assert.deepEqual(splitCommand(['-h', '--', '-odd', 'a'], globals), {
    global: ['-h'],
    command: '-odd',
    rest: ['a'],
  });
  assert.deepEqual(splitCommand(['-', 'x'], globals), { global: [], command: '-', rest: ['x'] });
});

test('parseStrict: values as parseArgs gives them; errors are UsageErrors without the positional hint', () => {
  const { values, positionals } = parseStrict(['-f', 'a.conf', 'p'], globals, true);
  assert.equal(values['conf-file'], 'a.conf');
  assert.deepEqual(positionals, ['p']);
  assert.throws(
    () => parseStrict(['--nope'], globals),
    (e: unknown) => e instanceof UsageError && e.name === 'UsageError' && /--nope/.test(e.message),
  );
  assert.throws(
    () => parseStrict(['extra'], globals),
    (e: unknown) => e instanceof UsageError && !/To specify a positional argument/.test(e.message),
  );
});

// Differential test: stas' parseArgv against node:util's parseArgs (strict) over a deterministic corpus, for the
// option tables the programs use: the daemons' and the output options as the programs define them; the tables of
// stafctl, stacctl and stasadm as copies (their modules run the program when imported).
const OUTPUT = OUTPUT_OPTIONS;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;
const TABLES: Record<string, Options> = {
  daemon: DAEMON_OPTIONS,
  'ctl global': {
    ...HELP,
    version: { type: 'boolean', short: 'v' },
    ...OUTPUT,
    'sys-conf': { type: 'string' },
  },
  'ctl sub': { ...HELP, ...OUTPUT },
  'stafctl dlp': {
    ...HELP,
    ...OUTPUT,
    transport: { type: 'string', short: 't' },
    traddr: { type: 'string', short: 'a' },
    trsvcid: { type: 'string', short: 's' },
    'host-traddr': { type: 'string', short: 'w' },
    'host-iface': { type: 'string', short: 'f' },
    'host-nqn': { type: 'string', short: 'q' },
    nqn: { type: 'string', short: 'n' },
  },
  'ctl adlp': { ...HELP, ...OUTPUT, detailed: { type: 'boolean', short: 'd' } },
  'stasadm global': {
    ...HELP,
    version: { type: 'boolean', short: 'v' },
    'conf-file': { type: 'string', short: 'c' },
  },
  'stasadm sub': { ...HELP, file: { type: 'string', short: 'f' } },
  'stasadm clear-symname': { ...HELP },
  // Not used by stas today, covered anyway: multiple, default, a one-letter long option without a short.
  extras: {
    ...HELP,
    tag: { type: 'string', short: 't', multiple: true },
    verbose: { type: 'boolean', short: 'V', multiple: true },
    level: { type: 'string', default: 'info' },
    x: { type: 'string' },
    y: { type: 'boolean' },
  },
};

/** Tokens for a table: well-formed ones (options, values, positionals) and odd ones (unknown, malformed). */
function tokenPool(options: Options): { good: string[]; odd: string[] } {
  const good = ['--', '-', '', 'pos', 'a b', 'x=y', '-5', '-v', '--v'];
  const odd = ['---x', '--=x', '-=', '--nope', '--nope=1', '-z', '-Z', '-\u00e9', '--no-help', '--HELP'];
  odd.push('--__proto__', '--toString', '-hz', '-h-', '-h=', '--x', '-x', '-y');
  const shorts = Object.values(options).flatMap((o) => (o.short ? [o.short] : []));
  for (const [long, o] of Object.entries(options)) {
    good.push(`--${long}`, `--${long}=v`, `--${long}=-v`);
    odd.push(`--${long}=`, `--${long}==`, `--${long.slice(0, 3)}`);
    if (o.short) good.push(`-${o.short}`, `-${o.short}val`, `-${o.short}-v`, `-${o.short}=v`);
  }
  for (const a of shorts) for (const b of shorts) good.push(`-${a}${b}`, `-${a}${b}v`);
  for (const a of shorts) odd.push(`-h${a}`, `-${a}h-x`, `-H${a}H`);
  return { good, odd };
}

type Outcome = { values: unknown; positionals: string[] } | { error: string };

function outcome(f: () => { values: unknown; positionals: string[] }): Outcome {
  try {
    const { values, positionals } = f();
    return { values, positionals };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

test('parseArgv behaves exactly as util.parseArgs (strict) on a generated corpus, for every option table', () => {
  const next = prng(0x57a5);
  let checked = 0;
  for (const [table, options] of Object.entries(TABLES)) {
    const { good, odd } = tokenPool(options);
    const pick = (pool: string[]) => pool[Math.floor(next() * pool.length)]!;
    for (let n = 0; n < 500; n++) {
      const len = Math.floor(next() * 7);
      const args = Array.from({ length: len }, () => pick(next() < 0.1 ? odd : good));
      for (const allowPositionals of [false, true]) {
        const want = outcome(() => parseArgs({ args, options, allowPositionals, strict: true }));
        const got = outcome(() => parseArgv(args, options, allowPositionals));
        assert.deepStrictEqual(
          got,
          want,
          `${table} ${JSON.stringify(args)} allowPositionals=${allowPositionals}`,
        );
        let strict: Outcome;
        try {
          strict = parseStrict(args, options, allowPositionals);
        } catch (e) {
          assert.ok(e instanceof UsageError);
          strict = { error: e.message };
        }
        const wantStrict =
          'error' in want
            ? { error: want.error.replace(/\. To specify a positional argument.*$/s, '') }
            : want;
        assert.deepStrictEqual(strict, wantStrict);
        checked++;
      }
    }
  }
  assert.equal(checked, Object.keys(TABLES).length * 1000);
});

test('parseArgv: values is a null-prototype object, last occurrence wins, a lone - is a positional', () => {
  const { values, positionals } = parseArgv(
    ['-f', 'a', '--conf-file=b', '-', '-hfc', '--', '-h'],
    globals,
    true,
  );
  assert.equal(Object.getPrototypeOf(values), null);
  assert.deepEqual({ ...values }, { 'conf-file': 'c', help: true });
  assert.deepEqual(positionals, ['-', '-h']);
  assert.throws(() => parseArgv(['-f', '-x'], globals), /Option '-f' argument is ambiguous/);
  assert.throws(
    () => parseArgv(['--help=1'], globals),
    /^TypeError: Option '-h, --help' does not take an argument$/,
  );
  assert.throws(() => parseArgv(['--conf-file'], globals), /argument missing/);
});
