/**
 * stafd with kernel-hosted discovery controllers, end to end in the kernel lab: the real stafd process reaches
 * nvmet's discovery port through the kernel's NVMe host (/dev/nvme-fabrics), reads the log through the admin
 * passthrough ioctl, follows the kernel's AEN uevents, and applies persistent-connections at SIGTERM: (a) connect,
 * log, AEN, and SIGTERM with persistent-connections=false deletes the controller; (b) with true it stays, a
 * restarted stafd adopts it (no second controller), and a DC removed from the configuration is deleted; (c) a
 * kernel DC someone else made is adopted and never deleted; (d) an rdma DC (soft-RoCE), which stafd always reaches
 * through the kernel: log, AEN, kept at SIGTERM by default, adopted after a restart, deleted at SIGTERM once
 * persistent-connections is turned off.
 *
 * Transports: kernel discovery controllers are stafd's default for every transport. (a)-(c) use tcp (with
 * kernel-discovery=true written out, as an administrator may; stafd.test.ts runs tcp on the default); (d) uses rdma
 * over rdma_rxe, which has no userspace alternative. The lab's rebuilt modules also provide nvme-loop and fcloop
 * (lab/README.md); the kernel path is the same for them (connect, passthrough, uevents) and is exercised by tcp and
 * rdma here. DIM and AENs over a multi-chunk log on kernel DCs: stafd-kernel-dim-aen.test.ts.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { REGISTRY_DIR } from '../../src/adapters/kernel/registry.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import {
  connectOptions,
  controllers,
  ctrlAttr,
  fabricsConnect,
  freshLab,
  type HostIdentity,
  labSkipReason,
  parseAddress,
  waitFor,
} from './support/host.js';
import type { Nvmet, Port } from './support/nvmet.js';
import { RDMA_TRADDR, setupSoftRoce } from './support/soft-roce.js';
import { controllerLine, StafdRun, stafdConf, startStafd } from './support/stafd-run.js';

const skip = labSkipReason();
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:kdc-${i}`;

function addSubsystems(nvmet: Nvmet, port: Port, ids: number[]): void {
  for (const i of ids) nvmet.addSubsystem({ nqn: NQN(i), namespaces: [], ports: [port] });
}

/** stafd.conf with the 8009 DC through the kernel. */
function kernelConf(persistent: boolean, withController = true): string {
  return stafdConf({
    dccm: ['kernel-discovery = true', `persistent-connections = ${persistent}`],
    controllers: withController ? [controllerLine(8009)] : [],
  });
}

/** The kernel's discovery controllers to 127.0.0.1:8009 (what stafd made or adopted). */
function kernelDcs(): string[] {
  return controllers().filter((c) => {
    try {
      const a = parseAddress(ctrlAttr(c, 'address'));
      return (
        ctrlAttr(c, 'cntrltype') === 'discovery' && a['traddr'] === '127.0.0.1' && a['trsvcid'] === '8009'
      );
    } catch {
      return false; // vanished meanwhile
    }
  });
}

