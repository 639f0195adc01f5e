import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStrict, splitCommand, UsageError } from '../../src/core/argv.js';

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
