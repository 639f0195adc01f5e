/**
 * Kernel-hosted discovery controllers without a kernel: the host choice and adoption rules (pure), the kernel DC
 * session against a fake kernel (adopt or connect, ownership, uevents, loss, delete only what stafd made), the
 * runner on top of it (DIM over the passthrough, persistent-connections), and the last-known config record of the
 * device.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NoFabricsError } from '../../src/adapters/kernel/fabrics.js';
import {
  explainKernelDcError,
  KernelDcHost,
  type KernelDcPorts,
} from '../../src/adapters/kernel/kernel-dc-session.js';
import { loadLkc, saveLkc } from '../../src/adapters/lkc-file.js';
import type { ControllerEntry } from '../../src/core/config/controller-line.js';
import { parseStafdConfig } from '../../src/core/config/service-config.js';
import { buildConnectOptions, type ConnectRequest } from '../../src/core/connect-options.js';
import type { KernelController } from '../../src/core/kernel-controller.js';
import type { InterfaceMap } from '../../src/core/match.js';
import { formatDhchapSecret } from '../../src/core/nvme/auth-crypto.js';
import { DimTask, LogPage } from '../../src/core/nvme/commands.js';
import { type DecodedDim, decodeDim } from '../../src/core/nvme/dim.js';
import { encodeDiscoveryLog } from '../../src/core/nvme/discovery-log.js';
import type { LogPageRead } from '../../src/core/nvme/discovery-log-read.js';
import { DcType, encodeIdentifyController, parseIdentifyController } from '../../src/core/nvme/identify.js';
import { dcHostFor, findKernelDc } from '../../src/core/stafd/kernel-dc.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import type { NvmeEvent } from '../../src/core/uevent.js';
import { DiscoveryControllerRunner } from '../../src/daemons/stafd/discovery-controller.js';
import { ioEntry } from '../support/discovery-target.js';

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const ifaces: InterfaceMap = new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: ['::1'] }]]);

function kc(over: Partial<KernelController>): KernelController {
  return {
    device: 'nvme0',
    transport: 'rdma',
    traddr: '10.0.0.1',
    trsvcid: '4420',
    subsysnqn: WELL_KNOWN_DISC_NQN,
    hostNqn: HOST,
    hostId: HOSTID,
    hostTraddr: '',
    hostIface: '',
    srcAddr: '',
    cntrltype: 'discovery',
    dctype: 'none',
    state: 'live',
    hasNamespaces: false,
    ...over,
  };
}

const rdmaTid = Tid.from(
  { transport: 'rdma', traddr: '10.0.0.1', trsvcid: '4420', subsysnqn: WELL_KNOWN_DISC_NQN },
  { defaultHostNqn: HOST },
);

test('host choice: tcp is userspace only with kernel-discovery=false; rdma, fc and loop always use the kernel', () => {
  assert.equal(dcHostFor('tcp', false), 'userspace');
  assert.equal(dcHostFor('tcp', true), 'kernel');
  for (const t of ['rdma', 'fc', 'loop']) {
    assert.equal(dcHostFor(t, false), 'kernel', t);
    assert.equal(dcHostFor(t, true), 'kernel', t);
  }
});

test('kernel-discovery option: absent means true (kernel DCs, as nvme-stas), true/false parsed, bad value warned', () => {
  const DCCM = '[Discovery controller connection management]';
  assert.equal(parseStafdConfig('').config.kernelDiscovery, true);
  assert.equal(dcHostFor('tcp', parseStafdConfig('').config.kernelDiscovery), 'kernel');
  assert.equal(parseStafdConfig(`${DCCM}\nkernel-discovery = true\n`).config.kernelDiscovery, true);
  assert.equal(parseStafdConfig(`${DCCM}\nkernel-discovery=false\n`).config.kernelDiscovery, false);
  const bad = parseStafdConfig(`${DCCM}\nkernel-discovery=maybe\n`, 'f.conf');
  assert.equal(bad.config.kernelDiscovery, true, 'a bad value: the default');
  assert.equal(bad.diagnostics.length, 1);
  assert.match(bad.diagnostics[0]!.message, /kernel-discovery/);
});

test('findKernelDc: same DC only, discovery controllers only, not one on its way out; prefers the device stafd made', () => {
  const t = rdmaTid;
  assert.equal(findKernelDc(t, [], ifaces), undefined);
  assert.equal(findKernelDc(t, [kc({})], ifaces)?.device, 'nvme0');
  // another address, port, host NQN or transport: not this DC
  assert.equal(findKernelDc(t, [kc({ traddr: '10.0.0.9' })], ifaces), undefined);
  assert.equal(findKernelDc(t, [kc({ trsvcid: '4421' })], ifaces), undefined);
  assert.equal(findKernelDc(t, [kc({ hostNqn: 'nqn.other' })], ifaces), undefined);
  assert.equal(findKernelDc(t, [kc({ transport: 'tcp' })], ifaces), undefined);
  // an I/O controller to the same address is not a DC
  assert.equal(
    findKernelDc(t, [kc({ cntrltype: 'io', subsysnqn: 'nqn.io', hasNamespaces: true })], ifaces),
    undefined,
  );
  // a DC with a unique NQN serves a DC configured with the well-known NQN (TP8013)
  assert.equal(findKernelDc(t, [kc({ subsysnqn: 'nqn.unique-dc' })], ifaces)?.device, 'nvme0');
  for (const state of ['deleting', 'deleting (no IO)', 'dead'])
    assert.equal(findKernelDc(t, [kc({ state })], ifaces), undefined, state);
  // connecting (the kernel is reconnecting it) is still this DC's controller
  assert.equal(findKernelDc(t, [kc({ state: 'connecting' })], ifaces)?.device, 'nvme0');
  const two = [kc({ device: 'nvme1' }), kc({ device: 'nvme4' })];
  assert.equal(findKernelDc(t, two, ifaces)?.device, 'nvme1');
  assert.equal(findKernelDc(t, two, ifaces, 'nvme4')?.device, 'nvme4');
  assert.equal(findKernelDc(t, two, ifaces, 'nvme9')?.device, 'nvme1');
  // loop: a controller connected without traddr (sysfs shows none) serves the loop DC of that subsystem
  const loop = Tid.from(
    { transport: 'loop', traddr: 'loop0', subsysnqn: WELL_KNOWN_DISC_NQN },
    { defaultHostNqn: HOST },
  );
  assert.equal(
    findKernelDc(loop, [kc({ transport: 'loop', traddr: '', trsvcid: '' })], ifaces)?.device,
    'nvme0',
  );
  assert.equal(
    findKernelDc(loop, [kc({ transport: 'loop', traddr: 'loop1', trsvcid: '' })], ifaces),
    undefined,
  );
});

/** A kernel in memory: controllers, registry, log pages per device, uevents on demand. */
class FakeKernel implements KernelDcPorts {
  controllers: KernelController[] = [];
  owners_ = new Map<string, string>();
  connects: ConnectRequest[] = [];
  disconnects: string[] = [];
  logs = new Map<string, Buffer>();
  identifyFails = false;
  watchError: Error | undefined;
  watching = 0;
  handlers: Parameters<KernelDcPorts['watch']>[0] | undefined;
  next = 3;
  dctype: number = DcType.ddc;
  /** DIM commands as the controller received them (the payload decoded), per device. */
  dims: { device: string; task: number; dim: DecodedDim }[] = [];
  dimFails = false;

