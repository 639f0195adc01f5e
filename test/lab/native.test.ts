// Lab test: the native addon against the real kernel: nvme uevents, admin passthrough on a discovery controller.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  adminPassthru,
  nativeUnavailableReason,
  type UeventHandle,
  ueventClose,
  ueventOpen,
  ueventWatch,
} from '../../src/adapters/native.js';
import {
  type ConnectReply,
  connectOptions,
  ctrlAttr,
  deleteController,
  fabricsConnect,
  labSkipReason,
  newHostIdentity,
  resetLab,
  waitFor,
  writeHostIdentity,
} from './support/host.js';
import { DISCOVERY_NQN, Nvmet } from './support/nvmet.js';

const skip = labSkipReason() ?? nativeUnavailableReason();
const NQN_A = 'nqn.2024-01.io.stas-lab:native-a';
const NQN_B = 'nqn.2024-01.io.stas-lab:native-b';
const TRADDR = '127.0.0.1';
/** NVME_AEN of a Discovery Log Page Change notice (AEN type 2, info 0xf0, log page 0x70). */
const DISCOVERY_LOG_CHANGE_AEN = '0x70f002';
/** Every wait for a kernel event is bounded by this. */
const EVENT_TIMEOUT_MS = 10_000; // waitFor scales it

/** A parsed uevent datagram: the 'action@devpath' header and its KEY=value variables. */
interface Uevent {
  header: string;
  vars: Record<string, string>;
}

/** Parses 'add@/devices/...\0ACTION=add\0DEVPATH=...\0' (the raw bytes ueventWatch delivers). */
function parseUevent(buf: Buffer): Uevent {
  const [header = '', ...fields] = buf.toString('latin1').split('\0');
  const vars: Record<string, string> = {};
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq > 0) vars[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return { header, vars };
}

/** Collects the kernel's uevents through the native watch, for the duration of a test. */
class UeventCollector {
  readonly events: Uevent[] = [];
  readonly errors: string[] = [];
  private readonly handle: UeventHandle;

  constructor() {
    this.handle = ueventWatch(
      ueventOpen(4 << 20),
      (buf) => this.events.push(parseUevent(buf)),
      (code) => this.errors.push(code),
    );
  }

  /** Waits (at most EVENT_TIMEOUT_MS) for an event, already received or future, that matches. */
  next(what: string, match: (e: Uevent) => boolean): Promise<Uevent> {
    return waitFor(what, () => this.events.find(match), { timeoutMs: EVENT_TIMEOUT_MS, intervalMs: 10 });
  }

  clear(): void {
    this.events.length = 0;
  }

  close(): void {
    ueventClose(this.handle);
  }
}

