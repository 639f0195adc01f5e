import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KernelConnectError } from '../../src/adapters/kernel/fabrics.js';
import { ownershipRegistry } from '../../src/adapters/kernel/registry.js';
import { parseStacdConfig } from '../../src/core/config/service-config.js';
import type { ConnectRequest } from '../../src/core/connect-options.js';
import { formatDhchapSecret } from '../../src/core/nvme/auth-crypto.js';
import { EFlags } from '../../src/core/nvme/discovery-log.js';
import type { StafdView } from '../../src/core/stacd/plan.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { StacdService } from '../../src/daemons/stacd/service.js';
import { StafdViewCache } from '../../src/daemons/stacd/stafd-view-cache.js';
import { ioEntry } from '../support/discovery-target.js';
import { fakeKernel } from '../support/kernel-records.js';
import { flush, ManualClock } from '../support/manual-clock.js';
import { until } from '../support/until.js';

const identity = { hostNqn: 'nqn.host', hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f' };
const dc = Tid.from(
  { transport: 'tcp', traddr: '127.0.0.1', trsvcid: '8009', subsysnqn: WELL_KNOWN_DISC_NQN },
  { defaultHostNqn: identity.hostNqn },
);

function setup(
  conf = '',
  view: () => StafdView = () => ({ answered: true, dcs: [{ dc, entries: [ioEntry(1), ioEntry(2)] }] }),
  extra: Partial<ConstructorParameters<typeof StacdService>[0]> = {},
) {
  const k = fakeKernel();
  const dir = mkdtempSync(join(tmpdir(), 'stacd-'));
  const logs: string[] = [];
  const s = new StacdService({
    config: parseStacdConfig(conf).config,
    identity,
    stafd: async () => view(),
    kernel: Object.assign(k.port, ownershipRegistry(join(dir, 'registry'))),
    ifaces: () => new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: [] }]]),
    log: (l, m) => logs.push(`${l}: ${m}`),
    lkcPath: join(dir, 'run', 'last-known-config.json'),
    minPassIntervalMs: 10,
    retry: { fastMs: 20, slowMs: 50 },
    ...extra,
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
  // The retry timers run on a manual clock: each retry happens when the test moves time, and "no more retries"
  // is proven by no timer being armed once the NCC limit is reached (not by waiting a while).
  const clock = new ManualClock();
  let passes = 0;
  const { s, k, logs } = setup(
    '[I/O controller connection management]\nconnect-attempts-on-ncc = 2\n',
    view,
    {
      retryClock: clock,
      onPass: () => passes++,
    },
  );
  k.refuse.add('nqn.2024-01.io.stas-test:subsys1');
  await s.reconcile();
  assert.equal(k.requests.length, 1);
  assert.equal(clock.armed, 1, 'the fast retry is armed');
  await clock.advance(20);
  await until('the fast retry pass', () => passes === 2);
  assert.equal(k.requests.length, 2, 'the fast retry attempts once more');
  assert.equal(clock.armed, 1, 'the slow retry is armed');
  await clock.advance(50);
  await until('the slow retry pass', () => passes === 3);
  assert.equal(k.requests.length, 2, 'two attempts, then NCC stops it');
  assert.equal(clock.armed, 0, 'and no retry is armed any more');
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
  // The pass the race requests ("the next pass adopts it") waits on a manual clock: the test runs the passes itself,
  // and none started by the scheduler overlaps them however long a pass takes on a busy machine.
  const { s, k, logs } = setup(undefined, undefined, { schedulerClock: new ManualClock() });
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
  const { s: s2, k: k2, logs: logs2 } = setup(undefined, undefined, { schedulerClock: new ManualClock() });
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

