/**
 * Kernel discovery controllers (stafd's default host) in the kernel lab: what the passthrough ioctl writes, DIM
 * over a kernel DC, and AENs that keep coming.
 *
 * (a) The write direction of the native passthrough, against nvmet. nvmet (6.1) is not a CDC and accepts no admin
 *     command that carries host-to-controller data: Set Features, the only candidate a discovery controller takes,
 *     checks that the command transfers nothing (nvmet_check_transfer_len(req, 0)). So the proof is a difference:
 *     Set Features (KATO) without data succeeds; the same command with a 512-byte host-to-controller buffer from
 *     adminPassthru({ data }) is answered "Data SGL Length Invalid" with DNR: nvmet saw a transfer of that length
 *     in the command the kernel built from our buffer. DIM itself (opcode 0x21) reaches nvmet and is refused as an
 *     invalid opcode (not an ioctl error).
 * (b) DIM over a kernel DC, end to end: the discovery test double (a userspace NVMe/TCP target, here a CDC) reached
 *     through the kernel's NVMe/TCP host. stafd (defaults: kernel discovery controller) registers; the double
 *     records the DIM payload the kernel carried (host NQN, host ID, symname); stafctl shows the kernel device and
 *     dctype cdc; with persistent-connections=false SIGTERM deregisters and deletes the controller.
 * (c) AENs keep flowing: nvmet sends the next Discovery Log Change AEN only after a log read with RAE cleared. With
 *     a log larger than one passthrough transfer (300 entries: 300 KiB, two 256 KiB chunks), three successive
 *     changes each bring the NVME_AEN uevent, a re-read and log_pages_changed.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelFabrics } from '../../src/adapters/kernel/fabrics.js';
import { kernelDim, PassthroughStatusError } from '../../src/adapters/kernel/passthrough.js';
import { UeventMonitor } from '../../src/adapters/kernel/uevents.js';
import { adminPassthru } from '../../src/adapters/native.js';
import { DimTask, Opcode } from '../../src/core/nvme/commands.js';
import { DIM_HEADER_LENGTH } from '../../src/core/nvme/dim.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import type { NvmeEvent } from '../../src/core/uevent.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { controllers, ctrlAttr, freshLab, labSkipReason, parseAddress } from './support/host.js';
import { controllerLine, stafdConf, startStafd } from './support/stafd-run.js';

const skip = labSkipReason();
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:kdim-${i}`;
/** Set Features, Feature Identifier Keep Alive Timer (0x0F). */
const FEAT_KATO = 0x0f;
/** NVMe generic status "Data SGL Length Invalid" and the Do Not Retry bit, as the ioctl returns them. */
const SC_DATA_SGL_LENGTH_INVALID = 0x0f;
const SC_INVALID_OPCODE = 0x01;
const DNR = 0x4000;

test('(a) the passthrough carries host-to-controller data to nvmet: Set Features with a data buffer is refused for its transfer length, without one it succeeds', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  nvmet.addSubsystem({ nqn: NQN(0), namespaces: [], ports: [disc] }); // nvmet listens once a subsystem is linked
  const dc = await new KernelFabrics().connect({
    transport: 'tcp',
    traddr: '127.0.0.1',
    trsvcid: '8009',
    nqn: WELL_KNOWN_DISC_NQN,
    hostNqn: host.hostnqn,
    hostId: host.hostid,
    discovery: true,
    kato: 30,
  });
  const path = `/dev/${dc.device}`;
  const kato = { opcode: Opcode.SetFeatures, cdw10: FEAT_KATO, cdw11: 30_000, timeoutMs: 5000 };

  const plain = await adminPassthru(path, kato);
  assert.equal(plain.status, 0, 'Set Features KATO without data: success');

  const data = Buffer.alloc(512, 0xa5);
  const withData = await adminPassthru(path, { ...kato, data });
  assert.equal(
    withData.status & 0xff,
    SC_DATA_SGL_LENGTH_INVALID,
    `the same command with 512 bytes host-to-controller: nvmet saw the transfer (status 0x${withData.status.toString(16)})`,
  );
  assert.equal(withData.status & DNR, DNR);
  assert.equal(withData.data.length, 512, 'the addon handed over our bytes');

  // DIM through a kernel DC reaches nvmet, which is no CDC: an NVMe status, not an ioctl error.
  const dim = Buffer.alloc(DIM_HEADER_LENGTH);
  await assert.rejects(kernelDim(dc.device, DimTask.Register, dim), (e: unknown) => {
    assert.ok(e instanceof PassthroughStatusError, String(e));
    assert.equal(e.status & 0xff, SC_INVALID_OPCODE);
    return true;
  });
  assert.equal(ctrlAttr(dc.device, 'state'), 'live', 'the controller is unharmed');
});

