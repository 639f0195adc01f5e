import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/daemons/logger.js';

test('journald priority prefixes with --syslog, plain levels otherwise; debug only with tron', () => {
  const lines: string[] = [];
  const j = createLogger({ syslog: true, tron: false, write: (l) => lines.push(l) });
  j('error', 'bad');
  j('warning', 'careful');
  j('info', 'hello');
  j('debug', 'hidden');
  j.tron = true;
  j('debug', 'shown\nforged <3>line');
  assert.deepEqual(lines, ['<3>bad\n', '<4>careful\n', '<6>hello\n', '<7>shown forged <3>line\n']);
  const plain: string[] = [];
  createLogger({ syslog: false, tron: true, write: (l) => plain.push(l) })('warning', 'w');
  assert.deepEqual(plain, ['WARNING w\n']);
});