  async scan() {
    return [...this.controllers];
  }
  async controller(device: string) {
    return this.controllers.find((c) => c.device === device);
  }
  async connect(req: ConnectRequest) {
    this.connects.push(req);
    const device = `nvme${this.next++}`;
    this.controllers.push(
      kc({
        device,
        transport: req.transport,
        traddr: req.traddr,
        trsvcid: req.trsvcid ?? '',
        subsysnqn: req.nqn,
      }),
    );
    return { device, instance: Number(device.slice(4)), cntlid: 1 };
  }
  async disconnect(device: string) {
    this.disconnects.push(device);
    this.remove(device);
  }
  remove(device: string) {
    this.controllers = this.controllers.filter((c) => c.device !== device);
  }
  async owners() {
    return new Map(this.owners_);
  }
  async claim(device: string) {
    this.owners_.set(device, 'stas');
  }
  async release(device: string) {
    if (this.owners_.get(device) === 'stas') this.owners_.delete(device);
  }
  async identify(device: string) {
    if (this.identifyFails) throw new Error('ENODEV');
    return parseIdentifyController(
      encodeIdentifyController({ model: `model-${device}`, dctype: this.dctype }),
    );
  }
  async getLogPage(device: string, lid: number, read: LogPageRead) {
    if (!this.controllers.some((c) => c.device === device)) throw new Error('ENODEV');
    if (lid === LogPage.SupportedLogPages) {
      const b = Buffer.alloc(read.length);
      b.writeUInt32LE((0x2 << 16) | 1, LogPage.Discovery * 4);
      return b;
    }
    const log = this.logs.get(device) ?? encodeDiscoveryLog({ genctr: 1n, numrec: 0n, recfmt: 0 }, []);
    const out = Buffer.alloc(read.length);
    log.copy(out, 0, read.offset, Math.min(log.length, read.offset + read.length));
    return out;
  }
  async dim(device: string, task: number, payload: Uint8Array) {
    if (this.dimFails) throw new Error('Discovery Information Management failed: Invalid Field in Command');
    this.dims.push({ device, task, dim: decodeDim(payload) });
  }
  watch(h: Parameters<KernelDcPorts['watch']>[0]) {
    if (this.watchError) throw this.watchError;
    this.watching++;
    this.handlers = h;
    return () => {
      this.watching--;
      this.handlers = undefined;
    };
  }
  ifaces() {
    return ifaces;
  }
  event(e: NvmeEvent) {
    this.handlers?.event(e);
  }
  setLog(device: string, subsystems: number[]) {
    this.logs.set(
      device,
      encodeDiscoveryLog(
        { genctr: BigInt(subsystems.length), numrec: BigInt(subsystems.length), recfmt: 0 },
        subsystems.map((i) => ioEntry(i, { trtype: 1, traddr: '10.0.0.1' })),
      ),
    );
  }
}

