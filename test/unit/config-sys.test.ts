import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSysConfig, parseSysConfig } from '../../src/core/config/sys-config.js';

const F = '/etc/stas/sys.conf';

test('defaults', () => {
  const r = parseSysConfig('', F);
  assert.deepEqual(r.config, {
    nqn: 'file:///etc/nvme/hostnqn',
    id: 'file:///etc/nvme/hostid',
    key: 'file:///etc/nvme/hostkey',
  });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(defaultSysConfig(), r.config);
  assert.deepEqual(parseSysConfig('').config, r.config);
});

test('raw values, file:// kept for the resolver', () => {
  const r = parseSysConfig(
    '[Host]\nnqn = nqn.2014-08.org.nvmexpress:uuid:1234\nid=file:///tmp/hostid\nKEY = DHHC-1:00:abc==:\nsymname = my host  # comment\n',
    F,
  );
  assert.deepEqual(r.config, {
    nqn: 'nqn.2014-08.org.nvmexpress:uuid:1234',
    id: 'file:///tmp/hostid',
    key: 'DHHC-1:00:abc==:',
    symname: 'my host',
  });
  assert.deepEqual(r.diagnostics, []);
});

test('last occurrence wins; empty values are kept as written', () => {
  const r = parseSysConfig('[Host]\nnqn=a\nnqn=b\nkey=\n', F);
  assert.equal(r.config.nqn, 'b');
  assert.equal(r.config.key, '');
});

test('unknown sections/options are errors; the key is never echoed', () => {
  const r = parseSysConfig(
    '[Host]\nnqn=a\nhostkey=DHHC-1:00:c2VjcmV0:\n[Hello]\nkey=1\n[Host]\nkey DHHC-1:00:c2VjcmV0:\n',
    F,
  );
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.message]),
    [
      ['error', `File:${F}:3 [Host] contains invalid option: hostkey`],
      ['error', `File:${F}:4 contains invalid section: [Hello]`],
      [
        'error',
        `File:${F}:7 syntax error (expected [section], option = value or a comment): "<redacted>". Line ignored`,
      ],
    ],
  );
  assert.equal(r.hasErrors, true);
  assert.equal(r.config.nqn, 'a');
  assert.equal(r.config.key, 'file:///etc/nvme/hostkey');
  for (const d of r.diagnostics) assert.ok(!d.message.includes('c2Vj'));
});