test('a connect the kernel refuses while a secret is configured: one authentication error naming the controller, retried with backoff only', async () => {
  const KEY = formatDhchapSecret(Buffer.alloc(32, 7), 1);
  const AUTH = 'nqn.2024-01.io.stas-test:auth';
  const PLAIN = 'nqn.2024-01.io.stas-test:plain';
  const line = (nqn: string, extra = '') =>
    `controller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn=${nqn}${extra}\n`;
  const conf = `[Controllers]\n${line(AUTH, `;dhchap-secret=${KEY}`)}${line(PLAIN)}`;
  let now = 0; // the injected monotonic clock: retries come due only when the test moves it
  const k = fakeKernel();
  let refusal: string | undefined = 'EIO';
  const inner = k.port.connect;
  k.port.connect = async (r: ConnectRequest) => {
    if (refusal === undefined) return inner(r);
    k.requests.push(r);
    // What 6.1 does: DH-HMAC-CHAP failed (or the host is not allowed), the write fails with EIO.
    throw new KernelConnectError(refusal, `${refusal}: refused`);
  };
  const logs: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'stacd-auth-'));
  const s = new StacdService({
    config: parseStacdConfig(conf).config,
    identity,
    stafd: async () => ({ answered: true, dcs: [] }),
    kernel: Object.assign(k.port, ownershipRegistry(join(dir, 'registry'))),
    ifaces: () => new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: [] }]]),
    log: (l, m) => logs.push(`${l}: ${m}`),
    minPassIntervalMs: 10,
    // Real retry timers far beyond the test: every pass here is one the test starts.
    retry: { fastMs: 600_000, slowMs: 3_600_000 },
    monotonicMs: () => now,
    onPass: () => done++,
  });
  let done = 0; // passes finished
  const attempts = (nqn: string) => k.requests.filter((r) => r.nqn === nqn).length;
  const errors = (nqn: string) => logs.filter((l) => l.startsWith('error:') && l.includes(nqn));

  // A pass (a change started it): both fail once; the one with a secret says authentication and names itself.
  await s.reconcile({ backoff: true });
  assert.equal(attempts(AUTH), 1);
  assert.equal(k.requests.find((r) => r.nqn === AUTH)!.dhchapSecret, KEY);
  assert.deepEqual(errors(AUTH), [
    `error: (tcp, 127.0.0.1, 4420, ${AUTH}) Failed to connect to controller. DH-HMAC-CHAP authentication ` +
      "failed (EIO): the kernel refused the connection made with the secrets configured for it (the controller= line's " +
      "dhchap-secret). Either the target does not accept the host's secret, the controller could not prove its " +
      'identity, or the subsystem does not allow this host; the kernel log says which ("qid 0: authentication ' +
      'failed", "controller authentication failed"). Retried with backoff.',
  ]);
  assert.equal(errors(PLAIN).length, 1);
  assert.doesNotMatch(errors(PLAIN)[0]!, /authentication failed \(/, 'no secret, no authentication claim');
  assert.ok(!logs.some((l) => l.includes(KEY.slice(10, 30))), 'the secret is never logged');

  // The uevents of the failed connect (and any other change) start passes: they leave it alone until due.
  for (let i = 0; i < 5; i++) {
    now += 100;
    await s.reconcile({ backoff: true });
  }
  const passes = done;
  s.changed(); // the production wiring: a pass a change starts honours the backoff too
  await until('the pass the change started', () => done > passes);
  assert.equal(attempts(AUTH), 1, 'no retry before the fast retry is due');
  assert.equal(s.connectFailures, 2);
  // Fast retry due: one attempt, logged at debug only (same kind of failure); then the slow retry.
  now += 600_000;
  await s.reconcile({ backoff: true });
  assert.equal(attempts(AUTH), 2);
  now += 600_000;
  await s.reconcile({ backoff: true });
  assert.equal(attempts(AUTH), 2, 'the slow retry is not due yet');
  now += 3_000_000;
  await s.reconcile({ backoff: true });
  assert.equal(attempts(AUTH), 3);
  assert.equal(errors(AUTH).length, 1, 'one error for any number of retries');
  assert.equal(logs.filter((l) => l.startsWith('debug:') && l.includes(AUTH)).length, 2);
  assert.equal(
    JSON.parse(s.controllerInfo('tcp', '127.0.0.1', '4420', AUTH, '', '', ''))['connect attempts'],
    '3',
  );
  assert.equal(s.iocStates().failed, 2);

  // Another kind of failure (the target went away) is an error again, and so is the authentication failure after it.
  refusal = 'ECONNREFUSED';
  now += 3_600_000;
  await s.reconcile();
  assert.equal(errors(AUTH).length, 2);
  assert.match(errors(AUTH)[1]!, /Failed to connect to controller\. ECONNREFUSED/);
  refusal = 'EIO';
  now += 3_600_000;
  await s.reconcile();
  assert.equal(errors(AUTH).length, 3);
  assert.match(errors(AUTH)[2]!, /DH-HMAC-CHAP authentication failed \(EIO\)/);
  assert.deepEqual(
    (JSON.parse(s.eventsJson()) as { kind: string; controller: string }[])
      .filter((e) => e.controller.includes(AUTH))
      .map((e) => e.kind),
    ['connect-failed', 'connect-failed', 'connect-failed'],
  );

  // A reload (SIGHUP: the secret may have been fixed) retries at once; once accepted it is connected.
  refusal = undefined;
  const before = attempts(AUTH);
  s.reload(parseStacdConfig(conf).config);
  await s.reconcile({ backoff: true });
  assert.equal(attempts(AUTH), before + 1);
  assert.deepEqual(k.ctrls.map((c) => c.subsysnqn).sort(), [AUTH, PLAIN]);
  await s.stop();
});

