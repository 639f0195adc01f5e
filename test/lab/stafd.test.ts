/**
 * stafd end to end in the kernel lab: the real stafd process on a private dbus-daemon, the kernel nvmet target's
 * discovery ports, a real avahi-daemon, and the NVMe/TCP test double where nvmet cannot help (a DC that drops
 * mid-transfer, a CDC for DIM). The DCs are stafd's default, kernel discovery controllers (the double too, reached
 * through the kernel's NVMe/TCP host); stafd-userspace.test.ts runs the same scenarios with the userspace host
 * (kernel-discovery = false). One test per scenario:
 * (a) manual DC and the D-Bus introspection, (b) mDNS discovery and purge, (c) AEN, (d) referrals,
 * (e) exclude= and ip-family=, (f) SIGHUP, (g) restart with the last-known config, (h) failing DCs next to a
 * good one, (i) DIM register/deregister.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else. Every wait is for a condition,
 * bounded (WAIT_MS); nothing relies on a delay being long enough.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { STAFD_DBUS_NAME, STAFD_DBUS_PATH, STAFD_OBJECT, signatureOf } from '../../src/adapters/dbus/idl.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { avahiSkipReason, publishService, startAvahiDaemon } from '../support/avahi.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { controllers, freshLab, labSkipReason, nvmeDiscover } from './support/host.js';
import type { Nvmet, Port } from './support/nvmet.js';
import { controllerLine, labDcHost, StafdRun, stafdConf, startStafd } from './support/stafd-run.js';

const skip = labSkipReason();
const mdnsSkip = skip ?? avahiSkipReason();
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:stafd-${i}`;

/** Subsystems without namespaces (discovery needs none), linked to `port`. */
function addSubsystems(nvmet: Nvmet, port: Port, ids: number[]): void {
  for (const i of ids) nvmet.addSubsystem({ nqn: NQN(i), namespaces: [], ports: [port] });
}

/** The subsystems nvmet's configuration links to `port` (what its discovery log must list), sorted. */
function servedOn(nvmet: Nvmet, port: Port): string[] {
  return [...(nvmet.snapshot().ports[String(port.id)] ?? [])].sort();
}

/** The NVM subsystem NQNs of a list of log page entries, sorted. */
const nvmNqns = (pages: Record<string, string>[]) =>
  pages
    .filter((e) => e['subtype'] === 'nvme')
    .map((e) => e['subnqn'] ?? '')
    .sort();

