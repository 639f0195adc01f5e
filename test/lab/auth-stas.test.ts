/**
 * stas' NVMe in-band authentication (DH-HMAC-CHAP) against the real kernel, in the kernel lab:
 * (a) stafd's userspace NVMe/TCP host (DiscoverySession, the DH-HMAC-CHAP host of src/core/nvme/auth-*.ts) with
 *     nvmet as the controller: unidirectional and bidirectional, every hash and DH group, keys made by nvme-cli
 *     and by stas, transformed and not; a wrong host key, a rogue target and a missing secret are refused.
 *     nvmet 6.1 never authenticates a discovery subsystem, so the peer is an I/O subsystem (allow_any_host=0, the
 *     host allowed with its keys): its Identify and Property commands work, its discovery log is not read.
 * (b) stacd's kernel connects (/dev/nvme-fabrics) with a controller= line's dhchap-secret (and dhchap-ctrl-secret)
 *     or the sys.conf host key authenticate; a wrong key leaves the controller unconnected, logged once as an
 *     authentication failure naming the controller, retried with backoff, the secret never shown.
 * Kernel discovery controllers (kernel-discovery=true) cannot be proven here: nvmet 6.1 never asks a discovery
 * controller to authenticate. test/unit/stafd-kernel-dc.test.ts checks the secrets in their connect options.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  AuthenticationError,
  DiscoverySession,
  type SessionOptions,
} from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { formatDhchapSecret } from '../../src/core/nvme/auth-crypto.js';
import { SeqnumHistory } from '../../src/core/nvme/auth-host.js';
import { CntrlType } from '../../src/core/nvme/identify.js';
import {
  connectOptions,
  controllers,
  ctrlAttr,
  deleteController,
  fabricsConnect,
  freshLab,
  GUEST_BUSYBOX,
  labSkipReason,
} from './support/host.js';
import type { DhchapDhGroup, DhchapHash, Port } from './support/nvmet.js';
import { ioControllers, stasLab } from './support/stas-run.js';

const skip = labSkipReason();
const SUBNQN = 'nqn.2024-01.io.stas-lab:auth-stas';
const OPEN_NQN = 'nqn.2024-01.io.stas-lab:auth-open';
const TRADDR = '127.0.0.1';
const HASHES: DhchapHash[] = ['hmac(sha256)', 'hmac(sha384)', 'hmac(sha512)'];
const GROUPS: DhchapDhGroup[] = ['null', 'ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192'];

type Transform = 0 | 1 | 2 | 3;

/** A secret from `nvme gen-dhchap-key` (nvme-cli in the guest), transformed with `hmac` (0: untransformed). */
function cliKey(nqn: string, hmac: Transform, length = [32, 32, 48, 64][hmac] as number): string {
  const key = execFileSync(
    'nvme',
    ['gen-dhchap-key', `--nqn=${nqn}`, `--hmac=${hmac}`, `--key-length=${length}`],
    { encoding: 'utf8' },
  ).trim();
  assert.match(key, new RegExp(`^DHHC-1:0${hmac}:[A-Za-z0-9+/=]+:$`));
  return key;
}

/** A secret made by stas (formatDhchapSecret) from random bytes. */
function stasKey(hmac: Transform, length = [32, 32, 48, 64][hmac] as number): string {
  return formatDhchapSecret(randomBytes(length), hmac);
}

