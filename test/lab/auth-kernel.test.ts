/**
 * Lab self-test: the lab's kernel does NVMe in-band authentication (DH-HMAC-CHAP, TP 8006) on both sides.
 * Debian's 6.1 kernel is built without it; lab/setup.sh rebuilds the NVMe modules with CONFIG_NVME_AUTH and
 * CONFIG_NVME_TARGET_AUTH (lab/README.md). This file checks that rebuild with nvme-cli as the host's user space
 * (`nvme gen-dhchap-key`, `nvme connect`), not stas: unidirectional and bidirectional authentication succeed,
 * wrong keys are refused, every hash and DH group works, the discovery subsystem does not authenticate, and
 * nvme-loop (also rebuilt) authenticates too.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  connectOptions,
  controllers,
  ctrlAttr,
  deleteController,
  fabricsConnect,
  freshLab,
  GUEST_BUSYBOX,
  type HostIdentity,
  labSkipReason,
  waitFor,
} from './support/host.js';
import { type DhchapDhGroup, type DhchapHash, DISCOVERY_NQN, NVMET_ROOT } from './support/nvmet.js';

const skip = labSkipReason();
const SUBNQN = 'nqn.2024-01.io.stas-lab:auth';
const TRADDR = '127.0.0.1';

/** A new secret from `nvme gen-dhchap-key`, transformed with hmac 0 (none), 1 (SHA-256), 2 (SHA-384), 3 (SHA-512). */
function genKey(nqn: string, hmac: 0 | 1 | 2 | 3 = 1): string {
  const length = [32, 32, 48, 64][hmac] ?? 32;
  const key = execFileSync(
    'nvme',
    ['gen-dhchap-key', `--nqn=${nqn}`, `--hmac=${hmac}`, `--key-length=${length}`],
    {
      encoding: 'utf8',
    },
  ).trim();
  assert.match(key, new RegExp(`^DHHC-1:0${hmac}:[A-Za-z0-9+/=]+:$`));
  return key;
}

/** The kernel log's lines (busybox dmesg: static, fast to exec under TCG). */
function kernelLog(): string[] {
  return execFileSync(GUEST_BUSYBOX, ['dmesg'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }).split(
    '\n',
  );
}

/** Runs `fn` and returns what the kernel logged meanwhile. */
function loggedDuring<T>(fn: () => T): { result: T; log: string[] } {
  const before = kernelLog();
  const last = before.filter((l) => l !== '').at(-1);
  const result = fn();
  const after = kernelLog();
  const start = last === undefined ? -1 : after.lastIndexOf(last);
  return { result, log: after.slice(start + 1) };
}

interface CliResult {
  status: number | null;
  output: string;
}

