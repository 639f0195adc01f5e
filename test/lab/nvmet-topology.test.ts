/**
 * Lab test of the nvmet topology helper (support/nvmet.ts) against the real kernel: the discovery log
 * follows links and referrals, link/unlink sends Discovery Log Change AENs, a second port is a second
 * path, both namespace backends, and teardown leaves nvmet empty. Discovery logs are read with nvme-cli,
 * which is independent of stas.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  connectOptions,
  controllers,
  ctrlAttr,
  type DiscoveryLog,
  deleteController,
  diskSizeBytes,
  fabricsConnect,
  type HostIdentity,
  labSkipReason,
  namespaceDisks,
  namespacePaths,
  newHostIdentity,
  nvmeDiscover,
  parseAddress,
  readDiscoveryLog,
  resetLab,
  subsystemControllers,
  UeventMonitor,
  waitFor,
  writeHostIdentity,
} from './support/host.js';
import { DISCOVERY_NQN, NULLB_ROOT, NVMET_ROOT, Nvmet } from './support/nvmet.js';

const skip = labSkipReason();
const NQN_A = 'nqn.2024-01.io.stas-lab:topology-a';
const NQN_B = 'nqn.2024-01.io.stas-lab:topology-b';
const TRADDR = '127.0.0.1';
const MIB = 1024 * 1024;
/** NVME_AEN value of a Discovery Log Page Change notice (AEN type 2, info 0xf0, log page 0x70). */
const DISCOVERY_LOG_CHANGE_AEN = '0x70f002';

const subsystemNqns = (log: DiscoveryLog) =>
  log.records
    .filter((r) => r.subtype === 'nvme subsystem')
    .map((r) => r.subnqn)
    .sort();
const referrals = (log: DiscoveryLog) =>
  log.records.filter((r) => r.subtype === 'discovery subsystem referral');

function ioConnect(host: HostIdentity, nqn: string, traddr = TRADDR, trsvcid: string | number = 4420) {
  return fabricsConnect(
    connectOptions({ transport: 'tcp', traddr, trsvcid, nqn, hostnqn: host.hostnqn, hostid: host.hostid }),
  );
}

test('the discovery log follows subsystem links and referrals', { skip }, async (t) => {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  t.after(() => resetLab(nvmet));
  writeHostIdentity(newHostIdentity());
  const io = nvmet.addPort({ traddr: TRADDR, trsvcid: 4420 });
  const discovery = nvmet.addDiscoveryPort(TRADDR);
  nvmet.addSubsystem({ nqn: NQN_A, ports: [io, discovery] });
  nvmet.addSubsystem({ nqn: NQN_B, ports: [io] });
  let genctr = -1;

  await t.test('the log lists the current discovery subsystem and the subsystems linked to the port', () => {
    const log = nvmeDiscover(TRADDR, 8009);
    const current = log.records.filter((r) => r.subtype === 'current discovery subsystem');
    assert.equal(current.length, 1);
    assert.equal(current[0]!.subnqn, DISCOVERY_NQN);
    assert.equal(current[0]!.trsvcid, '8009');
    assert.deepEqual(subsystemNqns(log), [NQN_A]);
    const a = log.records.find((r) => r.subnqn === NQN_A)!;
    // nvmet reports the address of the port the log was read from
    assert.deepEqual(
      [a.trtype, a.adrfam, a.traddr, a.trsvcid, a.portid],
      ['tcp', 'ipv4', TRADDR, '8009', discovery.id],
    );
    assert.deepEqual(referrals(log), []);
    genctr = log.genctr;
  });

  await t.test('linking a subsystem to the port adds it and bumps genctr', () => {
    nvmet.link(NQN_B, discovery);
    const log = nvmeDiscover(TRADDR, 8009);
    assert.deepEqual(subsystemNqns(log), [NQN_A, NQN_B]);
    assert.ok(log.genctr > genctr, `genctr ${genctr} -> ${log.genctr}`);
    genctr = log.genctr;
  });

  await t.test('a referral appears as a discovery subsystem referral entry', () => {
    nvmet.addReferral(discovery, 'io', io);
    const log = nvmeDiscover(TRADDR, 8009);
    const refs = referrals(log);
    assert.equal(refs.length, 1, JSON.stringify(log.records));
    const r = refs[0]!;
    assert.deepEqual([r.subnqn, r.traddr, r.trsvcid, r.portid], [DISCOVERY_NQN, TRADDR, '4420', io.id]);
    assert.ok(log.genctr > genctr, `genctr ${genctr} -> ${log.genctr}`);
  });

  await t.test('unlinking and removing the referral take the entries out again', () => {
    nvmet.unlink(NQN_B, discovery);
    nvmet.removeReferral(discovery, 'io');
    const log = nvmeDiscover(TRADDR, 8009);
    assert.deepEqual(subsystemNqns(log), [NQN_A]);
    assert.deepEqual(referrals(log), []);
  });

  await t.test('the I/O port serves its own discovery log', () => {
    const log = nvmeDiscover(TRADDR, 4420);
    assert.deepEqual(subsystemNqns(log), [NQN_A, NQN_B]);
    assert.ok(log.records.every((r) => r.trsvcid === '4420'));
  });

  await t.test('nvme-cli removed its discovery controllers again', () => {
    assert.deepEqual(controllers(), []);
  });
});

