// The real stafd refuses to start (status 1, a message naming the field and the file) when its host identity
// holds a NUL or another control character: such an NQN made D-Bus list_controllers never reply.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { exitOf, runDaemon } from '../support/daemon-process.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const dir = mkdtempSync(join(tmpdir(), 'stafd-identity-'));
const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups) c();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs stafd on `sysText` (no bus: identity is checked before D-Bus is reached); its status and output. */
async function startWith(name: string, sysText: string): Promise<{ status: number | null; output: string }> {
  const sys = join(dir, `${name}.sys.conf`);
  writeFileSync(sys, sysText);
  const conf = join(dir, `${name}.stafd.conf`);
  writeFileSync(conf, '[Service Discovery]\nzeroconf = disabled\n');
  const proc = runDaemon('stafd', ['-f', conf, '--sys-conf', sys], {
    DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dir, 'no-bus')}`,
    RUNTIME_DIRECTORY: join(dir, `${name}.run`),
  });
  cleanups.push(proc.kill9);
  const [status, signal] = await exitOf(proc, `stafd (${name})`);
  assert.equal(signal, null, proc.output());
  return { status, output: proc.output() };
}

test('a host NQN with a NUL, in sys.conf or in the hostnqn file: stafd exits 1 naming the field and file', {
  skip: process.geteuid?.() !== 0 ? 'stafd needs root' : false,
}, async () => {
  const literal = await startWith('literal', `[Host]\nnqn = ${HOSTNQN}\0evil\nid = ${HOSTID}\nkey =\n`);
  assert.equal(literal.status, 1, literal.output);
  assert.ok(
    literal.output.includes(
      `Error Host NQN (${join(dir, 'literal.sys.conf')} [Host] nqn) contains a control character (U+0000) at offset ${HOSTNQN.length}`,
    ),
    literal.output,
  );

  const hostnqn = join(dir, 'hostnqn');
  writeFileSync(hostnqn, `${HOSTNQN}\0\n`);
  const file = await startWith('file', `[Host]\nnqn = file://${hostnqn}\nid = ${HOSTID}\nkey =\n`);
  assert.equal(file.status, 1, file.output);
  assert.ok(
    file.output.includes(
      `Error Host NQN (${hostnqn}) contains a control character (U+0000) at offset ${HOSTNQN.length}`,
    ),
    file.output,
  );
  assert.doesNotMatch(file.output, /running/);
});

test('a host key with a control character: stafd exits 1 without printing the key', {
  skip: process.geteuid?.() !== 0 ? 'stafd needs root' : false,
}, async () => {
  const hostkey = join(dir, 'hostkey');
  writeFileSync(hostkey, 'DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0:\x1b\n');
  const r = await startWith('key', `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\nkey = file://${hostkey}\n`);
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /Error host key \(.*hostkey\) contains a control character \(U\+001B\)/);
  assert.doesNotMatch(r.output, /c2Vj/);
});