test('(b) DIM over a kernel discovery controller: stafd registers with a CDC (the discovery double through the kernel host), deregisters before deleting it', {
  skip,
}, async (t) => {
  const { host } = await freshLab(t);
  const cdc = new DiscoveryTarget({ dctype: 'cdc', entries: [ioEntry(1)] });
  await cdc.start();
  t.after(() => cdc.stop());
  const run = await startStafd(t, {
    host,
    symname: 'lab-kernel-dim',
    // The default host (kernel), said explicitly: this test is about the kernel path.
    conf: stafdConf({
      dcHost: 'kernel',
      dccm: ['persistent-connections = false'],
      controllers: [controllerLine(cdc.port)],
    }),
  });
  await run.until('DIM registration received by the CDC through the kernel host', () =>
    cdc.dimRecords.some((r) => r.task === DimTask.Register),
  );
  const reg = cdc.dimRecords.find((r) => r.task === DimTask.Register)!;
  assert.equal(reg.hostNqn, host.hostnqn, 'the connection is the host, as the kernel connected it');
  assert.equal(reg.dim.entries[0]?.nqn, host.hostnqn, 'the payload went host-to-controller intact');
  assert.equal(reg.dim.entries[0]?.symname, 'lab-kernel-dim');

  const info = await run.info(run.tid(cdc.port));
  const device = info['device']!;
  assert.match(device, /^nvme\d+$/, 'a kernel discovery controller');
  assert.equal(ctrlAttr(device, 'cntrltype'), 'discovery');
  assert.equal(ctrlAttr(device, 'dctype'), 'cdc');
  const [detailed] = (await run.staf.listControllers(true)).filter((c) => c['device'] === device);
  assert.equal(detailed?.['dctype'], 'cdc', 'stafctl ls --detailed: dctype as sysfs says');

  await run.stop();
  assert.ok(
    cdc.dimRecords.some((r) => r.task === DimTask.Deregister),
    'deregistered before the controller stafd made was deleted',
  );
  assert.ok(!controllers().includes(device), `${device} deleted (persistent-connections=false)`);
});

test('(c) a kernel DC whose log spans several passthrough chunks: three successive changes each bring the AEN uevent, a re-read and log_pages_changed', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  // 300 entries: 300 KiB of log, more than one 256 KiB transfer (nvmet reports MDTS 0: no limit).
  const COUNT = 300;
  for (let i = 1; i <= COUNT; i++) nvmet.addSubsystem({ nqn: NQN(i), namespaces: [], ports: [disc] });
  const monitor = new UeventMonitor();
  const aens: NvmeEvent[] = [];
  monitor.on('nvme', (e) => {
    if (e.kind === 'aen') aens.push(e);
  });
  monitor.start();
  t.after(() => monitor.stop());

  const run = await startStafd(t, {
    host,
    conf: stafdConf({ dcHost: 'kernel', controllers: [controllerLine(8009)] }),
  });
  const count = async () =>
    ((await run.allLogPages())[0]?.['log-pages'] ?? []).filter((e) => e['subtype'] === 'nvme').length;
  await run.until(`${COUNT} entries read`, async () => (await count()) === COUNT, 60_000);
  const device = (await run.info(run.tid(8009)))['device']!;
  assert.match(device, /^nvme\d+$/);
  assert.equal(ctrlAttr(device, 'cntrltype'), 'discovery');
  const a = parseAddress(ctrlAttr(device, 'address'));
  assert.equal(a['trsvcid'], '8009');

  for (let change = 1; change <= 3; change++) {
    const aensBefore = aens.filter((e) => e.device === device).length;
    const signalsBefore = run.changed.filter((c) => c.device === device).length;
    const nqn = NQN(COUNT + change);
    nvmet.addSubsystem({ nqn, namespaces: [], ports: [disc] });
    await run.until(
      `change ${change}: AEN uevent on ${device}`,
      () => aens.filter((e) => e.device === device).length > aensBefore,
    );
    await run.until(
      `change ${change}: log re-read with ${nqn}`,
      async () => ((await run.allLogPages())[0]?.['log-pages'] ?? []).some((e) => e['subnqn'] === nqn),
      60_000,
    );
    await run.until(
      `change ${change}: log_pages_changed naming ${device}`,
      () => run.changed.filter((c) => c.device === device).length > signalsBefore,
    );
  }
  assert.equal(await count(), COUNT + 3);
});
