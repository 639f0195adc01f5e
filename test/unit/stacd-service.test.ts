import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KernelConnectError } from '../../src/adapters/kernel/fabrics.js';
import { parseStacdConfig } from '../../src/core/config/service-config.js';
import type { ConnectRequest } from '../../src/core/connect-options.js';
import { EFlags } from '../../src/core/nvme/discovery-log.js';
import type { StafdView } from '../../src/core/stacd/plan.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { StacdService } from '../../src/daemons/stacd/service.js';
import { ioEntry } from '../support/discovery-target.js';
import { fakeKernel } from '../support/kernel-records.js';

const identity = { hostNqn: 'nqn.host', hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f' };
const dc = Tid.from(
  { transport: 'tcp', traddr: '127.0.0.1', trsvcid: '8009', subsysnqn: WELL_KNOWN_DISC_NQN },
  { defaultHostNqn: identity.hostNqn },
);

function setup(
  conf = '',
  view: () => StafdView = () => ({ answered: true, dcs: [{ dc, entries: [ioEntry(1), ioEntry(2)] }] }),
) {
  const k = fakeKernel();
  const dir = mkdtempSync(join(tmpdir(), 'stacd-'));
  const logs: string[] = [];
  const s = new StacdService({
    config: parseStacdConfig(conf).config,
    identity,
    stafd: async () => view(),
    kernel: k.port,
    ifaces: () => new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: [] }]]),
    log: (l, m) => logs.push(`${l}: ${m}`),
    registryDir: join(dir, 'registry'),
    lkcPath: join(dir, 'run', 'last-known-config.json'),
    soakMs: 10,
    retry: { fastMs: 20, slowMs: 50 },
  });
  return { s, k, dir, logs };
}

test('a pass connects what is listed, claims it in the registry, the next pass keeps it; one scan per pass', async () => {
  const { s, k, dir } = setup('[Global]\nkato = 120\nqueue-size = 64\n');
  const plan = await s.reconcile();
  assert.deepEqual(
    plan!.items.map((i) => i.action),
    ['connect', 'connect'],
  );
  assert.equal(k.ctrls.length, 2);
  assert.equal(k.requests[0]!.kato, 120);
  assert.equal(k.requests[0]!.queueSize, 64);
  assert.equal(readFileSync(join(dir, 'registry', 'nvme0', 'owner'), 'utf8'), 'stas\n');
  const again = await s.reconcile();
  assert.deepEqual(
    again!.items.map((i) => `${i.action} ${i.device}`),
    ['keep nvme0', 'keep nvme1'],
  );
  assert.equal(k.requests.length, 2, 'no duplicate connects');
  assert.equal(s.sysfsScans, s.passes);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'run', 'last-known-config.json'), 'utf8')).owned, {
    nvme0: 'tcp|127.0.0.1|4420|nqn.2024-01.io.stas-test:subsys1|nqn.host',
    nvme1: 'tcp|127.0.0.1|4420|nqn.2024-01.io.stas-test:subsys2|nqn.host',
  });
  assert.equal(s.listControllers(false).length, 2);
  assert.equal(s.listControllers(true)[0]!['connected'], 'True');
  // controller_info finds a controller as stafd's does: the arguments get the TID defaults (here the host NQN).
  const info = JSON.parse(
    s.controllerInfo('tcp', '127.0.0.1', '4420', 'nqn.2024-01.io.stas-test:subsys1', '', '', ''),
  );
  assert.equal(info.device, 'nvme0');
  assert.deepEqual(JSON.parse(s.controllerInfo('tcp', '127.0.0.1', '4420', 'nqn.none', '', '', '')), {});
});

test('a DLPE that goes is disconnected; stafd not answering disconnects nothing', async () => {
  let view: StafdView = { answered: true, dcs: [{ dc, entries: [ioEntry(1), ioEntry(2)] }] };
  const { s, k } = setup('', () => view);
  await s.reconcile();
  view = { answered: false };
  const quiet = await s.reconcile();
  assert.ok(quiet!.items.every((i) => i.action === 'keep'));
  assert.equal(k.ctrls.length, 2);
  view = { answered: true, dcs: [{ dc, entries: [ioEntry(1)] }] };
  const p = await s.reconcile();
  assert.deepEqual(
    p!.items.map((i) => `${i.action} ${i.device}`),
    ['keep nvme0', 'disconnect nvme1'],
  );
  assert.deepEqual(
    k.ctrls.map((c) => c.device),
    ['nvme0'],
  );
});