/** True if nothing accepts a TCP connection on 127.0.0.1:port (nvmet stopped listening). */
function refuses(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** The DLPE dictionary keys nvme-stas' get_log_pages returns for a TCP entry. */
const DLPE_KEYS = [
  'adrfam',
  'asqsz',
  'cntlid',
  'eflags',
  'portid',
  'subnqn',
  'subtype',
  'traddr',
  'treq',
  'trsvcid',
  'trtype',
  'tsas',
].sort();

test('(a) manual DC: get_all_log_pages lists what nvmet serves on the port; busctl introspect shows the IDL', {
  skip,
}, async (t) => {
  const { nvmet, host, disc, io } = await freshLab(t);
  addSubsystems(nvmet, disc, [1, 2, 3]);
  addSubsystems(nvmet, io, [9]); // served on 4420 only: not in 8009's log
  const run = await startStafd(t, { host, conf: stafdConf({ controllers: [controllerLine(8009)] }) });

  await run.until(
    'log pages of 8009',
    async () => ((await run.allLogPages())[0]?.['log-pages'] ?? []).length > 0,
  );
  const all = await run.allLogPages();
  assert.equal(all.length, 1, 'one DC');
  const dc = all[0]!['discovery-controller'];
  assert.deepEqual(
    [dc['transport'], dc['traddr'], dc['trsvcid'], dc['subsysnqn'], dc['host-nqn']],
    ['tcp', '127.0.0.1', '8009', WELL_KNOWN_DISC_NQN, host.hostnqn],
  );
  const pages = all[0]!['log-pages'];
  // Exactly the subsystems linked to the port, plus nvmet's entry for the current discovery subsystem.
  assert.deepEqual(nvmNqns(pages), servedOn(nvmet, disc));
  assert.deepEqual(servedOn(nvmet, disc), [NQN(1), NQN(2), NQN(3)]);
  const others = pages.filter((e) => e['subtype'] !== 'nvme');
  assert.deepEqual(
    others.map((e) => [e['subtype'], e['subnqn']]),
    [['discovery', WELL_KNOWN_DISC_NQN]],
  );
  for (const e of pages) {
    assert.deepEqual(Object.keys(e).sort(), DLPE_KEYS, JSON.stringify(e));
    for (const [k, v] of Object.entries(e)) assert.equal(typeof v, 'string', `${k} is a string`);
    assert.deepEqual(
      [e['trtype'], e['adrfam'], e['traddr'], e['trsvcid'], e['portid']],
      ['tcp', 'ipv4', '127.0.0.1', '8009', String(disc.id)],
    );
    assert.match(e['cntlid']!, /^\d+$/);
    assert.match(e['asqsz']!, /^\d+$/);
    assert.match(e['eflags']!, /^\d+$/);
    assert.equal(e['tsas'], "{'sectype': 'none'}");
  }
  // The same log through nvme-cli and the kernel host (independent of stas).
  const cli = nvmeDiscover('127.0.0.1', 8009);
  assert.deepEqual(
    pages.map((e) => [e['subnqn'], e['traddr'], e['trsvcid'], e['portid']]).sort(),
    cli.records.map((r) => [r.subnqn, r.traddr, r.trsvcid, String(r.portid)]).sort(),
  );
  // get_log_pages of that TID is the same list.
  assert.deepEqual(await run.staf.getLogPages(...run.tid(8009)), pages);

  // busctl (systemd's client) introspects the object: every member of the IDL, with its signature.
  const out = execFileSync(
    'busctl',
    [`--address=${run.busAddress}`, '--no-pager', 'introspect', STAFD_DBUS_NAME, STAFD_DBUS_PATH],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const seen = new Map<string, Set<string>>();
  let iface = '';
  for (const line of out.split('\n').slice(1)) {
    const [name, type, sig, result] = line.trim().split(/\s+/);
    if (!name || !type) continue;
    if (type === 'interface') {
      iface = name;
      seen.set(iface, new Set());
    } else if (name.startsWith('.')) {
      seen.get(iface)?.add(type === 'method' ? `${name} method ${sig} ${result}` : `${name} ${type} ${sig}`);
    }
  }
  const dash = (s: string) => s || '-';
  for (const spec of STAFD_OBJECT.interfaces) {
    const want = new Set([
      ...spec.methods.map((m) => `.${m.name} method ${dash(signatureOf(m.in))} ${dash(signatureOf(m.out))}`),
      ...spec.signals.map((s) => `.${s.name} signal ${dash(signatureOf(s.args))}`),
      ...spec.properties.map((p) => `.${p.name} property ${p.type}`),
    ]);
    assert.deepEqual([...(seen.get(spec.name) ?? [])].sort(), [...want].sort(), `${spec.name}:\n${out}`);
  }
});

test('(b) mDNS: a DC announced through a real avahi-daemon is connected, and purged once gone and unreachable', {
  skip: mdnsSkip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1]);
  const run = new StafdRun({
    host,
    conf: stafdConf({
      zeroconf: true,
      dccm: ['zeroconf-connections-persistence = 2'],
      // A kernel DC (the default) stays stafd's connection while the kernel reconnects it, as with nvme-stas: it
      // becomes unresponsive once the kernel gives up (ctrl-loss-tmo) and deletes it. Short here.
      global: labDcHost() === 'kernel' ? ['ctrl-loss-tmo = 2', 'reconnect-delay = 1'] : [],
    }),
  });
  t.after(() => run.cleanup());
  await run.startBus();
  // avahi-daemon in its own network namespace (test/support/avahi.ts): it announces 127.0.0.1 on its own lo,
  // which, seen from stafd in the guest's root namespace, is the address nvmet listens on.
  const avahi = await startAvahiDaemon(run.busAddress);
  t.after(() => avahi.stop());
  await run.start();
  const publisher = publishService(run.busAddress, 'stas lab DC', '_nvme-disc._tcp', 8009, ['p=tcp']);
  t.after(() => publisher.stop());
  await publisher.established;

  let dc: Record<string, string> | undefined;
  await run.until('the announced DC connected with its log pages', async () => {
    dc = (await run.staf.listControllers(false)).find((c) => c['trsvcid'] === '8009');
    return !!dc && (await run.staf.getLogPages(...StafdRun.tidOf(dc))).length > 0;
  });
  const tid = StafdRun.tidOf(dc!);
  assert.deepEqual(tid.slice(0, 4), ['tcp', '127.0.0.1', '8009', WELL_KNOWN_DISC_NQN]);
  const info = await run.info(tid);
  assert.equal(info['origin'], 'discovered');
  assert.equal(info['state'], 'connected');
  assert.deepEqual(nvmNqns(await run.staf.getLogPages(...tid)), servedOn(nvmet, disc));
  assert.deepEqual(await run.dcPorts(), ['8009'], 'one DC');

  // Gone from mDNS and unreachable: with zeroconf-connections-persistence = 2 it is purged.
  await publisher.stop();
  nvmet.unlink(NQN(1), disc); // the port has nothing linked: nvmet stops listening (and drops the session)
  assert.ok(await refuses(8009), 'nvmet no longer listens on 8009');
  await run.until('the DC purged', async () => run.dcRemoved >= 1 && (await run.dcPorts()).length === 0);
  assert.deepEqual(await run.staf.listControllers(false), []);
  assert.match(run.output(), /Controller is not responding\. Will be removed by/);
});

