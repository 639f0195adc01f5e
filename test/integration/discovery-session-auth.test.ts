import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AuthenticationError,
  type DiscoverySession,
} from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { formatDhchapSecret } from '../../src/core/nvme/auth-crypto.js';
import { SeqnumHistory } from '../../src/core/nvme/auth-host.js';
import { FailureExplanation } from '../../src/core/nvme/auth-messages.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry, type TargetOptions } from '../support/discovery-target.js';
import { sessionHarness } from '../support/session-harness.js';

const key = (n: number, m: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * m + 5) & 0xff));
const HOST_KEY = formatDhchapSecret(key(32, 3), 1);
const HOST_KEY_384 = formatDhchapSecret(key(48, 5), 2);
const HOST_KEY_512 = formatDhchapSecret(key(64, 9), 3);
const CTRL_KEY = formatDhchapSecret(key(32, 17), 0);
const OTHER_KEY = formatDhchapSecret(key(32, 29), 1);

const { target, connect } = sessionHarness({
  targetDefaults: { entries: [ioEntry(1), ioEntry(2)] },
  timeoutMs: 5000,
});

/** The session is refused with one AuthenticationError naming the controller and matching `re`. */
async function refused(p: Promise<DiscoverySession>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AuthenticationError, String(e));
    assert.match(e.message, /authentication/);
    assert.match(e.message, new RegExp(`controller 127\\.0\\.0\\.1:\\d+ \\(${WELL_KNOWN_DISC_NQN}\\)`));
    assert.match(e.message, re);
    for (const secret of [HOST_KEY, CTRL_KEY, OTHER_KEY])
      assert.ok(!e.message.includes(secret.slice(10, 30)));
    return true;
  });
}

test('a DC that requires authentication: authenticated right after Connect, before any other command', async () => {
  const t = await target({ dhchap: { hostKey: HOST_KEY } });
  const s = await connect(t, { dhchapSecret: HOST_KEY });
  assert.equal(t.dhchapAuthenticated, 1);
  assert.equal(t.dhchapRefusedCommands, 0); // no Property Get / Identify before authentication
  assert.equal((await s.readDiscoveryLog()).entries.length, 2);
  await s.close();
});

test('every hash, DH groups and bidirectional authentication', async () => {
  const cases: [string, TargetOptions['dhchap']][] = [
    [HOST_KEY, { hash: 'sha256', dhgroup: 'ffdhe2048' }],
    [HOST_KEY_384, { hash: 'sha384', dhgroup: 'ffdhe3072', ctrlKey: CTRL_KEY }],
    [HOST_KEY_512, { hash: 'sha512', dhgroup: 'null', ctrlKey: CTRL_KEY }],
    [HOST_KEY, { hash: 'sha512', dhgroup: 'ffdhe8192', ctrlKey: CTRL_KEY }],
  ];
  for (const [hostKey, dhchap] of cases) {
    const t = await target({ dhchap: { ...dhchap, hostKey } });
    const s = await connect(t, { dhchapSecret: hostKey, dhchapCtrlSecret: dhchap?.ctrlKey });
    assert.equal(t.dhchapAuthenticated, 1, JSON.stringify(dhchap));
    assert.equal((await s.readDiscoveryLog()).entries.length, 2);
    await s.close();
  }
});

test('a host secret alone does not authenticate with a DC that does not ask for it (as the kernel host)', async () => {
  const t = await target({});
  const s = await connect(t, { dhchapSecret: HOST_KEY });
  assert.equal(t.dhchapAuthenticated, 0);
  await s.close();
});

test('a DC that requires authentication while no secret is configured: refused, saying so', async () => {
  const t = await target({ dhchap: { hostKey: HOST_KEY } });
  await refused(connect(t), /requires authentication \(DH-HMAC-CHAP\), but no dhchap-secret is configured/);
  assert.equal(t.dhchapRefusedCommands, 0);
  assert.equal(t.logPageReads, 0);
});