test('the plan shown (dry run) is the plan then executed', async () => {
  const { s } = setup();
  const shown = JSON.parse(await s.planJson());
  const done = await s.reconcile();
  assert.deepEqual(
    shown.map((i: { action: string; subsysnqn: string }) => [i.action, i.subsysnqn]),
    done!.items.map((i) => [i.action, i.tid.subsysnqn]),
  );
});

test('failed connects are retried (fast, then slow); NCC gives up after connect-attempts-on-ncc', async () => {
  const view = (): StafdView => ({
    answered: true,
    dcs: [{ dc, entries: [ioEntry(1, { eflags: EFlags.NCC })] }],
  });
  const { s, k, logs } = setup('[I/O controller connection management]\nconnect-attempts-on-ncc = 2\n', view);
  k.refuse.add('nqn.2024-01.io.stas-test:subsys1');
  await s.reconcile();
  const deadline = Date.now() + 3000;
  while (k.requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(k.requests.length, 2, 'two attempts, then NCC stops it');
  assert.equal((await s.dryRun()).items[0]!.action, 'skip');
  assert.equal(logs.filter((l) => l.startsWith('error:')).length, 1, 'the failure is logged once');
  await s.stop();
});

test("a recycled device name is not taken for stacd's own controller", async () => {
  let view: StafdView = { answered: true, dcs: [{ dc, entries: [ioEntry(1)] }] };
  const { s, k, dir } = setup('', () => view);
  await s.reconcile();
  assert.deepEqual(
    k.ctrls.map((c) => c.device),
    ['nvme0'],
  );
  // nvme0 vanishes outside stacd (nvme disconnect), the kernel gives the name to a controller someone else makes.
  k.ctrls.splice(0, 1, { ...k.ctrls[0]!, subsysnqn: 'nqn.2024-01.io.other:foreign' });
  view = { answered: true, dcs: [{ dc, entries: [] }] };
  const p = await s.reconcile();
  assert.deepEqual(
    p!.items.map((i) => `${i.action} ${i.device}: ${i.reason}`),
    ['keep nvme0: not made by stas'],
  );
  assert.equal(k.ctrls.length, 1, 'the foreign controller is left alone');
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'run', 'last-known-config.json'), 'utf8')).owned, {});
});

test('EALREADY (the udev rule or an admin connected it between scan and write) is adopted, not a failure; twice in a row is', async () => {
  const { s, k, logs } = setup();
  const inner = k.port.connect;
  let raceFor = 'nqn.2024-01.io.stas-test:subsys1';
  k.port.connect = async (r: ConnectRequest) => {
    if (r.nqn === raceFor) {
      // The other program wins: its controller appears, and the kernel refuses stacd's duplicate.
      raceFor = '';
      await inner(r);
      k.ctrls.at(-1)!.device = 'nvme9';
      throw new KernelConnectError('EALREADY', 'EALREADY: already connected');
    }
    return inner(r);
  };
  await s.reconcile();
  assert.equal(k.ctrls.length, 2);
  assert.ok(logs.some((l) => /^info: .*subsys1.*Connected by another program meanwhile/.test(l)));
  assert.ok(!logs.some((l) => l.startsWith('error:')), logs.join('\n'));
  const events = JSON.parse(s.eventsJson()) as { kind: string }[];
  assert.deepEqual(events.map((e) => e.kind).sort(), ['connect-raced', 'connected']);
  const next = await s.reconcile();
  assert.deepEqual(
    next!.items.map((i) => `${i.action} ${i.device}`).sort(),
    ['keep nvme0', 'keep nvme9'],
    'the raced controller is adopted',
  );

  // A kernel that refuses with EALREADY while the scan shows nothing matching: the second time is a failure.
  const { s: s2, k: k2, logs: logs2 } = setup();
  const inner2 = k2.port.connect;
  k2.port.connect = async (r: ConnectRequest) => {
    if (r.nqn === 'nqn.2024-01.io.stas-test:subsys2')
      throw new KernelConnectError('EALREADY', 'EALREADY: already connected');
    return inner2(r);
  };
  await s2.reconcile();
  assert.ok(!logs2.some((l) => l.startsWith('error:')));
  await s2.reconcile();
  assert.ok(
    logs2.some((l) => /^error: .*subsys2.*Failed to connect/.test(l)),
    logs2.join('\n'),
  );
  await s.stop();
  await s2.stop();
});