const connectOpts = (over: Record<string, unknown> = {}) => ({
  transport: 'rdma',
  traddr: '10.0.0.1',
  trsvcid: '4420',
  subsysnqn: WELL_KNOWN_DISC_NQN,
  hostNqn: HOST,
  hostId: HOSTID,
  katoMs: 30_000,
  ...over,
});

test('kernel DC session: connects a discovery controller when the kernel has none, claims it, deletes it on close', async () => {
  const k = new FakeKernel();
  const host = new KernelDcHost(k);
  const s = await host.connect(connectOpts({ ctrlLossTmo: 60, reconnectDelay: 5 }));
  assert.equal(s.device, 'nvme3');
  assert.equal(s.created, true);
  assert.equal(s.identify.model, 'model-nvme3');
  assert.equal(k.connects.length, 1);
  const req = k.connects[0]!;
  assert.equal(req.discovery, true);
  assert.equal(req.kato, 30);
  assert.equal(req.ctrlLossTmo, 60);
  assert.equal(req.reconnectDelay, 5);
  assert.deepEqual(
    [req.transport, req.traddr, req.trsvcid, req.nqn],
    ['rdma', '10.0.0.1', '4420', WELL_KNOWN_DISC_NQN],
  );
  assert.equal(k.owners_.get('nvme3'), 'stas');
  assert.equal(k.watching, 1, 'uevents watched while a session exists');
  // DIM goes through the passthrough (host-to-controller) and is withdrawn before the controller is deleted
  const reg = {
    hostNqn: HOST,
    hostId: Buffer.from(HOSTID.replace(/-/g, ''), 'hex'),
    symname: 'sym',
    ename: 'host',
    ever: 'Linux',
    trtype: 1,
    adrfam: 1,
  };
  await s.dim(DimTask.Register, reg);
  assert.deepEqual(
    k.dims.map((d) => [d.device, d.task, d.dim.entries[0]?.nqn]),
    [['nvme3', DimTask.Register, HOST]],
  );
  const closed = once(s, 'close');
  await s.close();
  assert.deepEqual(await closed, [undefined]);
  assert.deepEqual(
    k.dims.map((d) => d.task),
    [DimTask.Register, DimTask.Deregister],
    'deregistered before the delete',
  );
  assert.deepEqual(k.disconnects, ['nvme3']);
  assert.equal(k.owners_.has('nvme3'), false, 'registry entry released');
  assert.equal(k.watching, 0, 'watch stopped with the last session');
  assert.equal(s.isClosed, true);
});

