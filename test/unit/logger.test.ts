import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/daemons/logger.js';

test('journald priority prefixes with --syslog, the message alone otherwise (nvme-stas); debug only with tron', () => {
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
  assert.deepEqual(plain, ['w\n']);
});

test('every line is printable and free of secrets, whatever the message carries (network, config)', () => {
  const secret = 'DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0:';
  const lines: string[] = [];
  const log = createLogger({ syslog: true, tron: true, write: (l) => lines.push(l) });
  log('warning', `DLPE subnqn "nqn.evil\x1b]0;pwned\x07\x1b[2J" from ${secret}`);
  log('info', `referral to nqn.x\u009b31m\r\n<3>forged dhchap-secret=hunter2hunter2 café`);
  log('error', 'peer said: back\\slash\0nul\x7f');
  assert.deepEqual(lines, [
    '<4>DLPE subnqn "nqn.evil\\x1b]0;pwned\\x07\\x1b[2J" from DHHC-1:<redacted>\n',
    '<6>referral to nqn.x\\u009b31m <3>forged dhchap-secret=<redacted> café\n',
    '<3>peer said: back\\\\slash\\x00nul\\x7f\n',
  ]);
  for (const l of lines) {
    assert.equal(l.indexOf('\n'), l.length - 1); // one record per line
    assert.doesNotMatch(l.slice(0, -1), /\p{Cc}/u);
  }
  const plain: string[] = [];
  createLogger({ syslog: false, tron: false, write: (l) => plain.push(l) })('info', `key ${secret} \x1b[0m`);
  assert.deepEqual(plain, ['key <redacted> \\x1b[0m\n']);
});