test('the host key of sys.conf is named when no controller= secret is configured', async () => {
  const KEY = formatDhchapSecret(Buffer.alloc(48, 9), 2);
  const k = fakeKernel();
  k.port.connect = async (r: ConnectRequest) => {
    k.requests.push(r);
    throw new KernelConnectError('EIO', 'EIO: refused');
  };
  const logs: string[] = [];
  const s = new StacdService({
    config: parseStacdConfig(
      '[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn=nqn.x\n',
    ).config,
    identity: { ...identity, hostKey: KEY },
    stafd: async () => ({ answered: false }),
    kernel: Object.assign(
      k.port,
      ownershipRegistry(join(mkdtempSync(join(tmpdir(), 'stacd-auth-')), 'registry')),
    ),
    ifaces: () => new Map(),
    log: (l, m) => logs.push(`${l}: ${m}`),
    retry: { fastMs: 600_000, slowMs: 600_000 },
  });
  await s.reconcile();
  assert.equal(k.requests[0]!.dhchapSecret, KEY);
  const errors = logs.filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1);
  assert.match(
    errors[0]!,
    /\(tcp, 127\.0\.0\.1, 4420, nqn\.x\) Failed to connect to controller\. .*authentication failed \(EIO\).*\(the host key of sys\.conf\)/,
  );
  assert.ok(!errors[0]!.includes(KEY.slice(10, 30)));
  await s.stop();
});

// ---- edge-triggered passes (issue 14): a change acts at once, changes during a pass make one trailing pass ----

function edgeSetup(view: () => StafdView, opts: { hold?: () => Promise<void> | undefined } = {}) {
  const clock = new ManualClock();
  clock.t = 1_000_000;
  const k = fakeKernel(async () => {
    await opts.hold?.();
  });
  const dir = mkdtempSync(join(tmpdir(), 'stacd-edge-'));
  const logs: string[] = [];
  const cache = new StafdViewCache(async () => view());
  const s = new StacdService({
    config: parseStacdConfig('').config,
    identity,
    stafd: () => cache.get(),
    kernel: Object.assign(k.port, ownershipRegistry(join(dir, 'registry'))),
    ifaces: () => new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: [] }]]),
    log: (l, m) => logs.push(`${l}: ${m}`),
    minPassIntervalMs: 250,
    schedulerClock: clock,
    retry: { fastMs: 600_000, slowMs: 3_600_000 },
    monotonicMs: () => clock.now(),
    onPass: () => done++,
  });
  let done = 0;
  /** Every pass started has ended (a pass does real file I/O for the registry: waited for, not slept). */
  const settle = async () => {
    while (done < s.changePasses) await new Promise((r) => setImmediate(r));
    await flush();
  };
  /** Time moves on; each pass a timer starts runs to its end. */
  const step = async (ms: number) => {
    await settle();
    await clock.advance(ms);
    await settle();
  };
  /** What stacd's main does on stafd's log_pages_changed: refresh the copy, then a change. */
  const stafdSignal = () => {
    cache.refresh();
    s.changed();
  };
  return { s, k, clock, cache, stafdSignal, logs, settle, step };
}

