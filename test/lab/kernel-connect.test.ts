/**
 * Lab test: the kernel NVMe/TCP host connecting to the kernel NVMe target (nvmet) on 127.0.0.1, through
 * the interface stas's daemons use: the /dev/nvme-fabrics connect reply and errors, the controller's
 * sysfs attributes, the namespace block device, discovery controllers and delete_controller.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  type ConnectReply,
  connectOptions,
  controllers,
  ctrlAttr,
  deleteController,
  diskSizeBytes,
  fabricsConnect,
  labSkipReason,
  namespaceDisks,
  newHostIdentity,
  parseAddress,
  resetLab,
  waitFor,
  writeHostIdentity,
} from './support/host.js';
import { DISCOVERY_NQN, Nvmet } from './support/nvmet.js';

const skip = labSkipReason();
const SUBNQN = 'nqn.2024-01.io.stas-lab:connect';
const NS_SIZE = 32 * 1024 * 1024;
const TRADDR = '127.0.0.1';

function need<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is missing (an earlier step failed)`);
  return value;
}

test('kernel host and nvmet over NVMe/TCP through /dev/nvme-fabrics', { skip }, async (t) => {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  t.after(() => resetLab(nvmet));

  const host = newHostIdentity();
  writeHostIdentity(host);
  const io = nvmet.addPort({ traddr: TRADDR, trsvcid: 4420 });
  const discovery = nvmet.addDiscoveryPort(TRADDR);
  const subsys = nvmet.addSubsystem({
    nqn: SUBNQN,
    allowedHosts: [host.hostnqn],
    namespaces: [{ sizeBytes: NS_SIZE }],
    // linked to the discovery port too: nvmet listens only on ports with a subsystem linked
    ports: [io, discovery],
  });
  const ioOptions = connectOptions({
    transport: 'tcp',
    traddr: TRADDR,
    trsvcid: 4420,
    nqn: SUBNQN,
    hostnqn: host.hostnqn,
    hostid: host.hostid,
  });

  let ctrl: ConnectReply | undefined;
  let disk: string | undefined;

  await t.test('connect: the reply names a new controller', () => {
    const before = controllers();
    ctrl = fabricsConnect(ioOptions);
    assert.match(ctrl.reply, /^instance=\d+,cntlid=\d+$/);
    assert.ok(ctrl.cntlid >= 1, `cntlid ${ctrl.cntlid}`);
    assert.ok(!before.includes(ctrl.name), `${ctrl.name} existed before the connect`);
    assert.ok(fs.existsSync(`/sys/class/nvme/${ctrl.name}`));
  });

  await t.test('sysfs describes the controller as configured', async () => {
    const c = need(ctrl, 'the controller').name;
    await waitFor(`${c} to be live`, () => ctrlAttr(c, 'state') === 'live');
    assert.equal(ctrlAttr(c, 'transport'), 'tcp');
    assert.deepEqual(parseAddress(ctrlAttr(c, 'address')), {
      traddr: TRADDR,
      trsvcid: '4420',
      src_addr: TRADDR,
    });
    assert.equal(ctrlAttr(c, 'subsysnqn'), SUBNQN);
    assert.equal(ctrlAttr(c, 'cntrltype'), 'io');
    assert.equal(ctrlAttr(c, 'hostnqn'), host.hostnqn);
    assert.equal(ctrlAttr(c, 'hostid'), host.hostid);
    assert.equal(ctrlAttr(c, 'cntlid'), String(need(ctrl, 'the controller').cntlid));
    assert.equal(ctrlAttr(c, 'serial'), subsys.serial);
    assert.equal(ctrlAttr(c, 'model'), subsys.model);
  });

  await t.test('the namespace is a block device of the configured size', async () => {
    const c = need(ctrl, 'the controller').name;
    const disks = await waitFor(`the namespace disk of ${c}`, () => {
      const found = namespaceDisks(c);
      return found.length > 0 && found.every((d) => fs.existsSync(`/dev/${d}`)) && found;
    });
    assert.equal(disks.length, 1, `disks: ${disks.join(' ')}`);
    disk = disks[0]!;
    const ns = subsys.namespaces[0]!;
    assert.ok(fs.statSync(`/dev/${disk}`).isBlockDevice());
    assert.equal(diskSizeBytes(disk), NS_SIZE);
    assert.equal(fs.readFileSync(`/sys/block/${disk}/nsid`, 'utf8').trim(), String(ns.nsid));
    assert.equal(fs.readFileSync(`/sys/block/${disk}/uuid`, 'utf8').trim(), ns.uuid);
  });

  await t.test("data written to the disk reaches the namespace's backing file on the target", () => {
    const d = need(disk, 'the disk');
    const ns = subsys.namespaces[0]!;
    const block = Buffer.alloc(4096, 0);
    block.write(`stas lab ${host.hostid}`);
    const offset = 8 * 4096;
    const fd = fs.openSync(`/dev/${d}`, 'r+');
    try {
      fs.writeSync(fd, block, 0, block.length, offset);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const back = Buffer.alloc(block.length);
    const file = fs.openSync(ns.devicePath, 'r');
    try {
      fs.readSync(file, back, 0, back.length, offset);
    } finally {
      fs.closeSync(file);
    }
    assert.ok(back.equals(block), 'the backing file does not hold the written block');
  });

  await t.test('a duplicate connect is refused with EALREADY', () => {
    assert.throws(() => fabricsConnect(ioOptions), { code: 'EALREADY' });
  });

  await t.test('a connect to an unknown subsystem NQN fails with EIO', () => {
    const options = connectOptions({
      transport: 'tcp',
      traddr: TRADDR,
      trsvcid: 4420,
      nqn: 'nqn.2024-01.io.stas-lab:no-such-subsystem',
      hostnqn: host.hostnqn,
      hostid: host.hostid,
    });
    assert.throws(() => fabricsConnect(options), { code: 'EIO' });
  });

  await t.test('a host that is not in allowed_hosts is rejected with EIO', () => {
    const stranger = newHostIdentity();
    const options = connectOptions({
      transport: 'tcp',
      traddr: TRADDR,
      trsvcid: 4420,
      nqn: SUBNQN,
      hostnqn: stranger.hostnqn,
      hostid: stranger.hostid,
    });
    assert.throws(() => fabricsConnect(options), { code: 'EIO' });
  });

  await t.test('a discovery controller on port 8009 has cntrltype discovery', async () => {
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
    try {
      await waitFor(`${dc.name} to be live`, () => ctrlAttr(dc.name, 'state') === 'live');
      assert.equal(ctrlAttr(dc.name, 'cntrltype'), 'discovery');
      assert.equal(ctrlAttr(dc.name, 'subsysnqn'), DISCOVERY_NQN);
      assert.equal(parseAddress(ctrlAttr(dc.name, 'address'))['trsvcid'], '8009');
      assert.equal(ctrlAttr(dc.name, 'kato'), '30');
      assert.deepEqual(namespaceDisks(dc.name), []);
    } finally {
      await deleteController(dc.name);
    }
  });

  await t.test('delete_controller removes the controller and its block device', () => {
    const c = need(ctrl, 'the controller').name;
    const d = need(disk, 'the disk');
    // the write returns once the controller, its namespaces and its subsystem are gone
    fs.writeFileSync(`/sys/class/nvme/${c}/delete_controller`, '1');
    assert.equal(fs.existsSync(`/sys/class/nvme/${c}`), false, `/sys/class/nvme/${c} still exists`);
    assert.equal(fs.existsSync(`/sys/block/${d}`), false, `/sys/block/${d} still exists`);
    assert.equal(fs.existsSync(`/dev/${d}`), false, `/dev/${d} still exists`);
    assert.deepEqual(controllers(), []);
  });
});