/** `nvme connect` with the host identity and extra arguments; its exit status and output. */
function nvmeConnect(host: HostIdentity, args: string[]): CliResult {
  const r = spawnSync('nvme', ['connect', `--hostnqn=${host.hostnqn}`, `--hostid=${host.hostid}`, ...args], {
    encoding: 'utf8',
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** The controllers connected to a subsystem. */
function controllersOf(subnqn: string): string[] {
  return controllers().filter((c) => {
    try {
      return ctrlAttr(c, 'subsysnqn') === subnqn;
    } catch {
      return false; // being deleted
    }
  });
}

/** The one controller of subnqn, once live. */
async function liveController(subnqn: string): Promise<string> {
  const ctrls = controllersOf(subnqn);
  assert.equal(ctrls.length, 1, `controllers of ${subnqn}: ${ctrls.join(' ')}`);
  const ctrl = ctrls[0] as string;
  await waitFor(`${ctrl} to be live`, () => ctrlAttr(ctrl, 'state') === 'live');
  return ctrl;
}

/** The hash and DH group of a successful authentication, from the host's log line for the admin queue. */
function authenticatedWith(log: string[]): { hash: string; dhgroup: string } | undefined {
  for (const line of log) {
    const m = /qid 0: authenticated with hash (\S+) dhgroup (\S+)/.exec(line);
    if (m) return { hash: m[1] as string, dhgroup: m[2] as string };
  }
  return undefined;
}

test('the lab kernel authenticates NVMe/TCP connects (DH-HMAC-CHAP)', { skip }, async (t) => {
  const { nvmet, host, disc, io } = await freshLab(t);
  nvmet.addSubsystem({ nqn: SUBNQN, allowedHosts: [host.hostnqn], namespaces: [], ports: [io, disc] });
  const tcp = ['-t', 'tcp', '-a', TRADDR, '-s', io.trsvcid, '-n', SUBNQN];
  const hostKey = genKey(host.hostnqn, 1);
  const ctrlKey = genKey(SUBNQN, 1);

  /** Connects with nvme-cli, expecting success; returns the log and deletes the controller again. */
  async function connectOk(args: string[], check?: (ctrl: string) => void): Promise<string[]> {
    const { result, log } = loggedDuring(() => nvmeConnect(host, args));
    assert.equal(result.status, 0, `nvme connect failed: ${result.output}\n${log.join('\n')}`);
    const ctrl = await liveController(SUBNQN);
    check?.(ctrl);
    await deleteController(ctrl);
    return log;
  }

  /** Connects with nvme-cli, expecting the kernel to refuse: the write to /dev/nvme-fabrics fails with EIO. */
  function connectRefused(args: string[]): string[] {
    const { result, log } = loggedDuring(() => nvmeConnect(host, args));
    assert.notEqual(result.status, 0, 'nvme connect succeeded');
    assert.match(result.output, /Input\/output error/);
    assert.deepEqual(controllersOf(SUBNQN), []);
    return log;
  }

  await t.test('nvmet has the DH-HMAC-CHAP attributes of an allowed host', () => {
    const attrs = fs.readdirSync(`${NVMET_ROOT}/hosts/${host.hostnqn}`);
    for (const a of ['dhchap_key', 'dhchap_ctrl_key', 'dhchap_hash', 'dhchap_dhgroup'])
      assert.ok(attrs.includes(a), `hosts/<nqn>/ has ${attrs.join(' ')}`);
    nvmet.setHostAuth(host.hostnqn, { key: hostKey });
    assert.deepEqual(nvmet.hostAuth(host.hostnqn), { key: hostKey, hash: 'hmac(sha256)', dhgroup: 'null' });
  });

  await t.test('unidirectional: the host key connects, and the host authenticated', async () => {
    const log = await connectOk([...tcp, `--dhchap-secret=${hostKey}`], (ctrl) => {
      assert.equal(ctrlAttr(ctrl, 'dhchap_secret'), hostKey);
      assert.equal(ctrlAttr(ctrl, 'dhchap_ctrl_secret'), 'none');
    });
    assert.deepEqual(authenticatedWith(log), { hash: 'hmac(sha256)', dhgroup: 'null' });
    assert.ok(log.some((l) => /nvmet: creating nvm controller .* with DH-HMAC-CHAP/.test(l)));
    assert.ok(
      !log.some((l) => /controller authenticated/.test(l)),
      'the host did not authenticate the controller',
    );
  });

  await t.test('a wrong host key is refused', () => {
    const log = connectRefused([...tcp, `--dhchap-secret=${genKey(host.hostnqn, 1)}`]);
    assert.ok(log.some((l) => /host response mismatch/.test(l)));
  });

  await t.test('a host without a key is refused', () => {
    const log = connectRefused(tcp);
    assert.ok(log.some((l) => /qid 0: no key/.test(l)));
  });

  await t.test('bidirectional: the host also authenticates the controller', async () => {
    nvmet.setHostAuth(host.hostnqn, { key: hostKey, ctrlKey });
    const log = await connectOk(
      [...tcp, `--dhchap-secret=${hostKey}`, `--dhchap-ctrl-secret=${ctrlKey}`],
      (ctrl) => assert.equal(ctrlAttr(ctrl, 'dhchap_ctrl_secret'), ctrlKey),
    );
    assert.ok(log.some((l) => /qid 0: controller authenticated/.test(l)));
  });

  await t.test('bidirectional: a controller with another key is refused by the host', () => {
    const log = connectRefused([
      ...tcp,
      `--dhchap-secret=${hostKey}`,
      `--dhchap-ctrl-secret=${genKey(SUBNQN, 1)}`,
    ]);
    assert.ok(log.some((l) => /controller authentication failed/.test(l)));
  });

  await t.test('every hash and DH group the target selects', async () => {
    const cases: [DhchapHash, DhchapDhGroup][] = [
      ['hmac(sha256)', 'ffdhe2048'],
      ['hmac(sha384)', 'null'],
      ['hmac(sha384)', 'ffdhe3072'],
      ['hmac(sha512)', 'ffdhe4096'],
      ['hmac(sha256)', 'ffdhe6144'],
      ['hmac(sha512)', 'ffdhe8192'],
    ];
    for (const [hash, dhgroup] of cases) {
      nvmet.setHostAuth(host.hostnqn, { key: hostKey, hash, dhgroup });
      const log = await connectOk([...tcp, `--dhchap-secret=${hostKey}`, `--dhchap-ctrl-secret=${ctrlKey}`]);
      assert.deepEqual(authenticatedWith(log), { hash, dhgroup }, `${hash} ${dhgroup}`);
    }
    nvmet.setHostAuth(host.hostnqn, { key: hostKey, hash: 'hmac(sha256)', dhgroup: 'null' });
  });

  await t.test('secrets transformed with SHA-384 and SHA-512, and untransformed ones', async () => {
    for (const hmac of [2, 3, 0] as const) {
      const key = genKey(host.hostnqn, hmac);
      nvmet.setHostAuth(host.hostnqn, { key });
      await connectOk([...tcp, `--dhchap-secret=${key}`]);
    }
    nvmet.setHostAuth(host.hostnqn, { key: hostKey });
  });

  await t.test('the discovery subsystem does not authenticate (6.1 nvmet)', async () => {
    // The host has a key on the target; a discovery controller connects without one, and with one the
    // target does not ask for it: nvmet_setup_auth() skips discovery subsystems.
    for (const secret of [undefined, hostKey]) {
      const options = connectOptions({
        transport: 'tcp',
        traddr: TRADDR,
        trsvcid: disc.trsvcid,
        nqn: DISCOVERY_NQN,
        hostnqn: host.hostnqn,
        hostid: host.hostid,
        dhchap_secret: secret,
      });
      const { result, log } = loggedDuring(() => fabricsConnect(options));
      assert.equal(ctrlAttr(result.name, 'subsysnqn'), DISCOVERY_NQN);
      assert.equal(authenticatedWith(log), undefined, log.join('\n'));
      assert.ok(log.some((l) => /nvmet: creating discovery controller/.test(l) && !/DH-HMAC-CHAP/.test(l)));
      await deleteController(result.name);
    }
  });

  await t.test('nvme-loop (rebuilt too) authenticates the same way', async () => {
    const loop = nvmet.addPort({ trtype: 'loop' });
    nvmet.link(SUBNQN, loop);
    const args = ['-t', 'loop', '-n', SUBNQN];
    await connectOk([...args, `--dhchap-secret=${hostKey}`], (ctrl) =>
      assert.equal(ctrlAttr(ctrl, 'transport'), 'loop'),
    );
    connectRefused([...args, `--dhchap-secret=${genKey(host.hostnqn, 1)}`]);
  });
});
