import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSysConfig } from '../../src/core/config/sys-config.js';
import {
  HostIdentityError,
  resolveHostIdentity,
  resolveValue,
  type TextReader,
} from '../../src/core/host-identity.js';
import {
  formatUuid,
  hostNqnFromUuid,
  isUuid,
  uuidFromMachineId,
  uuidFromSmbiosProductUuid,
} from '../../src/core/host-nqn.js';

// Expected values computed with CPython's hmac/uuid exactly as nvme-stas' stasadm does.
test('machine-id → host UUID: HMAC-SHA256 keyed with "$nvmexpress.org$", version 4 and variant bits set', () => {
  assert.equal(uuidFromMachineId('0123456789abcdef0123456789abcdef'), 'f2782346-4809-484a-9a8b-952a04b57ba4');
  assert.equal(
    uuidFromMachineId('d3b07384d113edec49eaa6238ad5ff00\n'),
    '422fec49-1f86-4ecb-9002-bac89570d0c2',
  );
  assert.equal(uuidFromMachineId('D3B07384D113EDEC49EAA6238AD5FF00'), '422fec49-1f86-4ecb-9002-bac89570d0c2');
  assert.equal(uuidFromMachineId(''), null);
  assert.equal(uuidFromMachineId('not-a-machine-id-not-a-machine-i'), null);
  assert.equal(uuidFromMachineId('0123456789abcdef'), null);
});

test('DMI product_uuid: the first three groups are byte-swapped', () => {
  assert.equal(
    uuidFromSmbiosProductUuid('4c4c4544-0042-3510-8052-b3c04f4e4c32\n'),
    '44454c4c-4200-1035-8052-b3c04f4e4c32',
  );
  assert.equal(uuidFromSmbiosProductUuid('short'), null);
  assert.equal(uuidFromSmbiosProductUuid('zzzzzzzz-0042-3510-8052-b3c04f4e4c32'), null);
});

test('UUID helpers', () => {
  assert.equal(
    hostNqnFromUuid('F2782346-4809-484A-9A8B-952A04B57BA4'),
    'nqn.2014-08.org.nvmexpress:uuid:f2782346-4809-484a-9a8b-952a04b57ba4',
  );
  assert.equal(formatUuid(new Uint8Array(16).fill(0xab)), 'abababab-abab-abab-abab-abababababab');
  assert.ok(isUuid('f2782346-4809-484a-9a8b-952a04b57ba4'));
  assert.ok(!isUuid('f2782346-4809-484a-9a8b-952a04b57ba'));
});

function fakeFs(files: Record<string, string>): TextReader {
  return (p) => {
    const v = files[p];
    if (v === undefined)
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
    return v;
  };
}

const NQN = 'nqn.2014-08.org.nvmexpress:uuid:f2782346-4809-484a-9a8b-952a04b57ba4';
const ID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';

test('defaults read /etc/nvme/hostnqn, hostid and hostkey; first token of the first line', () => {
  const read = fakeFs({
    '/etc/nvme/hostnqn': `${NQN}  trailing words\nsecond line\n`,
    '/etc/nvme/hostid': `${ID}\n`,
    '/etc/nvme/hostkey': 'DHHC-1:00:abcd:\n',
  });
  assert.deepEqual(resolveHostIdentity(defaultSysConfig(), read), {
    hostNqn: NQN,
    hostId: ID,
    hostKey: 'DHHC-1:00:abcd:',
  });
});

test('literal values and file:// indirection; symname keeps its blanks', () => {
  const read = fakeFs({ '/tmp/sym': '  my host 1  \n' });
  const id = resolveHostIdentity({ nqn: NQN, id: ID, symname: 'file:///tmp/sym' }, read);
  assert.deepEqual(id, { hostNqn: NQN, hostId: ID, symname: 'my host 1' });
  assert.equal(resolveHostIdentity({ nqn: NQN, id: ID, symname: 'lit name' }, read).symname, 'lit name');
  assert.equal(resolveValue('file:///empty', fakeFs({ '/empty': '' })), undefined);
  assert.equal(resolveValue('   ', fakeFs({})), undefined);
});