test('link and unlink send a Discovery Log Change AEN to a persistent discovery controller', {
  skip,
}, async (t) => {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  const uevents = new UeventMonitor();
  t.after(async () => {
    uevents.stop();
    await resetLab(nvmet);
  });
  const host = newHostIdentity();
  const discovery = nvmet.addDiscoveryPort(TRADDR);
  nvmet.addSubsystem({ nqn: NQN_A, ports: [discovery] });
  nvmet.addSubsystem({ nqn: NQN_B });
  await uevents.start();

  const dc = fabricsConnect(
    connectOptions({
      transport: 'tcp',
      traddr: TRADDR,
      trsvcid: 8009,
      nqn: DISCOVERY_NQN,
      hostnqn: host.hostnqn,
      hostid: host.hostid,
      keep_alive_tmo: 30,
    }),
  );
  const ofDc = (e: Record<string, string>) => (e['DEVPATH'] ?? '').endsWith(`/${dc.name}`);
  await uevents.next(
    `NVME_EVENT=connected for ${dc.name}`,
    (e) => ofDc(e) && e['NVME_EVENT'] === 'connected',
  );

  uevents.clear();
  nvmet.link(NQN_B, discovery);
  const onLink = await uevents.next('an AEN after link', (e) => ofDc(e) && e['NVME_AEN'] !== '');
  assert.equal(onLink['NVME_AEN'], DISCOVERY_LOG_CHANGE_AEN);
  assert.equal(onLink['ACTION'], 'change');
  // what a discovery daemon does on that AEN: read the log page (which also re-arms the AEN)
  assert.deepEqual(subsystemNqns(readDiscoveryLog(dc.name)), [NQN_A, NQN_B]);

  uevents.clear();
  nvmet.unlink(NQN_B, discovery);
  const onUnlink = await uevents.next('an AEN after unlink', (e) => ofDc(e) && e['NVME_AEN'] !== '');
  assert.equal(onUnlink['NVME_AEN'], DISCOVERY_LOG_CHANGE_AEN);
  assert.deepEqual(subsystemNqns(readDiscoveryLog(dc.name)), [NQN_A]);
});