test('kernel DC session: release leaves the controller and the claim in place; a restart adopts it as its own', async () => {
  const k = new FakeKernel();
  const s1 = await new KernelDcHost(k).connect(connectOpts());
  await s1.release();
  assert.deepEqual(k.disconnects, []);
  assert.equal(k.owners_.get('nvme3'), 'stas');
  // a new stafd (new host) that recorded nvme3 as its own adopts it: no second controller
  const s2 = await new KernelDcHost(k).connect(connectOpts({ ownedDevice: 'nvme3' }));
  assert.equal(k.connects.length, 1);
  assert.equal(s2.device, 'nvme3');
  assert.equal(s2.created, true);
  await s2.close();
  assert.deepEqual(k.disconnects, ['nvme3']);
});

test('kernel DC session: a controller someone else made is adopted but never deleted', async () => {
  for (const [owner, recorded] of [
    ['nbft', 'nvme0'],
    [undefined, 'nvme0'],
    ['stas', undefined], // a stale or foreign 'stas' entry stafd has no record of
  ] as const) {
    const k = new FakeKernel();
    k.controllers.push(kc({ device: 'nvme0' }));
    if (owner) k.owners_.set('nvme0', owner);
    const s = await new KernelDcHost(k).connect(connectOpts({ ownedDevice: recorded }));
    assert.equal(s.device, 'nvme0');
    assert.equal(s.created, false, `owner ${owner}, recorded ${recorded}`);
    assert.equal(k.connects.length, 0);
    await s.close();
    assert.deepEqual(k.disconnects, [], `owner ${owner}, recorded ${recorded}`);
    assert.equal(k.owners_.get('nvme0'), owner);
  }
});

test('kernel DC session: uevents become aen / reconnected / close; other devices are ignored', async () => {
  const k = new FakeKernel();
  const host = new KernelDcHost(k);
  const s = await host.connect(connectOpts());
  const aens: unknown[] = [];
  let reconnected = 0;
  s.on('aen', (e) => aens.push(e));
  s.on('reconnected', () => reconnected++);
  k.event({ kind: 'aen', device: 'nvme3', aen: 0x70f002 });
  k.event({ kind: 'aen', device: 'nvme9', aen: 0x70f002 });
  k.event({ kind: 'event', device: 'nvme3', event: 'connected' });
  k.event({ kind: 'event', device: 'nvme3', event: 'rediscover' });
  k.event({ kind: 'event', device: 'nvme3', event: 'something-else' });
  assert.deepEqual(aens, [{ type: 2, info: 0xf0, logPage: 0x70 }]);
  assert.equal(reconnected, 2);
  const closed = once(s, 'close');
  k.remove('nvme3');
  k.event({ kind: 'remove', device: 'nvme3' });
  const [err] = await closed;
  assert.match((err as Error).message, /nvme3 removed/);
  assert.equal(s.isClosed, true);
  assert.equal(k.owners_.has('nvme3'), false, 'stale claim released');
  assert.deepEqual(host.devices, []);
  k.event({ kind: 'aen', device: 'nvme3', aen: 0x70f002 });
  assert.equal(aens.length, 1, 'nothing after close');
});

