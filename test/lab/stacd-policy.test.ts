/**
 * stacd's policies with stafd and the kernel target (nvmet) on a private bus, in the kernel lab:
 * - disconnect-scope=all-connections-matching-disconnect-trtypes removes an nvme-connect-made controller that no
 *   log page lists, adopts a listed one and removes it when its subsystem leaves the discovery port (AEN);
 * - only-stas-connections (the default) and no-disconnect leave an nvme-connect-made controller alone, and
 *   no-disconnect keeps stacd's own controller when its DLPE goes;
 * - exclude= keeps an IOC from being connected until a SIGHUP drops it; ip-family=ipv6 connects only the IOCs of
 *   a discovery port on ::1; a controller deleted behind stacd's back while still wanted is reconnected;
 * - connect-attempts-on-ncc: a DLPE with NCC whose connects fail is given up after the attempts (plan: skip),
 *   and connected once the CDC (the discovery test double) clears NCC.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EFlags } from '../../src/core/nvme/discovery-log.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import {
  connectOptions,
  deleteController,
  disconnectAll,
  fabricsConnect,
  type HostIdentity,
  labSkipReason,
} from './support/host.js';
import type { Nvmet, Port } from './support/nvmet.js';
import { controllerLine, stafdConf } from './support/stafd-run.js';
import { ioControllers, ioNqns, type PlanEntry, stasLab } from './support/stas-run.js';

const skip = labSkipReason();
const NQN = (name: string) => `nqn.2024-01.io.stas-lab:policy-${name}`;
const IOCCM = 'I/O controller connection management';

/** stacd.conf text from its sections. */
function stacdConf(o: { global?: string[]; ioccm?: string[]; controllers?: string[] } = {}): string {
  return [
    '[Global]',
    ...(o.global ?? []),
    `[${IOCCM}]`,
    ...(o.ioccm ?? []),
    '[Controllers]',
    ...(o.controllers ?? []),
    '',
  ].join('\n');
}

/** A subsystem with one small null_blk namespace, linked to `ports`. */
function subsystem(nvmet: Nvmet, nqn: string, ports: Port[]): void {
  nvmet.addSubsystem({ nqn, namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports });
}

/** A controller made the way `nvme connect` makes it (a plain /dev/nvme-fabrics write); its device name. */
function nvmeConnect(host: HostIdentity, nqn: string, port: Port): string {
  return fabricsConnect(
    connectOptions({
      transport: 'tcp',
      traddr: port.traddr,
      trsvcid: port.trsvcid,
      nqn,
      hostnqn: host.hostnqn,
      hostid: host.hostid,
    }),
  ).name;
}

const sorted = (a: string[]) => [...a].sort();
const sameSet = async (want: string[]) => JSON.stringify(await ioNqns()) === JSON.stringify(sorted(want));
const itemOf = (plan: PlanEntry[], nqn: string) => plan.find((i) => i.subsysnqn === nqn);

test('disconnect-scope=all-connections-matching-disconnect-trtypes: unlisted nvme-connect controller removed, listed one adopted until its DLPE goes', {
  skip,
}, async (t) => {
  const { nvmet, host, disc, io, run } = await stasLab(t);
  const [LISTED, OTHER, UNLISTED] = [NQN('all-listed'), NQN('all-other'), NQN('all-unlisted')];
  subsystem(nvmet, LISTED, [disc]);
  subsystem(nvmet, OTHER, [disc]); // keeps the discovery port listening when LISTED leaves it
  subsystem(nvmet, UNLISTED, [io]); // served on 4420, listed by no discovery port
  const listedDev = nvmeConnect(host, LISTED, disc);
  const unlistedDev = nvmeConnect(host, UNLISTED, io);

  run.writeStafdConf(stafdConf({ controllers: [controllerLine(8009)] }));
  run.writeStacdConf(
    stacdConf({ ioccm: ['disconnect-scope = all-connections-matching-disconnect-trtypes'] }),
  );
  await run.startStafd();
  await run.until('stafd has the log page', () => run.stafdLists(LISTED));
  await run.startStacd();

  await run.until('the unlisted controller removed, the listed one kept, the other connected', () =>
    sameSet([LISTED, OTHER]),
  );
  const listed = (await ioControllers()).find((c) => c.subsysnqn === LISTED)!;
  assert.equal(listed.device, listedDev, 'the nvme-connect-made controller of a listed subsystem is adopted');
  await run.stacdSays(
    new RegExp(`${unlistedDev} - Disconnected \\(not configured nor listed, and tcp is audited`),
  );
  const adopted = (await run.stac.listControllers(false)).find((c) => c['subsysnqn'] === LISTED);
  assert.equal(adopted?.['device'], listedDev, 'stacd lists the adopted controller as its own');

  // Its subsystem leaves the discovery port: AEN → stafd re-reads → stacd disconnects the adopted controller.
  nvmet.unlink(LISTED, disc);
  await run.until('the adopted controller removed after its DLPE went', () => sameSet([OTHER]));
  await run.stacdSays(new RegExp(`${listedDev} - Disconnected`));
  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
});