test('a second port on 127.0.0.2 is a second path to the same namespace disk', { skip }, async (t) => {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  t.after(() => resetLab(nvmet));
  const host = newHostIdentity();
  const path1 = nvmet.addPort({ traddr: '127.0.0.1', trsvcid: 4420 });
  const path2 = nvmet.addPort({ traddr: '127.0.0.2', trsvcid: 4420 });
  nvmet.addSubsystem({ nqn: NQN_A, namespaces: [{ sizeBytes: 8 * MIB }], ports: [path1, path2] });

  const c1 = ioConnect(host, NQN_A, '127.0.0.1');
  const c2 = ioConnect(host, NQN_A, '127.0.0.2');
  assert.notEqual(c1.name, c2.name);
  assert.equal(parseAddress(ctrlAttr(c2.name, 'address'))['traddr'], '127.0.0.2');
  assert.deepEqual(subsystemControllers(c1.name), [c1.name, c2.name].sort());
  const disks = await waitFor('the multipath disk', () => {
    const d = namespaceDisks(c1.name);
    return d.length === 1 && fs.existsSync(`/dev/${d[0]}`) && d;
  });
  assert.deepEqual(namespaceDisks(c2.name), disks);
  // The disk is the subsystem's as soon as c1's scan made it; c2 is a second path only once its own scan ran (the
  // connect returns before it: under load, deleting c1 first would take the disk's only path).
  await waitFor('a namespace path through each controller', () =>
    [c1.name, c2.name].every((c) => namespacePaths(c).length === 1),
  );

  await deleteController(c1.name);
  assert.ok(fs.existsSync(`/dev/${disks[0]}`), 'the disk went away with one of two paths');
  await deleteController(c2.name);
  assert.equal(fs.existsSync(`/dev/${disks[0]}`), false);
});

test('file and null_blk namespaces have the configured sizes', { skip }, async (t) => {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  t.after(() => resetLab(nvmet));
  const host = newHostIdentity();
  const io = nvmet.addPort({ traddr: TRADDR, trsvcid: 4420 });
  const subsys = nvmet.addSubsystem({
    nqn: NQN_A,
    namespaces: [
      { backend: 'null_blk', sizeBytes: 16 * MIB },
      { backend: 'file', sizeBytes: 12 * MIB },
    ],
    ports: [io],
  });
  assert.ok(fs.statSync(subsys.namespaces[0]!.devicePath).isBlockDevice());

  const c = ioConnect(host, NQN_A);
  const disks = await waitFor('two namespace disks', () => {
    const d = namespaceDisks(c.name);
    return d.length === 2 && d.every((x) => fs.existsSync(`/dev/${x}`)) && d;
  });
  const sizeByNsid = Object.fromEntries(
    disks.map((d) => [fs.readFileSync(`/sys/block/${d}/nsid`, 'utf8').trim(), diskSizeBytes(d)]),
  );
  assert.deepEqual(sizeByNsid, { '1': 16 * MIB, '2': 12 * MIB });
});

test('teardown leaves nvmet empty and the ports closed', { skip }, async () => {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  const host = newHostIdentity();
  const io = nvmet.addPort({ traddr: TRADDR, trsvcid: 4420 });
  const discovery = nvmet.addDiscoveryPort(TRADDR);
  nvmet.addSubsystem({ nqn: NQN_A, allowedHosts: [host.hostnqn], ports: [io, discovery] });
  nvmet.addSubsystem({ nqn: NQN_B, namespaces: [{ backend: 'null_blk', sizeBytes: MIB }], ports: [io] });
  nvmet.addReferral(discovery, 'io', io);
  const c = ioConnect(host, NQN_A);
  assert.equal(ctrlAttr(c.name, 'subsysnqn'), NQN_A);

  await resetLab(nvmet);
  assert.deepEqual(controllers(), []);
  assert.deepEqual(nvmet.snapshot(), { ports: {}, subsystems: [], hosts: [] });
  assert.deepEqual(fs.readdirSync(`${NVMET_ROOT}/ports`), []);
  assert.deepEqual(
    fs.readdirSync(NULLB_ROOT).filter((d) => d.startsWith('stas')),
    [],
  );
  assert.throws(
    () => ioConnect(host, NQN_A),
    (e: NodeJS.ErrnoException) => typeof e.code === 'string',
  );
});
