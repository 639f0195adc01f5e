import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setIniOption } from '../../src/core/config/ini-edit.js';

test('creates the section in an empty or missing file', () => {
  assert.equal(setIniOption('', 'Host', 'nqn', 'nqn.x'), '[Host]\nnqn = nqn.x\n');
  assert.equal(setIniOption('# header\n', 'Host', 'id', 'abc'), '# header\n\n[Host]\nid = abc\n');
});

test('replaces in place and keeps comments and other options', () => {
  const text = '# sys.conf\n[Host]\n# the NQN\nnqn = old\nid=1234\n\n[Other]\nnqn = keep\n';
  assert.equal(
    setIniOption(text, 'Host', 'nqn', 'new'),
    '# sys.conf\n[Host]\n# the NQN\nnqn = new\nid=1234\n\n[Other]\nnqn = keep\n',
  );
});

test('adds after the last line of the section, not after the next section', () => {
  const text = '[Host]\nnqn = a\n\n[Other]\nx = 1\n';
  assert.equal(
    setIniOption(text, 'Host', 'symname', 'box'),
    '[Host]\nnqn = a\nsymname = box\n\n[Other]\nx = 1\n',
  );
});

test('keys are case-insensitive; duplicates collapse to the last; null removes all', () => {
  const text = '[Host]\nSymName = a\nsymname=b\nid = 1\n';
  assert.equal(setIniOption(text, 'Host', 'symname', 'c'), '[Host]\nsymname = c\nid = 1\n');
  assert.equal(setIniOption(text, 'Host', 'symname', null), '[Host]\nid = 1\n');
  assert.equal(setIniOption('[Host]\nid = 1\n', 'Host', 'symname', null), '[Host]\nid = 1\n');
});

test('repeated sections: the option is found in any of them', () => {
  const text = '[Host]\nnqn = a\n[Global]\n[Host]\nid = 1\n';
  assert.equal(setIniOption(text, 'Host', 'nqn', 'b'), '[Host]\nnqn = b\n[Global]\n[Host]\nid = 1\n');
  assert.equal(
    setIniOption(text, 'Host', 'key', 'k'),
    '[Host]\nnqn = a\n[Global]\n[Host]\nid = 1\nkey = k\n',
  );
});