function need<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is missing (an earlier step failed)`);
  return value;
}

/** A NUL-padded ASCII field of an Identify / log page structure. */
const text = (b: Buffer) => b.toString('latin1').replace(/[\0 ]+$/, '');

test('native addon: nvme uevents and admin passthrough on a persistent discovery controller', {
  skip,
}, async (t) => {
  const nvmet = new Nvmet();
  await resetLab(nvmet);
  const events = new UeventCollector();
  t.after(async () => {
    events.close();
    await resetLab(nvmet);
  });
  const host = newHostIdentity();
  writeHostIdentity(host);
  const disc = nvmet.addDiscoveryPort(TRADDR);
  nvmet.addSubsystem({
    nqn: NQN_A,
    namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
    ports: [disc],
  });
  nvmet.addSubsystem({ nqn: NQN_B, namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }] });
  let dc: ConnectReply | undefined;

  await t.test('the watch receives kernel uevents (a synthetic one for /dev/null)', async () => {
    fs.writeFileSync('/sys/devices/virtual/mem/null/uevent', 'change');
    const e = await events.next(
      'the uevent of /dev/null',
      (e) => e.vars['DEVPATH'] === '/devices/virtual/mem/null',
    );
    assert.equal(e.header, 'change@/devices/virtual/mem/null');
    assert.equal(e.vars['ACTION'], 'change');
    assert.equal(e.vars['SUBSYSTEM'], 'mem');
  });

  await t.test('connecting a discovery controller sends an add uevent for nvmeN', async () => {
    dc = fabricsConnect(
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
    const name = dc.name;
    const add = await events.next(
      `the add uevent of ${name}`,
      (e) => e.vars['ACTION'] === 'add' && e.vars['SUBSYSTEM'] === 'nvme' && e.vars['DEVNAME'] === name,
    );
    assert.ok(add.header.startsWith('add@/devices/') && add.header.endsWith(`/${name}`), add.header);
    assert.ok(add.vars['DEVPATH']?.endsWith(`/${name}`), add.vars['DEVPATH']);
    await waitFor(`${name} to be live`, () => ctrlAttr(name, 'state') === 'live');
    await waitFor(`/dev/${name}`, () => fs.existsSync(`/dev/${name}`));
  });

  await t.test(
    'Identify Controller through adminPassthru: a discovery controller (CNTRLTYPE 2)',
    async () => {
      const name = need(dc, 'the discovery controller').name;
      const r = await adminPassthru(`/dev/${name}`, {
        opcode: 0x06,
        cdw10: 1,
        dataLength: 4096,
        timeoutMs: 5000,
      });
      assert.equal(r.status, 0);
      assert.equal(r.data.length, 4096);
      assert.equal(r.data[111], 2, `CNTRLTYPE ${r.data[111]}`);
      assert.equal(r.data.readUInt16LE(78), need(dc, 'the discovery controller').cntlid); // CNTLID
      assert.equal(text(r.data.subarray(768, 1024)), DISCOVERY_NQN); // SUBNQN
    },
  );

  await t.test('Get Log Page 0x70 through adminPassthru: the discovery log header', async () => {
    const name = need(dc, 'the discovery controller').name;
    const cdw10 = 0x70 | ((1024 / 4 - 1) << 16); // log page 0x70, NUMDL = dwords - 1, RAE clear
    const r = await adminPassthru(`/dev/${name}`, { opcode: 0x02, cdw10, dataLength: 1024, timeoutMs: 5000 });
    assert.equal(r.status, 0);
    const numrec = r.data.readBigUInt64LE(8);
    assert.ok(numrec >= 1n, `numrec ${numrec}`);
    // read the whole log: its entries list NQN_A on this port
    const whole = await adminPassthru(`/dev/${name}`, {
      opcode: 0x02,
      cdw10: 0x70 | (((1024 * (Number(numrec) + 1)) / 4 - 1) << 16),
      dataLength: 1024 * (Number(numrec) + 1),
    });
    assert.equal(whole.status, 0);
    const subnqns = Array.from({ length: Number(numrec) }, (_, i) =>
      text(whole.data.subarray(1024 * (i + 1) + 256, 1024 * (i + 1) + 512)),
    );
    assert.ok(subnqns.includes(NQN_A), subnqns.join(' '));
  });

  await t.test('an unsupported command completes with an NVMe status, not an errno', async () => {
    const name = need(dc, 'the discovery controller').name;
    // Get Log Page of the SMART log (0x02): a discovery controller does not support it
    const r = await adminPassthru(`/dev/${name}`, {
      opcode: 0x02,
      cdw10: 0x02 | (127 << 16),
      dataLength: 512,
    });
    assert.ok(r.status > 0, `status ${r.status}`);
  });

  await t.test(
    'linking another subsystem to the port sends a change uevent with NVME_AEN=0x70f002',
    async () => {
      const name = need(dc, 'the discovery controller').name;
      events.clear();
      nvmet.link(NQN_B, disc);
      const change = await events.next(
        `the AEN uevent of ${name}`,
        (e) => e.vars['DEVNAME'] === name && e.vars['NVME_AEN'] !== undefined,
      );
      assert.equal(change.vars['ACTION'], 'change');
      assert.equal(change.vars['SUBSYSTEM'], 'nvme');
      assert.equal(change.vars['NVME_AEN'], DISCOVERY_LOG_CHANGE_AEN);
    },
  );

  await t.test('deleting the controller sends a remove uevent', async () => {
    const name = need(dc, 'the discovery controller').name;
    events.clear();
    await deleteController(name);
    const remove = await events.next(
      `the remove uevent of ${name}`,
      (e) => e.vars['ACTION'] === 'remove' && e.vars['SUBSYSTEM'] === 'nvme' && e.vars['DEVNAME'] === name,
    );
    assert.ok(remove.header.startsWith('remove@'), remove.header);
    await assert.rejects(adminPassthru(`/dev/${name}`, { opcode: 0x06, cdw10: 1, dataLength: 4096 }), {
      code: 'ENOENT',
    });
  });

  await t.test('no events were lost', () => {
    assert.deepEqual(events.errors, []);
  });
});