test('(c) a subsystem added to the port: AEN, log_pages_changed, the new log page', { skip }, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1, 2]);
  const run = await startStafd(t, { host, conf: stafdConf({ controllers: [controllerLine(8009)] }) });
  const tid = run.tid(8009);
  await run.until('log pages of 8009', async () => (await run.staf.getLogPages(...tid)).length > 0);
  // The first read was signalled too (a signal precedes the reply that showed its result).
  assert.ok(run.changed.some((c) => c.tid.join() === tid.join()));
  run.changed.length = 0;

  addSubsystems(nvmet, disc, [3]);
  await run.until('log_pages_changed after the change', () => run.changed.length > 0);
  assert.deepEqual(run.changed[0]!.tid, tid);
  assert.equal(typeof run.changed[0]!.device, 'string');
  const pages = await run.staf.getLogPages(...tid);
  assert.deepEqual(nvmNqns(pages), servedOn(nvmet, disc));
  assert.ok(nvmNqns(pages).includes(NQN(3)));
  assert.match(run.output(), /Received AEN: 0x70f002 \(discovery log page changed\)/);
});

test('(d) a referral is followed (origin referral, its own log pages) and dropped with the referral', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  const p8010 = nvmet.addPort({ trsvcid: 8010 });
  addSubsystems(nvmet, disc, [1]);
  addSubsystems(nvmet, p8010, [2, 3]);
  nvmet.addReferral(disc, 'to-8010', p8010);
  const run = await startStafd(t, { host, conf: stafdConf({ controllers: [controllerLine(8009)] }) });

  await run.until(
    'the referred DC with its log pages',
    async () => (await run.staf.getLogPages(...run.tid(8010))).length > 0,
  );
  assert.deepEqual(await run.dcPorts(), ['8009', '8010']);
  assert.equal((await run.info(run.tid(8009)))['origin'], 'configured');
  assert.equal((await run.info(run.tid(8010)))['origin'], 'referral');
  const refPages = await run.staf.getLogPages(...run.tid(8010));
  assert.deepEqual(nvmNqns(refPages), servedOn(nvmet, p8010));
  assert.ok(refPages.filter((e) => e['subtype'] === 'nvme').every((e) => e['trsvcid'] === '8010'));
  const referral = (await run.staf.getLogPages(...run.tid(8009))).filter((e) => e['subtype'] === 'referral');
  assert.deepEqual(
    referral.map((e) => [e['traddr'], e['trsvcid'], e['portid']]),
    [['127.0.0.1', '8010', String(p8010.id)]],
  );

  nvmet.removeReferral(disc, 'to-8010'); // AEN on 8009: the referral is gone from its log
  await run.until('the referred DC removed', async () => (await run.dcPorts()).join() === '8009');
  assert.ok(run.dcRemoved >= 1, 'dc_removed');
  assert.deepEqual(await run.staf.getLogPages(...run.tid(8010)), []);
});