test('fatal errors carry nvme-stas messages', () => {
  const none = fakeFs({});
  assert.throws(
    () => resolveHostIdentity(defaultSysConfig(), none),
    (e: unknown) =>
      e instanceof HostIdentityError &&
      /^Error reading mandatory Host NQN \(see stasadm --help\): ENOENT/.test(e.message),
  );
  assert.throws(
    () => resolveHostIdentity({ nqn: NQN, id: 'file:///nope' }, none),
    /^HostIdentityError: Error reading mandatory Host ID \(see stasadm --help\): ENOENT|Error reading mandatory Host ID/,
  );
  assert.throws(
    () => resolveHostIdentity({ nqn: 'iqn.bad', id: ID }, none),
    /Error Host NQN "iqn.bad" should start with "nqn."/,
  );
  const long = `nqn.${'x'.repeat(220)}`;
  assert.throws(
    () => resolveHostIdentity({ nqn: long, id: ID }, none),
    /Error Host NQN is too long \(224 chars, max 223 per NVMe spec\)/,
  );
  assert.throws(
    () => resolveHostIdentity({ nqn: 'file:///e', id: ID }, fakeFs({ '/e': '\n' })),
    /empty value/,
  );
  assert.throws(
    () => resolveHostIdentity({ nqn: NQN, id: 'file:///e' }, fakeFs({ '/e': '' })),
    /Host ID.*empty value/,
  );
});

test('optional values: missing key is silent, unreadable symname warns', () => {
  const warnings: string[] = [];
  const id = resolveHostIdentity(
    { nqn: NQN, id: ID, key: 'file:///nokey', symname: 'file:///nosym' },
    fakeFs({}),
    (m) => warnings.push(m),
  );
  assert.deepEqual(id, { hostNqn: NQN, hostId: ID });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^Error reading host symbolic name \(will remain undefined\): ENOENT/);
});

test('an unreadable host key file other than a missing one warns (never with the key)', () => {
  const warnings: string[] = [];
  const read: TextReader = (p) => {
    throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
  };
  const id = resolveHostIdentity({ nqn: NQN, id: ID, key: 'file:///k' }, read, (m) => warnings.push(m));
  assert.deepEqual(id, { hostNqn: NQN, hostId: ID });
  assert.deepEqual(warnings, [
    "Error reading host key (will remain undefined): EACCES: permission denied, open '/k'",
  ]);
});

