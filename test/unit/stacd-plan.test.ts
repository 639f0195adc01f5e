import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStacdConfig } from '../../src/core/config/service-config.js';
import type { KernelController } from '../../src/core/kernel-controller.js';
import { EFlags, SubType } from '../../src/core/nvme/discovery-log.js';
import { type PlanInput, planIoControllers, planToJson, type StafdView } from '../../src/core/stacd/plan.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry } from '../support/discovery-target.js';

const HOST = 'nqn.host';
const tidOpts = { defaultHostNqn: HOST };
const dc = Tid.from(
  { transport: 'tcp', traddr: '10.0.0.1', subsysnqn: WELL_KNOWN_DISC_NQN, hostIface: 'eth0' },
  tidOpts,
);
const nqn = (i: number) => `nqn.2024-01.io.stas-test:subsys${i}`;
const ifaces = new Map([['eth0', { ipv4: ['10.0.0.9'], ipv6: [] }]]);

function kernel(i: number, over: Partial<KernelController> = {}): KernelController {
  return {
    device: `nvme${i}`,
    transport: 'tcp',
    traddr: '127.0.0.1',
    trsvcid: '4420',
    subsysnqn: nqn(i),
    hostNqn: HOST,
    hostId: '',
    hostTraddr: '',
    hostIface: '',
    srcAddr: '10.0.0.9',
    cntrltype: 'io',
    dctype: 'none',
    state: 'live',
    hasNamespaces: true,
    ...over,
  };
}

function input(conf: string, stafd: StafdView, over: Partial<PlanInput> = {}): PlanInput {
  return {
    config: parseStacdConfig(conf).config,
    tidOpts,
    stafd,
    kernel: [],
    ifaces,
    owners: new Map(),
    ours: new Set(),
    attempts: new Map(),
    ...over,
  };
}
const summary = (p: ReturnType<typeof planIoControllers>) =>
  p.items.map(
    (i) =>
      `${i.action} ${i.tid.subsysnqn.replace('nqn.2024-01.io.stas-test:', '')}${i.device ? ` ${i.device}` : ''}: ${i.reason}`,
  );
const view = (...entries: ReturnType<typeof ioEntry>[]): StafdView => ({
  answered: true,
  dcs: [{ dc, entries }],
});

test('desired IOCs from controller= and DLPEs (NVM only, inheriting the DC interface), minus exclusions', () => {
  const p = planIoControllers(
    input(
      `[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn=${nqn(1)}\nexclude = nqn=${nqn(3)}\n`,
      view(
        ioEntry(1),
        ioEntry(2),
        ioEntry(3),
        ioEntry(4, { subtype: SubType.referral }),
        ioEntry(5, { traddr: '::1' }),
        ioEntry(6, { traddr: '0.0.0.0' }),
      ),
      {
        config: parseStacdConfig(
          `[Global]\nip-family=ipv4\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn=${nqn(1)}\nexclude = nqn=${nqn(3)}\n`,
        ).config,
      },
    ),
  );
  // subsys1 twice: the controller= line names no interface, the DLPE inherits eth0 from its DC (two TIDs).
  assert.deepEqual(summary(p), [
    'connect subsys1: configured (controller=)',
    'connect subsys1: listed in a discovery log page',
    'connect subsys2: listed in a discovery log page',
  ]);
  const disc = p.items[2]!.tid;
  assert.equal(disc.hostIface, 'eth0', 'IOCs inherit the interface of the DC that listed them');
  assert.equal(p.discovered.length, 4);
});

test('existing kernel connections are kept, not duplicated (matching by source address)', () => {
  const p = planIoControllers(
    input('', view(ioEntry(1), ioEntry(2)), { kernel: [kernel(1), kernel(2, { srcAddr: '192.168.0.1' })] }),
  );
  assert.deepEqual(summary(p), [
    'keep subsys1 nvme1: discovered; connected as nvme1',
    'connect subsys2: listed in a discovery log page',
    'keep subsys2 nvme2: not made by stas',
  ]);
});