test('(e) exclude= and ip-family= keep DCs out', { skip }, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  const p8010 = nvmet.addPort({ trsvcid: 8010 });
  const p6 = nvmet.addPort({ traddr: '::1', trsvcid: 8011 });
  addSubsystems(nvmet, disc, [1]);
  addSubsystems(nvmet, p8010, [2]);
  addSubsystems(nvmet, p6, [3]);
  const both = [controllerLine(8009), controllerLine(8010)];
  const run = await startStafd(t, {
    host,
    conf: stafdConf({ controllers: [...both, 'exclude = trsvcid=8010'] }),
  });
  // Configured DCs are planned in one pass: once 8009 is there, the decision about 8010 has been made.
  await run.until(
    '8009 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8009))).length > 0,
  );
  assert.deepEqual(await run.dcPorts(), ['8009'], 'exclude = trsvcid=8010 keeps 8010 out');

  // Without the exclusion 8010 is reachable and comes in: it was the exclusion that kept it out.
  run.writeConf(stafdConf({ controllers: both }));
  run.hup();
  await run.until(
    '8010 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8010))).length > 0,
  );
  assert.deepEqual(await run.dcPorts(), ['8009', '8010']);

  // ip-family = ipv6: the IPv4 DCs go, the IPv6 one comes.
  const removed = run.dcRemoved;
  run.writeConf(
    stafdConf({ global: ['ip-family = ipv6'], controllers: [...both, controllerLine(8011, '::1')] }),
  );
  run.hup();
  await run.until(
    '[::1]:8011 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8011, '::1'))).length > 0,
  );
  await run.until('the IPv4 DCs removed', async () => (await run.dcPorts()).join() === '8011');
  assert.ok(run.dcRemoved > removed, 'dc_removed');
  const v6 = await run.staf.getLogPages(...run.tid(8011, '::1'));
  assert.deepEqual(nvmNqns(v6), servedOn(nvmet, p6));
  assert.ok(v6.every((e) => e['adrfam'] === 'ipv6' && e['traddr'] === '::1'));
  assert.match(run.output(), /ignored because IPv4 is disabled/);
});

test('(e2) the legacy blacklist= keeps a DC out as exclude= does, with a deprecation warning naming file:line', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  const p8010 = nvmet.addPort({ trsvcid: 8010 });
  addSubsystems(nvmet, disc, [1]);
  addSubsystems(nvmet, p8010, [2]);
  const run = await startStafd(t, {
    host,
    conf: stafdConf({
      controllers: [controllerLine(8009), controllerLine(8010), 'blacklist = trsvcid=8010'],
    }),
  });
  // Configured DCs are planned in one pass: once 8009 is there, the decision about 8010 has been made.
  await run.until(
    '8009 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8009))).length > 0,
  );
  assert.deepEqual(await run.dcPorts(), ['8009'], 'blacklist = trsvcid=8010 keeps 8010 out');
  assert.match(run.output(), /stafd\.conf:\d+ .*blacklist - deprecated option \(replaced by exclude=\)/);
});

test('(f) SIGHUP: an added controller= line appears with its log pages, a removed one disappears', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  const p8010 = nvmet.addPort({ trsvcid: 8010 });
  addSubsystems(nvmet, disc, [1]);
  addSubsystems(nvmet, p8010, [2]);
  const run = await startStafd(t, { host, conf: stafdConf({ controllers: [controllerLine(8009)] }) });
  await run.until(
    '8009 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8009))).length > 0,
  );
  assert.deepEqual(await run.dcPorts(), ['8009']);
  assert.equal(run.dcRemoved, 0);

  run.writeConf(stafdConf({ controllers: [controllerLine(8010)] }));
  run.hup();
  await run.until(
    '8010 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8010))).length > 0,
  );
  await run.until('8009 gone', async () => (await run.dcPorts()).join() === '8010');
  await run.until('dc_removed', () => run.dcRemoved >= 1);
  assert.deepEqual(nvmNqns(await run.staf.getLogPages(...run.tid(8010))), servedOn(nvmet, p8010));
  assert.deepEqual(await run.staf.getLogPages(...run.tid(8009)), []);
  assert.equal((await run.info(run.tid(8010)))['origin'], 'configured');
  assert.match(run.output(), /Configuration reloaded/);
  assert.ok(run.running);
});

/** get_all_log_pages without the DCs' `device` (a kernel device, or nvme? while stafd has none). */
function withoutDevice(all: Awaited<ReturnType<StafdRun['allLogPages']>>) {
  return all.map((d) => {
    const { device: _device, ...dc } = d['discovery-controller'];
    return { ...d, 'discovery-controller': dc };
  });
}

test('(g) a restart serves the cached log pages at once, the DC being unreachable', { skip }, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1, 2]);
  const run = await startStafd(t, { host, conf: stafdConf({ controllers: [controllerLine(8009)] }) });
  await run.until(
    '8009 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8009))).length > 0,
  );
  const before = await run.allLogPages();
  assert.deepEqual(nvmNqns(before[0]!['log-pages']), [NQN(1), NQN(2)]);

  assert.equal(await run.stop('SIGTERM'), 0, run.output());
  nvmet.unlink(NQN(1), disc);
  nvmet.unlink(NQN(2), disc);
  assert.ok(await refuses(8009), 'nvmet no longer listens on 8009');

  await run.start(); // same RUNTIME_DIRECTORY
  // The DC's kernel device (the default host; kept at SIGTERM) is known again once stafd adopts it: compare the rest.
  const cached = async () => withoutDevice(await run.allLogPages());
  assert.deepEqual(await cached(), withoutDevice(before), 'the first answer has the cached log pages');
  // Still there once stafd has tried (and failed) to reach the DC.
  await run.until('a failed connect attempt', async () => !!(await run.info(run.tid(8009)))['last error']);
  assert.deepEqual(await cached(), withoutDevice(before));
  assert.match(run.output(), /Restored 1 discovery controller\(s\)/);
});