test('a controller secret requires the DC to prove itself: a DC that does not ask is refused', async () => {
  const t = await target({});
  await refused(
    connect(t, { dhchapSecret: HOST_KEY, dhchapCtrlSecret: CTRL_KEY }),
    /did not ask for authentication, but dhchap-ctrl-secret requires it to prove its identity/,
  );
  assert.equal(t.logPageReads, 0);
});

test('the DC rejects the host (wrong host secret): Failure1 reported with its reason', async () => {
  const t = await target({ dhchap: { hostKey: HOST_KEY } });
  await refused(
    connect(t, { dhchapSecret: OTHER_KEY }),
    /failed: controller refused authentication: authentication failed \(0x01\)/,
  );
  assert.equal(t.dhchapAuthenticated, 0);
  assert.deepEqual(t.dhchapFailure2, []); // no Failure2 after a Failure1
});

test('a DC that fails to prove itself (other key, wrong response, no response) is refused with Failure2', async () => {
  const cases: [TargetOptions['dhchap'], RegExp][] = [
    [{ ctrlKey: OTHER_KEY }, /controller failed to prove its identity/],
    [
      { ctrlKey: CTRL_KEY, misbehave: 'wrong-response', dhgroup: 'ffdhe2048' },
      /failed to prove its identity/,
    ],
    [{ ctrlKey: CTRL_KEY, misbehave: 'skip-success1' }, /controller did not prove its identity/],
  ];
  for (const [dhchap, re] of cases) {
    const t = await target({ dhchap: { ...dhchap, hostKey: HOST_KEY } });
    await refused(connect(t, { dhchapSecret: HOST_KEY, dhchapCtrlSecret: CTRL_KEY }), re);
    assert.deepEqual(t.dhchapFailure2, [FailureExplanation.Failed], re.source);
    assert.equal(t.logPageReads, 0);
  }
});

test('a DC breaking the protocol (T_ID, unexpected message) is refused with Failure2', async () => {
  const cases: [NonNullable<TargetOptions['dhchap']>['misbehave'], RegExp][] = [
    ['bad-tid', /controller message carries T_ID \d+, the transaction is \d+/],
    ['unexpected-message', /expected DH-HMAC-CHAP_Challenge, the controller sent DH-HMAC-CHAP_Success1/],
  ];
  for (const [misbehave, re] of cases) {
    const t = await target({ dhchap: { hostKey: HOST_KEY, misbehave } });
    await refused(connect(t, { dhchapSecret: HOST_KEY }), re);
    assert.deepEqual(t.dhchapFailure2, [FailureExplanation.IncorrectMessage]);
  }
});

test('a replayed challenge sequence number is refused on the next connection to the same DC', async () => {
  const t = await target({ dhchap: { hostKey: HOST_KEY, misbehave: 'replay-seqnum' } });
  const dhchapSeqnums = new SeqnumHistory();
  const s = await connect(t, { dhchapSecret: HOST_KEY, dhchapSeqnums });
  await s.close();
  await refused(connect(t, { dhchapSecret: HOST_KEY, dhchapSeqnums }), /a replayed challenge/);
  assert.equal(t.dhchapAuthenticated, 1);
});

test('an unusable secret is refused before anything is sent, without showing the secret', async () => {
  const t = await target({ dhchap: { hostKey: HOST_KEY } });
  const b64 = HOST_KEY.split(':')[2]!;
  const badCrc = `DHHC-1:01:${b64[0] === 'A' ? 'B' : 'A'}${b64.slice(1)}:`;
  await refused(connect(t, { dhchapSecret: badCrc }), /dhchap-secret: the key fails its CRC-32 check/);
  await refused(
    connect(t, { dhchapSecret: HOST_KEY, dhchapCtrlSecret: 'DHHC-1:07:AAAA:' }),
    /dhchap-ctrl-secret: unknown key transformation 07/,
  );
  assert.equal(t.dhchapAuthenticated, 0);
});