test('only-stas-connections leaves an nvme-connect controller alone; no-disconnect too, and keeps its own when the DLPE goes', {
  skip,
}, async (t) => {
  const { nvmet, host, disc, io, run } = await stasLab(t);
  const [LISTED, OTHER, UNLISTED] = [NQN('only-listed'), NQN('only-other'), NQN('only-unlisted')];
  subsystem(nvmet, LISTED, [disc]);
  subsystem(nvmet, OTHER, [disc]);
  subsystem(nvmet, UNLISTED, [io]);
  const unlistedDev = nvmeConnect(host, UNLISTED, io);

  run.writeStafdConf(stafdConf({ controllers: [controllerLine(8009)] }));
  run.writeStacdConf(stacdConf()); // disconnect-scope = only-stas-connections (the default)
  await run.startStafd();
  await run.until('stafd has the log page', () => run.stafdLists(LISTED));
  await run.startStacd();
  await run.until('the listed subsystems connected', () => sameSet([LISTED, OTHER, UNLISTED]));
  await run.fullPass();
  const unlisted = (await ioControllers()).find((c) => c.subsysnqn === UNLISTED);
  assert.equal(
    unlisted?.device,
    unlistedDev,
    'only-stas-connections: the nvme-connect controller is still there',
  );
  let plan = await run.plan();
  assert.deepEqual(
    [itemOf(plan, UNLISTED)?.action, itemOf(plan, UNLISTED)?.device, itemOf(plan, UNLISTED)?.reason],
    ['keep', unlistedDev, 'not made by stas'],
  );
  assert.deepEqual(
    plan.map((i) => i.action),
    ['keep', 'keep', 'keep'],
  );

  // no-disconnect (SIGHUP), then LISTED leaves the discovery port.
  run.hupStacd(stacdConf({ ioccm: ['disconnect-scope = no-disconnect'] }));
  await run.until(
    'the reload',
    async () => itemOf(await run.plan(), UNLISTED)?.reason === 'disconnect-scope=no-disconnect',
  );
  const listedDev = (await ioControllers()).find((c) => c.subsysnqn === LISTED)!.device;
  nvmet.unlink(LISTED, disc);
  await run.until('stafd saw LISTED leave', async () => !(await run.stafdLists(LISTED)));
  await run.fullPass();
  assert.deepEqual(await ioNqns(), sorted([LISTED, OTHER, UNLISTED]), 'no-disconnect: nothing removed');
  plan = await run.plan();
  assert.deepEqual(
    [itemOf(plan, LISTED)?.action, itemOf(plan, LISTED)?.device, itemOf(plan, LISTED)?.reason],
    ['keep', listedDev, 'disconnect-scope=no-disconnect'],
  );
  assert.equal(itemOf(plan, UNLISTED)?.action, 'keep');
  assert.doesNotMatch(run.stacdOutput(), /Disconnected/);
  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
});

