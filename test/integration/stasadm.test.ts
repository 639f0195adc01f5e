import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { uuidFromMachineId } from '../../src/core/host-nqn.js';

const BIN = fileURLToPath(new URL('../../src/cli/stasadm.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
const tmp = () => mkdtempSync(join(tmpdir(), 'stasadm-'));

test('hostnqn -f writes the NQN file and references it from sys.conf', () => {
  const d = tmp();
  const conf = join(d, 'sys.conf');
  const r = run('-c', conf, 'hostnqn', '-f', join(d, 'hostnqn'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  const nqn = readFileSync(join(d, 'hostnqn'), 'utf8');
  assert.match(
    nqn,
    /^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/,
  );
  assert.equal(readFileSync(conf, 'utf8'), `[Host]\nnqn = file://${join(d, 'hostnqn')}\n`);
});

test('hostnqn is derived from /etc/machine-id when present (stable across runs)', {
  skip: !existsSync('/etc/machine-id') && 'no /etc/machine-id here',
}, () => {
  const d = tmp();
  const conf = join(d, 'sys.conf');
  assert.equal(run('-c', conf, 'hostnqn').status, 0);
  const want = uuidFromMachineId(readFileSync('/etc/machine-id', 'utf8'));
  assert.ok(want);
  assert.equal(readFileSync(conf, 'utf8'), `[Host]\nnqn = nqn.2014-08.org.nvmexpress:uuid:${want}\n`);
});

test('hostid writes a random UUID; set-symname / clear-symname edit in place keeping comments', () => {
  const d = tmp();
  const conf = join(d, 'sys.conf');
  writeFileSync(conf, '# host identity\n[Host]\n# keep me\nnqn = nqn.2014-08.org.nvmexpress:uuid:x\n');
  assert.equal(run('--conf-file', conf, 'hostid').status, 0);
  const id1 = /id = (\S+)/.exec(readFileSync(conf, 'utf8'))![1]!;
  assert.match(id1, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(run(`--conf-file=${conf}`, 'hostid').status, 0);
  const id2 = /id = (\S+)/.exec(readFileSync(conf, 'utf8'))![1]!;
  assert.notEqual(id1, id2);
  assert.equal(run('-c', conf, 'set-symname', 'rack 4 host 2').status, 0);
  assert.equal(
    readFileSync(conf, 'utf8'),
    `# host identity\n[Host]\n# keep me\nnqn = nqn.2014-08.org.nvmexpress:uuid:x\nid = ${id2}\nsymname = rack 4 host 2\n`,
  );
  assert.equal(run('-c', conf, 'clear-symname').status, 0);
  assert.equal(
    readFileSync(conf, 'utf8'),
    `# host identity\n[Host]\n# keep me\nnqn = nqn.2014-08.org.nvmexpress:uuid:x\nid = ${id2}\n`,
  );
});

test('set-symname -f stores the name in a file; a name with " #" needs -f', () => {
  const d = tmp();
  const conf = join(d, 'sys.conf');
  const bad = run('-c', conf, 'set-symname', 'host #1');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /reads as a comment/);
  assert.equal(existsSync(conf), false);
  assert.equal(run('-c', conf, 'set-symname', '-f', join(d, 'sym'), 'host #1').status, 0);
  assert.equal(readFileSync(join(d, 'sym'), 'utf8'), 'host #1\n');
  assert.equal(readFileSync(conf, 'utf8'), `[Host]\nsymname = file://${join(d, 'sym')}\n`);
});

test('usage: --version, --help, no command (1), bad command or option (2)', () => {
  const v = run('--version');
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^stas \d+\.\d+\.\d+\n$/);
  assert.equal(run('-v').status, 0);
  const h = run('--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /hostnqn.*\n.*hostid/s);
  assert.equal(run('hostid', '--help').status, 0);
  const none = run();
  assert.equal(none.status, 1);
  assert.match(none.stdout, /^usage: stasadm/);
  const bad = run('frobnicate');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /invalid choice: 'frobnicate'/);
  assert.equal(run('hostid', '--bogus').status, 2);
  assert.equal(run('set-symname').status, 2);
  assert.equal(run('clear-symname', '-f', 'x').status, 2);
});