test('an AEN-driven stafd signal: the new controller is connected by the first pass after it, started at once', async () => {
  let entries = [ioEntry(1)];
  const { s, k, cache, stafdSignal, settle, step } = edgeSetup(() => ({
    answered: true,
    dcs: [{ dc, entries }],
  }));
  s.start();
  await settle(); // the manual clock does not move: no timer can have started anything
  assert.equal(s.changePasses, 1, 'start: a pass at once');
  assert.equal(k.ctrls.length, 1);
  await step(5000); // idle
  assert.equal(s.changePasses, 1, 'no pass without a change');

  // stafd re-read its log after an AEN and says so: the pass starts without waiting for any timer and takes the
  // answer stafd gives after the change.
  entries = [ioEntry(1), ioEntry(2)];
  const queries = cache.queries;
  stafdSignal();
  await settle();
  assert.equal(s.changePasses, 2, 'started at once: no timer fired');
  assert.equal(cache.queries, queries + 1, "one stafd query, shared by the signal's refresh and the pass");
  assert.deepEqual(
    k.ctrls.map((c) => c.subsysnqn),
    [ioEntry(1).subnqn, ioEntry(2).subnqn],
    'connected in the first pass after the signal',
  );
  assert.deepEqual(
    s.lastPlan!.items.map((i) => i.action),
    ['keep', 'connect'],
  );
  assert.match(JSON.parse(s.processInfo())['config soak timer'], /^0\.25s \[off\]$/);

  // Removal likewise: the entry goes, the next pass (at once, the interval has passed) disconnects it.
  await step(1000);
  entries = [ioEntry(1)];
  stafdSignal();
  await settle();
  assert.equal(s.changePasses, 3);
  assert.deepEqual(
    k.ctrls.map((c) => c.subsysnqn),
    [ioEntry(1).subnqn],
  );
  await s.stop();
});

test("changes during a pass (stafd signals, the pass's own add uevents) make exactly one trailing pass", async () => {
  let release: (() => void) | undefined;
  let held: Promise<void> | undefined;
  const entries = [ioEntry(1), ioEntry(2), ioEntry(3)];
  const { s, k, step } = edgeSetup(() => ({ answered: true, dcs: [{ dc, entries }] }), {
    hold: () => held,
  });
  held = new Promise<void>((r) => {
    release = r;
  });
  s.start();
  await flush();
  assert.equal(s.changePasses, 1);
  // While the connects are held: each connect's add uevent, stafd signals, a SIGHUP-like change.
  for (let i = 0; i < 20; i++) s.changed();
  assert.match(JSON.parse(s.processInfo())['config soak timer'], /^0\.25s \[[\d.]+s\]$/, 'a pass is due');
  await flush();
  assert.equal(s.changePasses, 1, 'nothing starts while the pass runs');
  held = undefined;
  release!();
  await step(1000);
  assert.equal(k.ctrls.length, 3);
  assert.equal(s.changePasses, 2, 'exactly one trailing pass for the 20 changes');
  assert.deepEqual(
    s.lastPlan!.items.map((i) => i.action),
    ['keep', 'keep', 'keep'],
    'the trailing pass finds the work done',
  );
  await step(10_000);
  assert.equal(s.changePasses, 2);
  await s.stop();
});

test("a failed connect's add and remove uevents: one trailing pass that leaves it alone until its retry is due", async () => {
  const { s, k, step } = edgeSetup(() => ({ answered: true, dcs: [{ dc, entries: [ioEntry(1)] }] }));
  k.refuse.add(ioEntry(1).subnqn);
  const inner = k.port.connect;
  k.port.connect = async (r) => {
    try {
      return await inner(r);
    } finally {
      // What the kernel does for a failed fabrics connect: the controller device comes and goes.
      s.changed();
      s.changed();
    }
  };
  s.start();
  await step(1000);
  assert.equal(k.requests.length, 1);
  assert.equal(s.changePasses, 2, 'the first pass and one trailing pass');
  await step(60_000);
  assert.equal(s.changePasses, 2, 'no pass storm: the trailing pass made no connect, hence no uevent');
  assert.equal(k.requests.length, 1, 'no retry before it is due');
  await s.stop();
});

test('a uevent storm: passes bounded by elapsed / min-interval + 1', async () => {
  const { s, step } = edgeSetup(() => ({ answered: true, dcs: [{ dc, entries: [ioEntry(1)] }] }));
  s.start();
  const elapsed = 5000;
  for (let t = 0; t < elapsed; t += 2) {
    s.changed();
    await step(2);
  }
  await step(1000);
  const bound = elapsed / 250 + 1;
  assert.ok(s.changePasses <= bound, `${s.changePasses} passes for 2,500 changes in 5 s (bound ${bound})`);
  assert.ok(s.changePasses >= 2);
  assert.equal(s.sysfsScans, s.passes);
  await s.stop();
});