test('kernel DC session: after a uevent overflow, a session whose controller is gone ends', async () => {
  const k = new FakeKernel();
  const host = new KernelDcHost(k);
  const a = await host.connect(connectOpts());
  const b = await host.connect(connectOpts({ traddr: '10.0.0.2' }));
  assert.deepEqual(host.devices.sort(), ['nvme3', 'nvme4']);
  k.remove('nvme3');
  const closed = once(a, 'close');
  k.handlers!.overflow();
  await closed;
  assert.equal(a.isClosed, true);
  assert.equal(b.isClosed, false);
  await b.close();
});

test('kernel DC session: log pages through passthrough; a failing read on a vanished controller ends the session', async () => {
  const k = new FakeKernel();
  const s = await new KernelDcHost(k).connect(connectOpts());
  k.setLog('nvme3', [1, 2, 3]);
  const log = await s.readDiscoveryLog();
  assert.deepEqual(
    log.entries.map((e) => e.subnqn),
    [1, 2, 3].map((i) => `nqn.2024-01.io.stas-test:subsys${i}`),
  );
  assert.equal(await s.discoveryLogOptions(), 0x2, 'PLEOS from Supported Log Pages');
  k.remove('nvme3');
  const closed = once(s, 'close');
  await assert.rejects(s.readDiscoveryLog(), /ENODEV/);
  assert.match(((await closed)[0] as Error).message, /gone/);
});

test('kernel DC session: no uevents, no session; a failed Identify deletes only a controller this attempt made', async () => {
  const k = new FakeKernel();
  k.watchError = new Error('EPERM');
  await assert.rejects(new KernelDcHost(k).connect(connectOpts()), /kernel uevents unavailable: EPERM/);
  assert.equal(k.connects.length, 0);

  const k2 = new FakeKernel();
  k2.identifyFails = true;
  await assert.rejects(new KernelDcHost(k2).connect(connectOpts()), /Identify through nvme3 failed/);
  assert.deepEqual(k2.disconnects, ['nvme3']);
  assert.equal(k2.watching, 0);

  const k3 = new FakeKernel();
  k3.identifyFails = true;
  k3.controllers.push(kc({ device: 'nvme0' }));
  k3.owners_.set('nvme0', 'stas');
  await assert.rejects(new KernelDcHost(k3).connect(connectOpts({ ownedDevice: 'nvme0' })), /Identify/);
  assert.deepEqual(k3.disconnects, [], 'an adopted controller is left alone');
});

function runner(k: FakeKernel, logs: string[]) {
  const host = new KernelDcHost(k);
  return new DiscoveryControllerRunner(rdmaTid, 'configured', undefined, {
    connect: (o) => host.connect(o),
    identity: { hostNqn: HOST, hostId: HOSTID, symname: '' },
    kato: 30,
    hdrDigest: false,
    dataDigest: false,
    kernel: { ctrlLossTmo: 600 },
    pleo: false,
    timing: { fastRetryMs: 20, slowRetryMs: 50, dimRetryMs: 20, logRetryMs: 20 },
    log: (level, m) => logs.push(`${level}: ${m}`),
  });
}