test('disconnect-scope: only-stas-connections, all-connections-matching-disconnect-trtypes, no-disconnect', () => {
  const k = [kernel(7), kernel(8), kernel(9, { transport: 'rdma' })];
  const stas = planIoControllers(
    input('', view(), { kernel: k, ours: new Set(['nvme7']), owners: new Map([['nvme8', 'stas']]) }),
  );
  assert.deepEqual(summary(stas), [
    'disconnect subsys7 nvme7: no longer configured or listed in a discovery log page',
    'disconnect subsys8 nvme8: no longer configured or listed in a discovery log page',
    'keep subsys9 nvme9: not made by stas',
  ]);
  const all = planIoControllers(
    input(
      '[I/O controller connection management]\ndisconnect-scope=all-connections-matching-disconnect-trtypes\n',
      view(),
      { kernel: k, owners: new Map([['nvme8', 'nbft']]) },
    ),
  );
  assert.deepEqual(summary(all), [
    'disconnect subsys7 nvme7: not configured nor listed, and tcp is audited (disconnect-trtypes)',
    'keep subsys8 nvme8: owned by nbft',
    'keep subsys9 nvme9: rdma is not in disconnect-trtypes',
  ]);
  const allRdma = planIoControllers(
    input(
      '[I/O controller connection management]\ndisconnect-scope=all-connections-matching-disconnect-trtypes\ndisconnect-trtypes=tcp+rdma\n',
      view(),
      { kernel: k },
    ),
  );
  assert.equal(allRdma.items.filter((i) => i.action === 'disconnect').length, 3);
  const none = planIoControllers(
    input('[I/O controller connection management]\ndisconnect-scope=no-disconnect\n', view(), {
      kernel: k,
      ours: new Set(['nvme7']),
    }),
  );
  assert.ok(none.items.every((i) => i.action === 'keep' && i.reason === 'disconnect-scope=no-disconnect'));
});

test('excluded connections made by stas go; controller= lines stay when their DLPE goes', () => {
  const conf = `[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn=${nqn(1)}\nexclude = nqn=${nqn(2)}\n`;
  const p = planIoControllers(
    input(conf, view(), { kernel: [kernel(1), kernel(2)], ours: new Set(['nvme1', 'nvme2']) }),
  );
  assert.deepEqual(summary(p), [
    'keep subsys1 nvme1: configured; connected as nvme1',
    'disconnect subsys2 nvme2: excluded',
  ]);
});

test('stafd not answering: nothing discovered is dropped (previous DLPE IOCs kept), excluded ones still go', () => {
  const before = planIoControllers(
    input('', view(ioEntry(1)), { kernel: [kernel(1)], ours: new Set(['nvme1']) }),
  );
  const absent = planIoControllers(
    input(
      `[Controllers]\nexclude = nqn=${nqn(3)}\n`,
      { answered: false },
      {
        kernel: [kernel(1), kernel(2), kernel(3)],
        ours: new Set(['nvme1', 'nvme2', 'nvme3']),
        previousDiscovered: before.discovered,
      },
    ),
  );
  assert.deepEqual(summary(absent), [
    'keep subsys1 nvme1: discovered; connected as nvme1',
    'keep subsys2 nvme2: stafd is not answering: discovery information unknown',
    'disconnect subsys3 nvme3: excluded',
  ]);
  // Without history, an unanswered stafd never causes a disconnect.
  const cold = planIoControllers(
    input('', { answered: false }, { kernel: [kernel(1)], ours: new Set(['nvme1']) }),
  );
  assert.deepEqual(summary(cold), [
    'keep subsys1 nvme1: stafd is not answering: discovery information unknown',
  ]);
});

test('NCC: after connect-attempts-on-ncc failures an IOC the CDC cannot reach is skipped; resumes when NCC clears', () => {
  const conf = '[I/O controller connection management]\nconnect-attempts-on-ncc=1\n';
  const t = planIoControllers(input(conf, view(ioEntry(1, { eflags: EFlags.NCC })))).items[0]!.tid;
  const attempts = new Map([[t.key(), 2]]);
  assert.deepEqual(
    summary(planIoControllers(input(conf, view(ioEntry(1, { eflags: EFlags.NCC })), { attempts }))),
    ['skip subsys1: not connected to the CDC (NCC) and 2 attempts failed'],
  );
  assert.equal(
    planIoControllers(
      input(conf, view(ioEntry(1, { eflags: EFlags.NCC })), { attempts: new Map([[t.key(), 1]]) }),
    ).items[0]!.action,
    'connect',
    '1 means 2',
  );
  assert.equal(planIoControllers(input(conf, view(ioEntry(1)), { attempts })).items[0]!.action, 'connect');
  assert.equal(
    planIoControllers(input('', view(ioEntry(1, { eflags: EFlags.NCC })), { attempts })).items[0]!.action,
    'connect',
    '0 = never give up',
  );
});

test('the plan as JSON', () => {
  const p = planIoControllers(input('', view(ioEntry(1)), { kernel: [kernel(1)] }));
  assert.deepEqual(JSON.parse(planToJson(p)), [
    {
      action: 'keep',
      traddr: '127.0.0.1',
      trsvcid: '4420',
      transport: 'tcp',
      subsysnqn: nqn(1),
      'host-iface': 'eth0',
      'host-traddr': '',
      'host-nqn': HOST,
      device: 'nvme1',
      reason: 'discovered; connected as nvme1',
    },
  ]);
});