function registryOwner(device: string): string | undefined {
  try {
    return fs.readFileSync(`${REGISTRY_DIR}/${device}/owner`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The single DC's record of get_all_log_pages once it lists `want` NVM subsystems. */
async function dcWithLog(run: StafdRun, want: string[]) {
  let last: Awaited<ReturnType<StafdRun['allLogPages']>> = [];
  await run.until(`log pages listing ${want.join(', ')}`, async () => {
    last = await run.allLogPages();
    const got = (last[0]?.['log-pages'] ?? [])
      .filter((e) => e['subtype'] === 'nvme')
      .map((e) => e['subnqn'])
      .sort();
    return JSON.stringify(got) === JSON.stringify(want);
  });
  return last[0]!;
}

function assertKernelDc(device: string, host: HostIdentity): void {
  assert.match(device, /^nvme\d+$/);
  assert.equal(ctrlAttr(device, 'transport'), 'tcp');
  assert.equal(ctrlAttr(device, 'cntrltype'), 'discovery');
  assert.equal(ctrlAttr(device, 'subsysnqn'), WELL_KNOWN_DISC_NQN);
  assert.equal(ctrlAttr(device, 'hostnqn'), host.hostnqn);
  assert.equal(ctrlAttr(device, 'state'), 'live');
}

test('(a) kernel DC: connect through the kernel, log page, AEN uevent → log_pages_changed; SIGTERM with persistent-connections=false deletes it', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1, 2]);
  const run = await startStafd(t, { host, conf: kernelConf(false) });

  const dc = await dcWithLog(run, [NQN(1), NQN(2)]);
  const device = dc['discovery-controller']['device']!;
  assertKernelDc(device, host);
  assert.deepEqual(kernelDcs(), [device], 'exactly one kernel DC');
  assert.equal(
    ctrlAttr(device, 'kato'),
    '30',
    'kato from [Global] kato (default 30): the kernel keeps the DC alive',
  );
  assert.equal(registryOwner(device), 'stas', 'claimed in the ownership registry');
  assert.ok(
    run.changed.some((c) => c.device === device && c.tid[2] === '8009'),
    'log_pages_changed names the kernel device',
  );
  const info = await run.info(run.tid(8009));
  assert.equal(info['device'], device);
  assert.equal(info['state'], 'connected');

  // A subsystem joins the port: nvmet's AEN reaches the kernel host, which sends NVME_AEN=0x70f002 on the device.
  const before = run.changed.length;
  addSubsystems(nvmet, disc, [3]);
  await dcWithLog(run, [NQN(1), NQN(2), NQN(3)]);
  await run.until('log_pages_changed after the AEN', () => run.changed.length > before);
  assert.ok(run.output().includes('Received AEN: 0x70f002'), 'the re-read came from the AEN');
  // ... and again (the read cleared RAE, so nvmet sends the next notice): the AEN path keeps working.
  nvmet.unlink(NQN(1), disc);
  await dcWithLog(run, [NQN(2), NQN(3)]);
  assert.deepEqual(kernelDcs(), [device], 'still the same single controller');

  assert.equal(await run.stop('SIGTERM'), 0);
  assert.deepEqual(kernelDcs(), [], 'persistent-connections=false: stafd deleted the controller it made');
  assert.equal(registryOwner(device), undefined, 'registry entry released');
});

test('(b) kernel DC with persistent-connections=true: kept at SIGTERM, adopted by the next stafd, deleted when removed from the configuration', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1]);
  const run = await startStafd(t, { host, conf: kernelConf(true) });
  const device = (await dcWithLog(run, [NQN(1)]))['discovery-controller']['device']!;
  assertKernelDc(device, host);

  assert.equal(await run.stop('SIGTERM'), 0);
  assert.deepEqual(kernelDcs(), [device], 'persistent-connections=true: the controller stays');
  assert.equal(ctrlAttr(device, 'state'), 'live');
  assert.equal(registryOwner(device), 'stas');

  // While stafd is down the log changes; the restarted stafd adopts the controller and reads the new log.
  addSubsystems(nvmet, disc, [2]);
  await run.start();
  const again = await dcWithLog(run, [NQN(1), NQN(2)]);
  assert.equal(again['discovery-controller']['device'], device, 'the same controller');
  assert.deepEqual(kernelDcs(), [device], 'no second controller');
  assert.match(
    run.output(),
    new RegExp(`Adopting kernel discovery controller ${device} \\(created by stafd\\)`),
  );
  // The adopted controller's AENs reach the new stafd.
  addSubsystems(nvmet, disc, [3]);
  await dcWithLog(run, [NQN(1), NQN(2), NQN(3)]);

  // The DC leaves the configuration: stafd deletes the controller it made (persistent-connections or not).
  run.writeConf(kernelConf(true, false));
  run.hup();
  await waitFor('the kernel DC to be deleted', () => kernelDcs().length === 0, {
    timeoutMs: 20_000,
    intervalMs: 100,
  });
  await run.until('no DC left', async () => (await run.staf.listControllers(false)).length === 0);
  await run.until('dc_removed', () => run.dcRemoved > 0);
  assert.equal(registryOwner(device), undefined);
});