test('(h) a DC that drops mid-transfer and an unreachable one do not disturb a good one', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1]);
  const bad = new DiscoveryTarget({
    entries: [ioEntry(1), ioEntry(2)],
    misbehave: { kind: 'close-mid-transfer' },
  });
  await bad.start();
  t.after(() => bad.stop());
  const run = await startStafd(t, {
    host,
    conf: stafdConf({ controllers: [controllerLine(8009), controllerLine(8999), controllerLine(bad.port)] }),
  });
  await run.until(
    'all three tried: 8009 read, the double dropped twice, 8999 refused',
    async () =>
      (await run.staf.getLogPages(...run.tid(8009))).length > 0 &&
      bad.connectsAccepted >= 2 &&
      !!(await run.info(run.tid(8999)))['last error'],
  );
  assert.ok(bad.logPageReads >= 2, 'the double was asked for its log on each connection');
  assert.deepEqual(nvmNqns(await run.staf.getLogPages(...run.tid(8009))), servedOn(nvmet, disc));
  assert.deepEqual(await run.staf.getLogPages(...run.tid(bad.port)), [], 'no half-read log is served');
  assert.deepEqual(await run.dcPorts(), ['8009', '8999', String(bad.port)].sort());
  assert.equal((await run.info(run.tid(8009)))['state'], 'connected');

  // The good DC still follows changes while the others keep failing.
  addSubsystems(nvmet, disc, [2]);
  await run.until('8009 has the new subsystem', async () =>
    nvmNqns(await run.staf.getLogPages(...run.tid(8009))).includes(NQN(2)),
  );
  assert.ok(run.running, 'stafd is still up');
  assert.equal(JSON.parse(await run.staf.processInfo())['discovery controllers'], '3');
});

test('(i) DIM: stafd registers with a CDC (host NQN, symname) and deregisters on SIGTERM', {
  skip,
}, async (t) => {
  const { host } = await freshLab(t);
  const cdc = new DiscoveryTarget({ dctype: 'cdc', entries: [ioEntry(1)] });
  await cdc.start();
  t.after(() => cdc.stop());
  const symname = 'stas lab host 7';
  const run = await startStafd(t, {
    host,
    symname,
    conf: stafdConf({ controllers: [controllerLine(cdc.port)] }),
  });
  await run.until(
    'registered and log read',
    async () =>
      cdc.dimRecords.some((r) => r.task === 0) &&
      (await run.staf.getLogPages(...run.tid(cdc.port))).length > 0,
  );
  const reg = cdc.dimRecords.find((r) => r.task === 0)!;
  assert.equal(reg.hostNqn, host.hostnqn);
  assert.equal(reg.dim.entries.length, 1);
  const e = reg.dim.entries[0]!;
  assert.equal(e.nqn, host.hostnqn);
  assert.equal(e.symname, symname);
  assert.equal(Buffer.from(e.hostId ?? []).toString('hex'), host.hostid.replace(/-/g, ''));
  assert.equal(cdc.dimRecords.filter((r) => r.task === 1).length, 0, 'no deregistration yet');
  assert.equal(JSON.parse(await run.staf.processInfo())['symname'], symname);
  const device = (await run.info(run.tid(cdc.port)))['device']!;

  assert.equal(await run.stop('SIGTERM'), 0, run.output());
  const dereg = cdc.dimRecords.filter((r) => r.task === 1);
  if (labDcHost() === 'kernel') {
    // A kernel DC (the default) stays at SIGTERM (persistent-connections=true), and so does its registration; one
    // that stafd deletes is deregistered first (stafd-kernel-dim-aen.test.ts (b)).
    assert.match(device, /^nvme\d+$/);
    assert.ok(controllers().includes(device), `${device} kept`);
    assert.equal(dereg.length, 0, 'the kept controller stays registered');
    return;
  }
  assert.equal(dereg.length, 1, 'deregistered once, before stafd exited');
  assert.equal(dereg[0]!.hostNqn, host.hostnqn);
  assert.equal(dereg[0]!.dim.entries[0]?.nqn, host.hostnqn);
  assert.ok(cdc.dimRecords.indexOf(reg) < cdc.dimRecords.indexOf(dereg[0]!));
});