test('exclude= until SIGHUP drops it; ip-family=ipv6 connects only the IOCs of a ::1 discovery port; a deleted controller is reconnected', {
  skip,
}, async (t) => {
  const { nvmet, disc, run } = await stasLab(t);
  const V4 = [NQN('v4-1'), NQN('v4-2'), NQN('v4-3')];
  const V6 = [NQN('v6-1'), NQN('v6-2')];
  for (const nqn of V4) subsystem(nvmet, nqn, [disc]);
  const stafdV4 = stafdConf({ controllers: [controllerLine(8009)] });
  run.writeStafdConf(stafdV4);
  run.writeStacdConf(stacdConf({ controllers: [`exclude = nqn=${V4[1]}`] }));
  await run.startStafd();
  await run.until('stafd has the log page', async () =>
    (await Promise.all(V4.map((n) => run.stafdLists(n)))).every(Boolean),
  );
  await run.startStacd();

  // exclude=: the excluded IOC is not connected (not even planned), the others are.
  await run.until('the IOCs not excluded connected', () => sameSet([V4[0]!, V4[2]!]));
  let plan = await run.plan();
  assert.equal(itemOf(plan, V4[1]!), undefined, 'the excluded IOC is not in the plan');
  assert.deepEqual(plan.map((i) => [i.action, i.subsysnqn]).sort(), [
    ['keep', V4[0]],
    ['keep', V4[2]],
  ]);
  // SIGHUP without the exclusion: connected.
  run.hupStacd(stacdConf());
  await run.until('the formerly excluded IOC connected', () => sameSet(V4));

  // ip-family=ipv6 with IPv4 entries only: nothing connected, nothing to connect in the plan.
  assert.equal(await run.stop('stacd'), 0);
  await disconnectAll();
  run.writeStacdConf(stacdConf({ global: ['ip-family = ipv6'] }));
  await run.startStacd();
  await run.fullPass();
  assert.deepEqual(await ioNqns(), []);
  assert.deepEqual(await run.plan(), [], 'ip-family=ipv6: the IPv4 IOCs are not planned');

  // A discovery port on ::1 (stafd told by SIGHUP): its IOCs are connected over IPv6, the IPv4 ones still not.
  const disc6 = nvmet.addPort({ traddr: '::1', trsvcid: 8009 });
  for (const nqn of V6) subsystem(nvmet, nqn, [disc6]);
  run.hupStafd(stafdConf({ controllers: [controllerLine(8009), controllerLine(8009, '::1')] }));
  await run.until('the IPv6 IOCs connected', () => sameSet(V6));
  assert.deepEqual(
    (await ioControllers()).map((c) => [c.traddr, c.trsvcid]),
    [
      ['::1', '8009'],
      ['::1', '8009'],
    ],
  );
  plan = await run.plan();
  assert.deepEqual(
    plan.map((i) => [i.action, i.subsysnqn, i.traddr]).sort(),
    V6.map((n) => ['keep', n, '::1']),
  );

  // A controller that disappears while still wanted is reconnected (uevent remove → pass), well before any
  // periodic retry could do it.
  const victim = (await ioControllers()).find((c) => c.subsysnqn === V6[0])!.device;
  await deleteController(victim);
  await run.until('the deleted controller reconnected', () => sameSet(V6), 10_000);
  await run.stacdSays(
    new RegExp(
      `${V6[0]}\\) \\| nvme\\d+ - Connection established![^]*${V6[0]}\\) \\| nvme\\d+ - Connection established!`,
    ),
  );
  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
});