test('(c) a kernel DC someone else made is adopted (no duplicate) and never deleted', { skip }, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1, 2]);
  // What `nvme discover --persistent` does: a discovery controller with a keep-alive, owned by nobody stas knows.
  const theirs = fabricsConnect(
    connectOptions({
      nqn: WELL_KNOWN_DISC_NQN,
      transport: 'tcp',
      traddr: '127.0.0.1',
      trsvcid: 8009,
      hostnqn: host.hostnqn,
      hostid: host.hostid,
      keep_alive_tmo: 30,
    }),
  ).name;
  const run = await startStafd(t, { host, conf: kernelConf(false) });
  const dc = await dcWithLog(run, [NQN(1), NQN(2)]);
  assert.equal(dc['discovery-controller']['device'], theirs, 'adopted, not duplicated');
  assert.deepEqual(kernelDcs(), [theirs]);
  assert.match(run.output(), new RegExp(`Adopting kernel discovery controller ${theirs} \\(owner unknown`));
  assert.equal(registryOwner(theirs), undefined, 'stafd does not claim what it did not make');

  // Removed from the configuration: let go of, not deleted.
  run.writeConf(kernelConf(false, false));
  run.hup();
  await run.until('no DC left', async () => (await run.staf.listControllers(false)).length === 0);
  assert.deepEqual(kernelDcs(), [theirs]);

  // SIGTERM with persistent-connections=false: still not deleted.
  run.writeConf(kernelConf(false));
  run.hup();
  await dcWithLog(run, [NQN(1), NQN(2)]);
  assert.equal(await run.stop('SIGTERM'), 0);
  assert.deepEqual(kernelDcs(), [theirs], 'never deleted by stafd');
  assert.equal(ctrlAttr(theirs, 'state'), 'live');
});

test('(d) rdma DC (soft-RoCE): always through the kernel; log, AEN, kept and adopted across a restart, deleted at SIGTERM without persistent-connections', {
  skip,
}, async (t) => {
  assert.equal(setupSoftRoce(), undefined, 'soft-RoCE works in the lab guest');
  const { nvmet, host } = await freshLab(t);
  const port = nvmet.addPort({ trtype: 'rdma', traddr: RDMA_TRADDR, trsvcid: 4420 });
  addSubsystems(nvmet, port, [1, 2]);
  const line = `controller = transport=rdma;traddr=${RDMA_TRADDR};trsvcid=4420`;
  // No kernel-discovery option and persistent-connections at its default (true).
  const run = await startStafd(t, { host, conf: stafdConf({ controllers: [line] }) });
  const rdmaDcs = () =>
    controllers().filter((c) => {
      try {
        return ctrlAttr(c, 'transport') === 'rdma' && ctrlAttr(c, 'cntrltype') === 'discovery';
      } catch {
        return false;
      }
    });

  const dc = await dcWithLog(run, [NQN(1), NQN(2)]);
  const device = dc['discovery-controller']['device']!;
  assert.match(device, /^nvme\d+$/);
  assert.deepEqual(rdmaDcs(), [device]);
  const rdmaTid = StafdRun.tidOf(dc['discovery-controller']);
  assert.deepEqual(parseAddress(ctrlAttr(device, 'address')), { traddr: RDMA_TRADDR, trsvcid: '4420' });
  assert.equal(dc['discovery-controller']['transport'], 'rdma');
  for (const e of dc['log-pages'].filter((x) => x['subtype'] === 'nvme')) {
    assert.deepEqual(
      [e['trtype'], e['adrfam'], e['traddr'], e['trsvcid']],
      ['rdma', 'ipv4', RDMA_TRADDR, '4420'],
    );
    assert.match(e['tsas']!, /^\{'qptype': '\d+', 'prtype': '\d+', 'cms': '\d+'\}$/);
  }
  addSubsystems(nvmet, port, [3]);
  await dcWithLog(run, [NQN(1), NQN(2), NQN(3)]);

  assert.equal(await run.stop('SIGTERM'), 0);
  assert.deepEqual(rdmaDcs(), [device], 'persistent-connections (default true): kept');
  await run.start();
  // The restarted stafd serves its cached log at once; wait for the connection itself.
  await run.until('the DC connected again', async () => (await run.info(rdmaTid))['state'] === 'connected');
  assert.equal((await run.info(rdmaTid))['device'], device);
  assert.deepEqual(rdmaDcs(), [device], 'adopted, no second controller');

  run.writeConf(stafdConf({ dccm: ['persistent-connections = false'], controllers: [line] }));
  run.hup();
  await run.until('the reload', () =>
    run.output().split('----- stafd start').pop()!.includes('Configuration reloaded'),
  );
  assert.equal(await run.stop('SIGTERM'), 0);
  assert.deepEqual(rdmaDcs(), [], 'persistent-connections=false: deleted at SIGTERM');
});