/** The kernel log (busybox dmesg: static, fast to exec under TCG). */
function kernelLog(): string[] {
  return execFileSync(GUEST_BUSYBOX, ['dmesg'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
    .split('\n')
    .filter((l) => l !== '');
}

/** Marks the kernel log; `since()` returns what was logged after the mark. */
function logMark(): { since: () => string[] } {
  const last = kernelLog().at(-1);
  return {
    since: () => {
      const now = kernelLog();
      return now.slice(last === undefined ? 0 : now.lastIndexOf(last) + 1);
    },
  };
}

/** The kernel's controllers of a subsystem (any state). */
function controllersOf(subnqn: string): string[] {
  return controllers().filter((c) => {
    try {
      return ctrlAttr(c, 'subsysnqn') === subnqn;
    } catch {
      return false; // being deleted
    }
  });
}

test("stafd's userspace host authenticates with the kernel target (nvmet, DH-HMAC-CHAP)", {
  skip,
}, async (t) => {
  const { nvmet, host, io } = await freshLab(t);
  const hostKey = cliKey(host.hostnqn, 1);
  nvmet.addSubsystem({
    nqn: SUBNQN,
    allowedHosts: [host.hostnqn],
    hostAuth: { [host.hostnqn]: { key: hostKey } },
    namespaces: [],
    ports: [io],
  });
  nvmet.addSubsystem({ nqn: OPEN_NQN, allowAnyHost: true, namespaces: [], ports: [io] });

  const options = (over: Partial<SessionOptions>): SessionOptions => ({
    traddr: TRADDR,
    trsvcid: io.trsvcid,
    hostNqn: host.hostnqn,
    hostId: host.hostid,
    subsysnqn: SUBNQN,
    katoMs: 0,
    connectTimeoutMs: 30_000,
    commandTimeoutMs: 30_000,
    ...over,
  });

  /**
   * Connects stas' host (Connect, authentication, Property Get/Set, Identify) and closes it again. The target
   * created the controller with DH-HMAC-CHAP, and nvmet answers Identify only on an authenticated admin queue
   * (nvmet_check_auth_status), so Identify returning this subsystem proves the authentication succeeded.
   */
  async function connectOk(over: Partial<SessionOptions>, what: string): Promise<string[]> {
    const mark = logMark();
    let s: DiscoverySession;
    try {
      s = await DiscoverySession.connect(options(over));
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}\n${mark.since().join('\n')}`, { cause: e });
    }
    try {
      assert.equal(s.identify.subnqn, over.subsysnqn ?? SUBNQN, what);
      assert.equal(s.identify.cntrltype, CntrlType.io, what);
      assert.equal(s.identify.cntlid, s.cntlid, what);
    } finally {
      await s.close();
    }
    const log = mark.since();
    const created = log.find((l) => /nvmet: creating nvm controller \d+ for subsystem/.test(l));
    assert.ok(created, `${what}: the target made a controller\n${log.join('\n')}`);
    if ((over.subsysnqn ?? SUBNQN) === SUBNQN)
      assert.match(created, /with DH-HMAC-CHAP/, `${what}: the target required authentication`);
    assert.ok(!log.some((l) => /fatal error/.test(l)), `${what}: a clean session\n${log.join('\n')}`);
    return log;
  }

  /** stas' host is refused with an AuthenticationError naming the controller; returns its message and the log. */
  async function refused(
    over: Partial<SessionOptions>,
    re: RegExp,
  ): Promise<{ message: string; log: string[] }> {
    const mark = logMark();
    let message = '';
    await assert.rejects(DiscoverySession.connect(options(over)), (e: unknown) => {
      assert.ok(e instanceof AuthenticationError, String(e));
      message = e.message;
      return true;
    });
    const log = mark.since();
    assert.match(message, /authentication/);
    assert.ok(
      message.includes(`controller ${TRADDR}:${io.trsvcid} (${over.subsysnqn ?? SUBNQN})`),
      `the message names the controller: ${message}`,
    );
    assert.match(message, re);
    for (const secret of [over.dhchapSecret, over.dhchapCtrlSecret])
      if (secret)
        assert.ok(!message.includes(secret.split(':')[2]!.slice(0, 16)), 'no secret in the message');
    return { message, log };
  }

  await t.test(
    'unidirectional: nvme-cli host key (SHA-256 transformed), hmac(sha256), null group',
    async () => {
      const log = await connectOk({ dhchapSecret: hostKey }, 'unidirectional');
      // The target did not have to prove itself: no controller key was configured on either side.
      assert.ok(!log.some((l) => /no ctrl key/.test(l)), log.join('\n'));
    },
  );

  await t.test('bidirectional, every hash and DH group (nvme-cli keys)', async (tt) => {
    const ctrlKey = cliKey(SUBNQN, 2);
    const seqnums = new SeqnumHistory(); // one history across all connects, as stafd keeps per DC
    for (const hash of HASHES)
      for (const dhgroup of GROUPS) {
        await tt.test(`${hash} ${dhgroup}`, async () => {
          nvmet.setHostAuth(host.hostnqn, { key: hostKey, ctrlKey, hash, dhgroup });
          await connectOk(
            { dhchapSecret: hostKey, dhchapCtrlSecret: ctrlKey, dhchapSeqnums: seqnums },
            `${hash} ${dhgroup}`,
          );
        });
      }
  });

  await t.test(
    'unidirectional with every hash and ffdhe4096; with a controller key only on the target',
    async () => {
      // The target has a controller key (set above, 6.1 cannot clear it) but the host does not ask for it.
      for (const hash of HASHES) {
        nvmet.setHostAuth(host.hostnqn, { key: hostKey, hash, dhgroup: 'ffdhe4096' });
        await connectOk({ dhchapSecret: hostKey }, `unidirectional ${hash} ffdhe4096`);
      }
    },
  );

  await t.test(
    'keys from nvme gen-dhchap-key and from stas, transformed (01/02/03) and not (00)',
    async () => {
      nvmet.setHostAuth(host.hostnqn, { key: hostKey, hash: 'hmac(sha256)', dhgroup: 'ffdhe2048' });
      const cases: [string, string, string][] = [];
      for (const hmac of [0, 1, 2, 3] as const) {
        cases.push([`nvme-cli ${hmac}`, cliKey(host.hostnqn, hmac), cliKey(SUBNQN, hmac)]);
        cases.push([`stas ${hmac}`, stasKey(hmac), stasKey(hmac)]);
      }
      // Untransformed keys of every length, and a controller key transformed differently from the host key. (6.1
      // takes a transformed key only as long as its hash: 01 32 bytes, 02 48, 03 64; "Mismatched key len".)
      cases.push(['nvme-cli 00 48', cliKey(host.hostnqn, 0, 48), cliKey(SUBNQN, 3)]);
      cases.push(['nvme-cli 00 64', cliKey(host.hostnqn, 0, 64), stasKey(0, 48)]);
      cases.push(['stas 00 48, 03', stasKey(0, 48), stasKey(3)]);
      for (const [what, key, ctrlKey] of cases) {
        nvmet.setHostAuth(host.hostnqn, { key, ctrlKey });
        await connectOk({ dhchapSecret: key, dhchapCtrlSecret: ctrlKey }, `bidirectional ${what}`);
        await connectOk({ dhchapSecret: key }, `unidirectional ${what}`);
      }
    },
  );

  // The refusals below: the target requires hostKey and proves itself with ctrlKey.
  const ctrlKey = stasKey(1);
  const setRefusalTarget = () =>
    nvmet.setHostAuth(host.hostnqn, { key: hostKey, ctrlKey, hash: 'hmac(sha256)', dhgroup: 'ffdhe2048' });

  await t.test('a wrong host key is refused by the target', async () => {
    setRefusalTarget();
    await connectOk({ dhchapSecret: hostKey, dhchapCtrlSecret: ctrlKey }, 'the right keys');
    const { log } = await refused(
      { dhchapSecret: cliKey(host.hostnqn, 1), dhchapCtrlSecret: ctrlKey },
      /controller refused authentication/,
    );
    assert.ok(
      log.some((l) => /host response mismatch/.test(l)),
      `nvmet refused the response\n${log.join('\n')}`,
    );
  });

  await t.test(
    'a rogue target (another controller key than the host expects) is refused by the host',
    async () => {
      setRefusalTarget();
      const { log } = await refused(
        { dhchapSecret: hostKey, dhchapCtrlSecret: stasKey(1) },
        /controller failed to prove its identity/,
      );
      // The target accepted the host's response; the host ended the transaction with AUTH_Failure2, which 6.1's
      // nvmet (expecting Success2) takes as a fatal error of that controller.
      assert.ok(!log.some((l) => /host response mismatch/.test(l)), log.join('\n'));
      assert.ok(
        log.some((l) => /nvmet: ctrl \d+ fatal error occurred/.test(l)),
        `the host sent AUTH_Failure2\n${log.join('\n')}`,
      );
    },
  );

  await t.test('no secret while the subsystem requires authentication: the clear error', async () => {
    setRefusalTarget();
    await refused({}, /requires authentication \(DH-HMAC-CHAP\), but no dhchap-secret is configured/);
  });

  await t.test('a controller secret refuses a target that does not ask to authenticate', async () => {
    // Sanity: the open subsystem works without any secret, and with the host secret alone (not asked for).
    await connectOk({ subsysnqn: OPEN_NQN }, 'open subsystem');
    await connectOk({ subsysnqn: OPEN_NQN, dhchapSecret: hostKey }, 'open subsystem, host secret');
    await refused(
      { subsysnqn: OPEN_NQN, dhchapSecret: hostKey, dhchapCtrlSecret: stasKey(1) },
      /did not ask for authentication, but dhchap-ctrl-secret requires it to prove its identity/,
    );
  });
});

/** stacd.conf with one controller= line (extra fields appended). */
function stacdConf(port: Port, extra = '', global: string[] = []): string {
  return [
    '[Global]',
    ...global,
    '[Controllers]',
    `controller = transport=tcp;traddr=${TRADDR};trsvcid=${port.trsvcid};nqn=${SUBNQN}${extra}`,
    '',
  ].join('\n');
}

test('stacd: kernel connects authenticate with the configured secrets', { skip }, async (t) => {
  const { nvmet, host, io, run } = await stasLab(t);
  const hostKey = cliKey(host.hostnqn, 1);
  const ctrlKey = cliKey(SUBNQN, 1);
  nvmet.addSubsystem({
    nqn: SUBNQN,
    allowedHosts: [host.hostnqn],
    hostAuth: { [host.hostnqn]: { key: hostKey } },
    namespaces: [],
    ports: [io],
  });
  const sysConf = (key?: string) =>
    writeFileSync(
      run.sysPath,
      `[Host]\nnqn = ${host.hostnqn}\nid = ${host.hostid}\n${key ? `key = ${key}\n` : ''}`,
    );

  /** Starts stacd with conf, waits for the authenticated controller, checks its secrets, stops stacd, deletes it. */
  async function connects(conf: string, secret: string, ctrlSecret: string | undefined, what: string) {
    run.writeStacdConf(conf);
    const mark = logMark();
    await run.startStacd();
    await run.until(`${what}: the controller connected`, async () =>
      (await ioControllers()).some((c) => c.subsysnqn === SUBNQN && c.state === 'live'),
    );
    const [ctrl] = controllersOf(SUBNQN);
    assert.ok(ctrl);
    assert.equal(ctrlAttr(ctrl, 'dhchap_secret'), secret, what);
    assert.equal(ctrlAttr(ctrl, 'dhchap_ctrl_secret'), ctrlSecret ?? 'none', what);
    // Linux 6.1 shows both secrets to every local user (mode 0644): the kernel's doing, documented in README.
    for (const attr of ['dhchap_secret', 'dhchap_ctrl_secret'])
      assert.equal(statSync(`/sys/class/nvme/${ctrl}/${attr}`).mode & 0o777, 0o644, attr);
    const log = mark.since();
    assert.ok(
      log.some((l) => new RegExp(`${ctrl}: qid 0: authenticated`).test(l)),
      `${what}: the kernel host authenticated\n${log.join('\n')}`,
    );
    if (ctrlSecret)
      assert.ok(
        log.some((l) => new RegExp(`${ctrl}: qid 0: controller authenticated`).test(l)),
        `${what}: the kernel host authenticated the controller\n${log.join('\n')}`,
      );
    assert.equal(await run.stop('stacd'), 0);
    await deleteController(ctrl);
    for (const s of [secret, ctrlSecret])
      if (s) assert.ok(!run.stacdOutput().includes(s.split(':')[2]!.slice(0, 16)), 'no secret in the output');
  }

  await t.test('unidirectional: dhchap-secret= of the controller= line', async () => {
    await connects(stacdConf(io, `;dhchap-secret=${hostKey}`), hostKey, undefined, 'unidirectional');
  });

  await t.test('bidirectional: dhchap-secret= and dhchap-ctrl-secret=', async () => {
    nvmet.setHostAuth(host.hostnqn, { key: hostKey, ctrlKey });
    await connects(
      stacdConf(io, `;dhchap-secret=${hostKey};dhchap-ctrl-secret=${ctrlKey}`),
      hostKey,
      ctrlKey,
      'bidirectional',
    );
  });

  await t.test('the host key of sys.conf (key=) when the controller= line has no secret', async () => {
    sysConf(hostKey);
    await connects(stacdConf(io), hostKey, undefined, 'sys.conf key');
  });

  await t.test('a controller= secret wins over the sys.conf key', async () => {
    sysConf(cliKey(host.hostnqn, 1)); // a key the target does not know
    await connects(stacdConf(io, `;dhchap-secret=${hostKey}`), hostKey, undefined, 'precedence');
  });

  await t.test(
    'a wrong key: not connected, one error naming the controller, retried with backoff',
    async () => {
      sysConf();
      nvmet.addSubsystem({ nqn: OPEN_NQN, allowAnyHost: true, namespaces: [], ports: [io] });
      const wrong = cliKey(host.hostnqn, 1);
      run.writeStacdConf(stacdConf(io, `;dhchap-secret=${wrong}`, ['tron = true']));
      run.args.stacd.push('-s'); // each line with its priority: <3> error, <7> debug
      const mark = logMark();
      const before = run.stacdOutput().length;
      /** Connect attempts as the kernel counts them: nvmet refusing the host's response. */
      const refusals = () =>
        mark.since().filter((l) => /nvmet: ctrl \d+ qid 0 host response mismatch/.test(l)).length;
      const started = Date.now();
      await run.startStacd();
      await run.until('the first attempt and the fast retry', () => refusals() >= 2);
      // Each failed connect brings an add and a remove uevent, and so does any other controller: they make stacd
      // pass, and a pass must not retry before the backoff allows (the slow retry: 60 s after the fast one).
      for (let i = 0; i < 3; i++) {
        const passes = await run.passes();
        const other = fabricsConnect(
          connectOptions({
            transport: 'tcp',
            traddr: TRADDR,
            trsvcid: io.trsvcid,
            nqn: OPEN_NQN,
            hostnqn: host.hostnqn,
            hostid: host.hostid,
          }),
        );
        await deleteController(other.name);
        await run.until('a pass after the uevents', async () => (await run.passes()) > passes);
      }
      // The first attempt, the fast retry 3 s later, then one every 60 s: at most this many since stacd started.
      const allowed = 2 + Math.floor((Date.now() - started) / 60_000);
      const log = mark.since();
      assert.ok(
        refusals() <= allowed,
        `${refusals()} attempts, the backoff allows ${allowed}\n${log.join('\n')}`,
      );
      assert.deepEqual(controllersOf(SUBNQN), []);
      // What the kernel host says about them (the write fails with EIO; the reason is in the log).
      assert.ok(
        log.some((l) => /nvme\d+: qid 0: authentication failed/.test(l)),
        log.join('\n'),
      );

      const out = run.stacdOutput().slice(before);
      const ours = out.split('\n').filter((l) => l.includes(`(tcp, ${TRADDR}, ${io.trsvcid}, ${SUBNQN})`));
      const errors = ours.filter((l) => l.startsWith('<3>'));
      assert.equal(errors.length, 1, `one error for all attempts:\n${out}`);
      assert.match(errors[0]!, /Failed to connect to controller.*DH-HMAC-CHAP authentication failed \(EIO\)/);
      assert.match(errors[0]!, /controller= line's dhchap-secret/);
      assert.ok(
        ours.some((l) => /^<7>.*authentication failed/.test(l)),
        `the retry is logged at debug level:\n${out}`,
      );
      assert.equal(await run.stop('stacd'), 0);
      assert.ok(!run.stacdOutput().includes('DHHC-1:'), `no secret in the output:\n${run.stacdOutput()}`);
    },
  );
});