test('connect-attempts-on-ncc: given up after the attempts while NCC is set, connected once the CDC clears NCC', {
  skip,
}, async (t) => {
  const { nvmet, io, run } = await stasLab(t);
  const FILLER = NQN('ncc-filler'); // makes nvmet listen on 4420, so a connect to an unknown NQN fails (EIO)
  const NCC_NQN = NQN('ncc');
  subsystem(nvmet, FILLER, [io]);
  const entry = (eflags: number) =>
    ioEntry(0, { subnqn: NCC_NQN, traddr: io.traddr, trsvcid: io.trsvcid, eflags });
  const cdc = new DiscoveryTarget({ dctype: 'cdc', entries: [entry(EFlags.NCC)] });
  const port = await cdc.start();
  t.after(() => cdc.stop());

  run.writeStafdConf(stafdConf({ controllers: [controllerLine(port)] }));
  run.writeStacdConf(stacdConf({ global: ['tron = true'], ioccm: ['connect-attempts-on-ncc = 2'] }));
  await run.startStafd();
  await run.until('stafd has the CDC log page', () => run.stafdLists(NCC_NQN));
  await run.startStacd();

  const failures = () =>
    run
      .stacdOutput()
      .split('\n')
      .filter((l) => l.includes(NCC_NQN) && l.includes('Failed to connect')).length;
  const details = async () => (await run.stac.listControllers(true)).find((c) => c['subsysnqn'] === NCC_NQN);
  await run.until(
    'stacd gave up (plan: skip)',
    async () => itemOf(await run.plan(), NCC_NQN)?.action === 'skip',
  );
  assert.match(itemOf(await run.plan(), NCC_NQN)!.reason, /NCC.*2 attempts failed/);
  assert.equal((await details())?.['connect attempts'], '2');
  assert.equal((await details())?.['dlpe.eflags.ncc'], 'True');
  await run.until('both failures logged', () => failures() >= 2);
  assert.equal(failures(), 2);

  // No further attempts: the CDC sends a change notice (same log, NCC still set), more passes run.
  const reads = cdc.logPageReads;
  cdc.setEntries([entry(EFlags.NCC)]);
  await run.until('stafd re-read the CDC log', () => cdc.logPageReads > reads);
  await run.fullPass();
  assert.equal((await details())?.['connect attempts'], '2');
  assert.equal(failures(), 2, 'no connect attempt after giving up');
  assert.ok(!(await ioNqns()).includes(NCC_NQN));

  // The subsystem appears on nvmet: still skipped while NCC is set ...
  subsystem(nvmet, NCC_NQN, [io]);
  assert.equal(itemOf(await run.plan(), NCC_NQN)?.action, 'skip');
  // ... and connected once the CDC clears NCC (AEN → stafd → stacd), not by the 60 s retry.
  cdc.setEntries([entry(0)]);
  await run.until(
    'the IOC connected once NCC cleared',
    async () => (await ioNqns()).includes(NCC_NQN),
    15_000,
  );
  await run.until('stacd lists it connected', async () => (await details())?.['connected'] === 'True');
  assert.equal((await details())?.['connect attempts'], '0');
  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
});

test("a device name reused by nvme connect after stacd's controller vanished is not taken for stacd's own", {
  skip,
}, async (t) => {
  const { nvmet, host, disc, io, run } = await stasLab(t);
  const [LISTED, UNLISTED] = [NQN('reuse-listed'), NQN('reuse-unlisted')];
  subsystem(nvmet, LISTED, [disc]);
  subsystem(nvmet, UNLISTED, [io]);
  run.writeStafdConf(stafdConf({ controllers: [controllerLine(8009)] }));
  run.writeStacdConf(stacdConf()); // only-stas-connections
  await run.startStafd();
  await run.until('stafd has the log page', () => run.stafdLists(LISTED));
  await run.startStacd();
  await run.until('stacd connected LISTED', () => sameSet([LISTED]));
  const dev = (await ioControllers())[0]!.device;
  await run.stacdSays(new RegExp(`${dev} - Connection established!`)); // logged once claimed in the registry
  assert.equal(await run.stop('stacd'), 0);
  // stacd's controller goes away without stacd (nvme disconnect, ctrl-loss-tmo expiry); the kernel hands its
  // name to the next connection, made by nvme connect.
  await deleteController(dev);
  assert.equal(nvmeConnect(host, UNLISTED, io), dev, 'precondition: the device name is reused');
  await run.startStacd();
  await run.until('stacd connected LISTED again', async () => (await ioNqns()).includes(LISTED));
  await run.fullPass();
  assert.ok(
    (await ioNqns()).includes(UNLISTED),
    `the nvme-connect controller is left alone; stacd said:\n${run
      .stacdOutput()
      .split('\n')
      .filter((l) => l.includes('Disconnected'))
      .join('\n')}`,
  );
  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
});