test('runner on a kernel DC: registers with a CDC (DIM), reads the log, re-reads on the AEN uevent, stop keeps or deletes', async (t) => {
  // The runner's timers are unref'd and the fake kernel has no handles: keep the event loop alive meanwhile.
  const alive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(alive));
  const k = new FakeKernel();
  k.dctype = DcType.cdc;
  const logs: string[] = [];
  const r = runner(k, logs);
  k.setLog('nvme3', [1]);
  const first = once(r, 'logPages');
  r.start();
  // the log is read right after connect; nvme3 is what the fake hands out first
  await first;
  assert.equal(r.device, 'nvme3');
  assert.equal(r.ownedDevice, 'nvme3');
  assert.equal(r.dctype, 'cdc');
  assert.equal(r.registered, true, 'DIM over the kernel DC');
  assert.deepEqual(
    [k.dims[0]?.dim.entries[0]?.trtype, k.dims[0]?.dim.entries[0]?.adrfam],
    [1, 1],
    'the registration names the connection to the CDC: rdma, IPv4',
  );
  assert.deepEqual(
    k.dims.map((d) => [d.device, d.task, d.dim.entries[0]?.nqn]),
    [['nvme3', DimTask.Register, HOST]],
  );
  assert.equal(k.connects[0]!.ctrlLossTmo, 600);
  assert.equal(logs.filter((l) => l.includes('Not registering with the CDC')).length, 0);
  k.setLog('nvme3', [1, 2]);
  const second = once(r, 'logPages');
  k.event({ kind: 'aen', device: 'nvme3', aen: 0x70f002 });
  assert.equal((await second)[0].length, 2);
  // the kernel lost it: the runner reconnects (a new controller) and registers through it
  k.remove('nvme3');
  const third = once(r, 'logPages');
  k.setLog('nvme4', [7]);
  k.event({ kind: 'remove', device: 'nvme3' });
  await third;
  assert.equal(r.device, 'nvme4');
  assert.deepEqual(
    k.dims.map((d) => [d.device, d.task]),
    [
      ['nvme3', DimTask.Register],
      ['nvme4', DimTask.Register],
    ],
  );
  // persistent-connections: stop keeps the controller, the record of owning it and the registration
  await r.stop({ keep: true });
  assert.deepEqual(k.disconnects, []);
  assert.equal(k.dims.length, 2, 'a kept controller stays registered');
  assert.equal(r.ownedDevice, 'nvme4');
  assert.equal(r.device, undefined);

  // a restarted runner with that record adopts nvme4 and, stopped without keep, deletes it
  const r2 = runner(k, logs);
  r2.ownedDevice = 'nvme4';
  const adopted = once(r2, 'logPages');
  r2.start();
  await adopted;
  assert.equal(r2.device, 'nvme4');
  assert.equal(k.connects.length, 2, 'no new connect');
  await r2.stop();
  assert.deepEqual(k.disconnects, ['nvme4']);
  assert.deepEqual(
    k.dims.slice(2).map((d) => [d.device, d.task]),
    [
      ['nvme4', DimTask.Register],
      ['nvme4', DimTask.Deregister],
    ],
    'registered again after adoption, deregistered before the delete',
  );
  assert.equal(r2.ownedDevice, undefined);
});