test('values with NUL or control characters are refused, naming the field and the file', () => {
  const SYS = '/tmp/test/sys.conf';
  const refused = (values: Parameters<typeof resolveHostIdentity>[0], files: Record<string, string>) => {
    try {
      resolveHostIdentity(values, fakeFs(files), () => {}, SYS);
    } catch (e) {
      assert.ok(e instanceof HostIdentityError, String(e));
      return e.message;
    }
    return assert.fail('accepted');
  };
  // Host NQN: from sys.conf, from a file (NUL, other C0, DEL, C1), and non-ASCII.
  assert.equal(
    refused({ nqn: `${NQN}\0x`, id: ID }, {}),
    `Error Host NQN (${SYS} [Host] nqn) contains a control character (U+0000) at offset ${NQN.length}`,
  );
  assert.equal(
    refused({ nqn: 'file:///etc/nvme/hostnqn', id: ID }, { '/etc/nvme/hostnqn': `nqn.\0${NQN}\n` }),
    'Error Host NQN (/etc/nvme/hostnqn) contains a control character (U+0000) at offset 4',
  );
  assert.match(refused({ nqn: `${NQN}\x1b[2J`, id: ID }, {}), /Host NQN .* \(U\+001B\)/);
  assert.match(refused({ nqn: `${NQN}\x7f`, id: ID }, {}), /Host NQN .*control character \(U\+007F\)/);
  assert.match(refused({ nqn: `${NQN}\u0085`, id: ID }, {}), /Host NQN .*control character \(U\+0085\)/);
  assert.equal(
    refused({ nqn: `${NQN}é`, id: ID }, {}),
    `Error Host NQN (${SYS} [Host] nqn) contains a non-ASCII character (U+00E9) at offset ${NQN.length}`,
  );
  // A control character is reported before the prefix check (whose message quotes the value).
  assert.match(refused({ nqn: 'iqn\0', id: ID }, {}), /control character \(U\+0000\)/);
  // Host ID.
  assert.equal(
    refused({ nqn: NQN, id: 'file:///etc/nvme/hostid' }, { '/etc/nvme/hostid': `${ID}\u0001\n` }),
    `Error Host ID (/etc/nvme/hostid) contains a control character (U+0001) at offset ${ID.length}`,
  );
  assert.equal(
    refused({ nqn: NQN, id: `${ID}ü` }, {}),
    `Error Host ID (${SYS} [Host] id) contains a non-ASCII character (U+00FC) at offset ${ID.length}`,
  );
  // Host key: the message never holds the secret.
  const secret = 'DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0:';
  const keyMessage = refused({ nqn: NQN, id: ID, key: 'file:///k' }, { '/k': `${secret}\0\n` });
  assert.equal(
    keyMessage,
    `Error host key (/k) contains a control character (U+0000) at offset ${secret.length}`,
  );
  assert.ok(!keyMessage.includes('c2Vj'));
  assert.ok(!refused({ nqn: NQN, id: ID, key: `${secret}\x02` }, {}).includes('c2Vj'));
  assert.match(refused({ nqn: NQN, id: ID, key: `${secret}\x02` }, {}), /host key \(.* \[Host\] key\)/);
  // Symbolic name: control characters refused (a tab inside the name too), other Unicode accepted.
  assert.equal(
    refused({ nqn: NQN, id: ID, symname: 'file:///s' }, { '/s': 'my\0host\n' }),
    'Error host symbolic name (/s) contains a control character (U+0000) at offset 2',
  );
  assert.match(
    refused({ nqn: NQN, id: ID, symname: 'a\tb' }, {}),
    /symbolic name .*\[Host\] symname.*U\+0009/,
  );
  assert.equal(
    resolveHostIdentity({ nqn: NQN, id: ID, symname: 'Bücher Host 1' }, fakeFs({})).symname,
    'Bücher Host 1',
  );
  // The default names /etc/stas/sys.conf.
  assert.throws(() => resolveHostIdentity({ nqn: `${NQN}\0`, id: ID }, fakeFs({})), {
    message: `Error Host NQN (/etc/stas/sys.conf [Host] nqn) contains a control character (U+0000) at offset ${NQN.length}`,
  });
});

test('adapter: sys.conf on disk with file:// indirection', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadHostIdentity } = await import('../../src/adapters/host-identity.js');
  const d = mkdtempSync(join(tmpdir(), 'hostid-'));
  writeFileSync(join(d, 'hostnqn'), `${NQN}\n`);
  writeFileSync(
    join(d, 'sys.conf'),
    `[Host]\nnqn = file://${join(d, 'hostnqn')}\nid = ${ID}\nkey = file://${join(d, 'none')}\nsymname = file://${join(d, 'nosym')}\n`,
  );
  const { identity, diagnostics } = loadHostIdentity(join(d, 'sys.conf'));
  assert.deepEqual(identity, { hostNqn: NQN, hostId: ID });
  assert.equal(diagnostics.length, 1);
  assert.match(diagnostics[0]!.message, /host symbolic name/);
  writeFileSync(join(d, 'bad.conf'), `[Host]\nnqn = file://${join(d, 'absent')}\nid = ${ID}\n`);
  assert.throws(() => loadHostIdentity(join(d, 'bad.conf')), HostIdentityError);
});