test('last-known config keeps the kernel device stafd owns (and drops a malformed one)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stas-lkc-'));
  try {
    const path = join(dir, 'lkc.json');
    const tid = {
      transport: 'rdma',
      traddr: '10.0.0.1',
      trsvcid: '4420',
      subsysnqn: WELL_KNOWN_DISC_NQN,
      hostTraddr: '',
      hostIface: '',
      hostNqn: HOST,
    };
    saveLkc(path, [
      { tid, origin: 'configured', logPages: [], kernelDevice: 'nvme7' },
      { tid: { ...tid, traddr: '10.0.0.2' }, origin: 'configured', logPages: [] },
      { tid: { ...tid, traddr: '10.0.0.3' }, origin: 'configured', logPages: [], kernelDevice: '../etc' },
    ]);
    const { dcs } = loadLkc(path);
    assert.deepEqual(
      dcs.map((d) => d.kernelDevice),
      ['nvme7', undefined, undefined],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("kernel DC connect: the option string carries the controller= line's dhchap_secret and dhchap_ctrl_secret, else the host key", async (t) => {
  const alive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(alive));
  const KEY = formatDhchapSecret(Buffer.alloc(32, 1), 1);
  const CTRL_KEY = formatDhchapSecret(Buffer.alloc(48, 2), 2);
  const HOST_KEY = formatDhchapSecret(Buffer.alloc(64, 3), 3);
  const entry = (secrets: Partial<ControllerEntry>): ControllerEntry => ({
    line: 1,
    transport: 'rdma',
    traddr: '10.0.0.1',
    trsvcid: '4420',
    overrides: {},
    ...secrets,
  });
  /** The options stafd writes to /dev/nvme-fabrics for this DC (through the kernel DC host, as in stafd). */
  async function written(e: ControllerEntry | undefined, hostKey?: string): Promise<string> {
    const k = new FakeKernel();
    const host = new KernelDcHost(k);
    const r = new DiscoveryControllerRunner(rdmaTid, 'configured', e, {
      connect: (o) => host.connect(o),
      identity: { hostNqn: HOST, hostId: HOSTID, symname: '', ...(hostKey ? { hostKey } : {}) },
      kato: 30,
      hdrDigest: false,
      dataDigest: false,
      pleo: false,
      timing: { fastRetryMs: 20, slowRetryMs: 50, dimRetryMs: 20, logRetryMs: 20 },
      log: () => {},
    });
    const read = once(r, 'logPages');
    r.start();
    await read;
    await r.stop();
    assert.equal(k.connects.length, 1);
    return buildConnectOptions(k.connects[0]!);
  }
  const secrets = (options: string) => options.split(',').filter((o) => o.startsWith('dhchap_'));

  // Bidirectional: both secrets of the controller= line, as the kernel's options (discovery DC, rdma).
  const both = await written(entry({ dhchapSecret: KEY, dhchapCtrlSecret: CTRL_KEY }), HOST_KEY);
  assert.match(both, /^nqn=nqn\.2014-08\.org\.nvmexpress\.discovery,transport=rdma,traddr=10\.0\.0\.1,/);
  assert.deepEqual(secrets(both), [`dhchap_secret=${KEY}`, `dhchap_ctrl_secret=${CTRL_KEY}`]);
  // The line's secret wins over the host key; without one, the host key (sys.conf key) is the host's secret.
  assert.deepEqual(secrets(await written(entry({ dhchapSecret: KEY }), HOST_KEY)), [`dhchap_secret=${KEY}`]);
  assert.deepEqual(secrets(await written(entry({}), HOST_KEY)), [`dhchap_secret=${HOST_KEY}`]);
  assert.deepEqual(secrets(await written(undefined, HOST_KEY)), [`dhchap_secret=${HOST_KEY}`]);
  // No secret anywhere: none passed (the kernel then authenticates only if asked, and fails).
  assert.deepEqual(secrets(await written(undefined)), []);
});

test('a kernel without NVMe over Fabrics: a tcp DC is told about kernel-discovery = false, other transports and errors as they are', () => {
  const none = new NoFabricsError('/dev/nvme-fabrics', 'modprobe: FATAL: Module nvme-fabrics not found');
  const tcp = explainKernelDcError(none, 'tcp') as Error;
  assert.equal(
    tcp.message,
    "/dev/nvme-fabrics does not exist: this kernel has no NVMe over Fabrics host loaded (loading nvme-fabrics failed: modprobe: FATAL: Module nvme-fabrics not found); for stafd's userspace NVMe/TCP host instead, set kernel-discovery = false in [Discovery controller connection management]",
  );
  assert.equal(tcp.cause, none);
  assert.equal(explainKernelDcError(none, 'rdma'), none, 'rdma has no userspace host');
  const other = new Error('EIO');
  assert.equal(explainKernelDcError(other, 'tcp'), other);
});
