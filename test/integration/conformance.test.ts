/**
 * Drop-in conformance with nvme-stas 2.3.1 (issue 12, parts 2–5). The facts pinned here come from nvme-stas'
 * source and documentation: the process_info keys (staslib/stas.py ServiceABC.info, conf.py SysConf.as_dict,
 * service.py CtrlTerminator.info and Staf.info, avahi.py Avahi.info and Service.info), the controller keys
 * (stas.py ControllerABC.info, ctrl.py Controller.details/info, Dc.info, Ioc.details, udev.py get_attributes), the
 * formats (gutil.py GTimer.__str__, AsyncTask.as_dict, json.dumps defaults, str() of the DLPE dict in libnvme's
 * key order), the legacy blacklist= (conf.py: honoured as exclude=) and the log texts (log.py: the message alone
 * on stdout; ctrl.py: `<tid> | <device> - Received AEN: <NVME_AEN>`, `Connection established!`,
 * `Disconnect initiated`, `Received discovery log pages (num records=N).`, `<tid> Failed to connect to
 * controller. …`). stas' own extra keys may follow; secrets stay redacted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ownershipRegistry } from '../../src/adapters/kernel/registry.js';
import { parseStacdConfig, parseStafdConfig } from '../../src/core/config/service-config.js';
import { TrType } from '../../src/core/nvme/discovery-log.js';
import { type PyValue, pformat, pyJsonDumps } from '../../src/core/pprint.js';
import { stafdViewFromJson } from '../../src/core/stacd/stafd-view.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { createLogger } from '../../src/daemons/logger.js';
import { StacdService } from '../../src/daemons/stacd/service.js';
import { StafdService } from '../../src/daemons/stafd/service.js';
import { ioEntry } from '../support/discovery-target.js';
import { FakeFabric, LOG_CHANGE_AEN } from '../support/fake-dc.js';
import { fakeKernel } from '../support/kernel-records.js';
import { TEST_IDENTITY } from '../support/stafd-service.js';
import { until } from '../support/until.js';

const PYTHON = '/usr/bin/python3';
const havePython = (() => {
  try {
    accessSync(PYTHON, constants.X_OK);
    return spawnSync(PYTHON, ['-c', 'import json']).status === 0;
  } catch {
    return false;
  }
})();

/** Runs a Python expression over `input` (JSON on stdin as `v`); returns what it prints. */
function python(expr: string, input: unknown): string {
  const r = spawnSync(
    PYTHON,
    ['-c', `import json, sys\nv = json.loads(sys.stdin.read())\nsys.stdout.write(${expr})`],
    {
      input: JSON.stringify(input),
    },
  );
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout.toString();
}

// ---- nvme-stas' keys ----------------------------------------------------------------------------------------------

/** process_info of both daemons, in nvme-stas' order (stacd's ends here; stafd's adds `avahi`). */
const PROCESS_INFO_KEYS = [
  'tron',
  'log-level',
  'hostnqn',
  'hostid',
  'hostkey',
  'symname',
  'last known config file',
  'config soak timer',
  'kernel support.TP8013',
  'kernel support.host_iface',
  'terminator.audit timer',
];
const AVAHI_KEYS = ['avahi wake up timer', 'service types', 'services'];
/** controller_id_dict (list_controllers(False)). */
const ID_KEYS = [
  'traddr',
  'trsvcid',
  'transport',
  'subsysnqn',
  'host-iface',
  'host-traddr',
  'host-nqn',
  'device',
];
/** ControllerABC.info. */
const INFO_KEYS = [...ID_KEYS, 'connect attempts', 'retry connect timer'];
/** Controller.details adds the sysfs attributes and `connected`. */
const SYSFS_KEYS = ['hostid', 'hostnqn', 'model', 'serial', 'dctype', 'cntrltype'];
/** A connected Direct Discovery Controller with pleo enabled: its get-supported and get-log operations exist. */
const DC_INFO_KEYS = [...INFO_KEYS, 'origin', 'get supported log page operation', 'get log page operation'];
const DC_DETAILED_KEYS = [...DC_INFO_KEYS, ...SYSFS_KEYS, 'connected'];
const IOC_DETAILED_KEYS = [...INFO_KEYS, ...SYSFS_KEYS, 'connected', 'dlpe', 'dlpe.eflags.ncc'];

/** GLib timer text: interval (a Python float) and `[off]` or the seconds left. */
const TIMER = /^\d+\.\d+s \[(off|0s|\d+\.\d+(e-\d+)?s)\]$/;
/** AsyncTask.as_dict() as str(). */
const OPERATION =
  /^\{'fail count': \d+, 'completed': (True|False|None), 'alive': True(, 'retry timer': '[^']*')?(, 'error': .*)?\}$/;

function assertHasKeys(what: string, d: Record<string, unknown>, keys: readonly string[]): void {
  const missing = keys.filter((k) => !(k in d));
  assert.deepEqual(
    missing,
    [],
    `${what} lacks nvme-stas keys: ${missing.join(', ')} (has ${Object.keys(d).join(', ')})`,
  );
}

/** nvme-stas' keys come first, in its order (stas' own keys may follow). */
function assertKeyOrder(what: string, d: Record<string, unknown>, keys: readonly string[]): void {
  const present = Object.keys(d).filter((k) => keys.includes(k));
  assert.deepEqual(
    present,
    keys.filter((k) => k in d),
    `${what}: nvme-stas' key order`,
  );
  assert.deepEqual(Object.keys(d).slice(0, keys.length), [...keys], `${what}: nvme-stas' keys first`);
}

/** The text is what Python's json.dumps writes for the same value (`", "` and `": "`, ensure_ascii). */
function assertJsonDumpsForm(text: string): void {
  assert.equal(text, pyJsonDumps(JSON.parse(text) as PyValue));
  if (havePython) assert.equal(python('json.dumps(v)', JSON.parse(text)), text, 'byte for byte as CPython');
}

const DC_ADDR = '10.0.0.1';

function stafd(conf: string, fabric: FakeFabric, logs: string[] = [], identity = TEST_IDENTITY) {
  return new StafdService({
    config: parseStafdConfig(conf, 'stafd.conf').config,
    confFile: 'stafd.conf',
    identity,
    connect: fabric.connect,
    log: (level, m) => logs.push(`${level}: ${m}`),
    signals: { logPagesChanged: () => {}, dcRemoved: () => {} },
    minPassIntervalMs: 5,
    timing: { fastRetryMs: 50, slowRetryMs: 100, dimRetryMs: 50, logRetryMs: 50, minReadIntervalMs: 0 },
  });
}

function stacd(conf: string, view: () => string, sysClassNvme?: string) {
  const k = fakeKernel();
  const dir = mkdtempSync(join(tmpdir(), 'stacd-conf-'));
  const logs: string[] = [];
  const s = new StacdService({
    config: parseStacdConfig(conf, 'stacd.conf').config,
    identity: TEST_IDENTITY,
    stafd: async () => stafdViewFromJson(view(), { defaultHostNqn: TEST_IDENTITY.hostNqn }),
    kernel: Object.assign(k.port, ownershipRegistry(join(dir, 'registry'))),
    ifaces: () => new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: [] }]]),
    log: (l, m) => logs.push(`${l}: ${m}`),
    minPassIntervalMs: 10,
    retry: { fastMs: 20, slowMs: 50 },
    ...(sysClassNvme ? { sysClassNvme } : {}),
  });
  return { s, k, logs };
}

// ---- 2. keys of status and detailed listings ----------------------------------------------------------------------

test('stafd process_info: nvme-stas keys in its order, json.dumps form, None for an unset host key and symname', async () => {
  const s = stafd('', new FakeFabric());
  const text = s.processInfo();
  assertJsonDumpsForm(text);
  assert.match(text, /^\{"tron": false, "log-level": "INFO", "hostnqn": /);
  const info = JSON.parse(text) as Record<string, PyValue>;
  assertKeyOrder('process_info', info, [...PROCESS_INFO_KEYS, 'avahi']);
  assertHasKeys('avahi', info['avahi'] as Record<string, unknown>, AVAHI_KEYS);
  assert.equal(info['hostkey'], null);
  assert.equal(info['symname'], null);
  for (const k of ['config soak timer', 'terminator.audit timer'])
    assert.match(info[k] as string, TIMER, `${k}: ${info[k]}`);
  assert.equal(info['terminator.audit timer'], '30.0s [off]');
  assert.match(info['kernel support.TP8013'] as string, /^(True|False)$/);
  assert.match(info['kernel support.host_iface'] as string, /^(True|False)$/);
  // stafctl status prints them as Python does: None, not ''.
  assert.match(pformat(info, { width: 120 }), /'hostkey': None,\n {1}'hostnqn'/);
  // Set: the symbolic name as it is, the key never.
  const withKey = stafd('', new FakeFabric(), [], {
    ...TEST_IDENTITY,
    hostKey: 'DHHC-1:00:secret:',
    symname: 'rack 4',
  } as typeof TEST_IDENTITY);
  const set = JSON.parse(withKey.processInfo());
  assert.equal(set.hostkey, '<redacted>');
  assert.equal(set.symname, 'rack 4');
  await s.stop();
  await withKey.stop();
});

test('stacd process_info: the same keys as stafd without avahi, json.dumps form', async () => {
  const { s } = stacd('', () => '[]');
  const text = s.processInfo();
  assertJsonDumpsForm(text);
  const info = JSON.parse(text) as Record<string, PyValue>;
  assertKeyOrder('process_info', info, PROCESS_INFO_KEYS);
  assert.ok(!('avahi' in info));
  assert.equal(info['config soak timer'], '0.01s [off]', 'the minimum interval between passes, no pass due');
  await s.stop();
});

test('stafctl ls --detailed / status: every key nvme-stas shows for a connected DDC, in its formats', async () => {
  const fabric = new FakeFabric();
  fabric.set(DC_ADDR, '8009', () => [ioEntry(1)]);
  const s = stafd(`[Controllers]\ncontroller=transport=tcp;traddr=${DC_ADDR}\n`, fabric);
  s.start();
  await until('the DC read', () => s.snapshot()[0]?.pages === 1);
  const [d] = s.listControllers(true);
  assertHasKeys('list_controllers(True)', d!, DC_DETAILED_KEYS);
  assertKeyOrder('list_controllers(True)', d!, INFO_KEYS);
  assert.match(d!['retry connect timer']!, TIMER);
  assert.equal(d!['get log page operation'], "{'fail count': 0, 'completed': True, 'alive': True}");
  assert.match(d!['get supported log page operation']!, OPERATION);
  assert.equal(d!['connected'], 'True');
  assert.equal(d!['cntrltype'], 'discovery');
  assert.equal(d!['dctype'], 'ddc');
  assert.deepEqual(Object.keys(s.listControllers(false)[0]!).sort(), [...ID_KEYS].sort());
  const args = ['tcp', DC_ADDR, '8009', WELL_KNOWN_DISC_NQN, '', '', TEST_IDENTITY.hostNqn] as const;
  const infoText = s.controllerInfo(...args);
  assertJsonDumpsForm(infoText);
  assertHasKeys('controller_info', JSON.parse(infoText), DC_INFO_KEYS);
  assertJsonDumpsForm(s.getAllLogPages(true));
  await s.stop();
});

test('stacctl ls --detailed / status: every key nvme-stas shows for an I/O controller, sysfs attributes read', async () => {
  const sys = mkdtempSync(join(tmpdir(), 'sysfs-'));
  mkdirSync(join(sys, 'nvme0'));
  const attrs = {
    hostid: TEST_IDENTITY.hostId,
    hostnqn: TEST_IDENTITY.hostNqn,
    model: 'Linux',
    serial: '4c8f3a0e26b1b3c5',
    dctype: 'none',
    cntrltype: 'io',
  };
  for (const [k, v] of Object.entries(attrs)) writeFileSync(join(sys, 'nvme0', k), `${v}\n`);
  const json = pyJsonDumps([
    {
      'discovery-controller': {
        transport: 'tcp',
        traddr: DC_ADDR,
        trsvcid: '8009',
        subsysnqn: WELL_KNOWN_DISC_NQN,
      },
      'log-pages': [
        {
          trtype: 'tcp',
          adrfam: 'ipv4',
          traddr: '127.0.0.1',
          trsvcid: '4420',
          subnqn: 'nqn.io',
          subtype: 'nvme',
          treq: 'not specified',
          portid: '1',
          cntlid: '65535',
          asqsz: '32',
          eflags: '0',
        },
      ],
    },
  ]);
  const { s } = stacd('', () => json, sys);
  await s.reconcile();
  await s.reconcile();
  const [d] = s.listControllers(true);
  assertHasKeys('list_controllers(True)', d!, IOC_DETAILED_KEYS);
  assertKeyOrder('list_controllers(True)', d!, IOC_DETAILED_KEYS);
  for (const [k, v] of Object.entries(attrs)) assert.equal(d![k], v, k);
  assert.equal(d!['retry connect timer'], '60.0s [off]');
  assert.equal(d!['connected'], 'True');
  assert.equal(d!['dlpe.eflags.ncc'], 'False');
  const info = s.controllerInfo('tcp', '127.0.0.1', '4420', 'nqn.io', '', '', '');
  assertJsonDumpsForm(info);
  assertHasKeys('controller_info', JSON.parse(info), INFO_KEYS);
  await s.stop();
});

// ---- 3. the DLPE through stafd → stacd -----------------------------------------------------------------------------

test("stacctl's dlpe is stafd's entry as Python's str() shows it: treq 'disable sqflow' and tsas carried over", async () => {
  const fabric = new FakeFabric();
  const tls = new Uint8Array(256);
  tls[0] = 1; // TCP security type: TLS
  fabric.set(DC_ADDR, '8009', () => [ioEntry(7, { treq: 4, tsas: tls, eflags: 0 })]);
  const f = stafd(`[Controllers]\ncontroller=transport=tcp;traddr=${DC_ADDR}\n`, fabric);
  f.start();
  await until('the DC read', () => f.snapshot()[0]?.pages === 1);
  const all = f.getAllLogPages(false);
  const sent = (JSON.parse(all) as { 'log-pages': Record<string, string>[] }[])[0]!['log-pages'][0]!;
  assert.equal(sent['treq'], 'disable sqflow');
  const { s } = stacd('', () => all);
  await s.reconcile();
  const dlpe = s.listControllers(true)[0]!['dlpe']!;
  assert.equal(
    dlpe,
    "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4420', " +
      "'subnqn': 'nqn.2024-01.io.stas-test:subsys7', 'subtype': 'nvme', 'treq': 'disable sqflow', " +
      `'tsas': "{'sectype': 'tls'}", 'portid': '1', 'cntlid': '65535', 'asqsz': '32', 'eflags': '0'}`,
  );
  if (havePython) {
    // str() of the dict stafd sent, in libnvme's key order (tsas after treq): byte for byte.
    const order = [
      'trtype',
      'adrfam',
      'traddr',
      'trsvcid',
      'subnqn',
      'subtype',
      'treq',
      'tsas',
      'portid',
      'cntlid',
      'asqsz',
      'eflags',
    ];
    assert.equal(python('str({k: v[k] for k in ' + JSON.stringify(order) + '})', sent), dlpe);
    // stacctl ls -d prints it as CPython's pprint does (the long repr split into literals).
    const listed = s.listControllers(true);
    assert.equal(
      pformat(listed, { width: 120 }),
      python('__import__("pprint").pformat(v, width=120)', listed),
    );
  }
  await s.stop();
  await f.stop();
});

test("stafd's log entry text becomes the same entry in stacd (treq, tsas, unknown values)", () => {
  const page = (over: Record<string, string>) =>
    pyJsonDumps([
      {
        'discovery-controller': { transport: 'tcp', traddr: DC_ADDR, trsvcid: '8009' },
        'log-pages': [
          {
            trtype: 'tcp',
            adrfam: 'ipv4',
            traddr: '10.0.0.2',
            trsvcid: '4420',
            subnqn: 'nqn.io',
            subtype: 'nvme',
            treq: 'not specified',
            portid: '1',
            cntlid: '1',
            asqsz: '32',
            eflags: '0',
            ...over,
          },
        ],
      },
    ]);
  const entry = (over: Record<string, string>) => {
    const v = stafdViewFromJson(page(over), { defaultHostNqn: 'nqn.host' });
    assert.ok(v.answered);
    return v.dcs[0]!.entries[0]!;
  };
  assert.equal(entry({ treq: 'disable sqflow' }).treq, 4);
  assert.equal(entry({ treq: 'required' }).treq, 1);
  assert.equal(entry({ treq: 'not required' }).treq, 2);
  assert.equal(entry({ treq: '6' }).treq, 6);
  assert.equal(entry({ tsas: "{'sectype': 'tls13'}" }).tsas[0], 2);
  assert.equal(entry({ tsas: "{'sectype': 'tls1.3'}" }).tsas[0], 2);
  assert.equal(entry({ tsas: "{'sectype': 'none'}" }).tsas.length, 0);
  assert.equal(
    entry({ trtype: 'rdma', tsas: "{'qptype': '1', 'prtype': '2', 'cms': '1'}" }).trtype,
    TrType.rdma,
  );
  assert.deepEqual(
    [...entry({ trtype: 'rdma', tsas: "{'qptype': '1', 'prtype': '2', 'cms': '1'}" }).tsas],
    [1, 2, 1],
  );
});

// ---- 4. blacklist= ----------------------------------------------------------------------------------------------------

test('blacklist= is honoured as exclude= in stafd.conf and stacd.conf, with a warning naming file:line and exclude=', () => {
  for (const [parse, file] of [
    [parseStafdConfig, 'stafd.conf'],
    [parseStacdConfig, 'stacd.conf'],
  ] as const) {
    const r = parse(
      '[Controllers]\nexclude=traddr=10.0.0.8\nblacklist = transport=tcp;traddr=10.0.0.9\n',
      file,
    );
    assert.deepEqual(
      r.config.excludes.map((e) => e.fields),
      [{ traddr: '10.0.0.8' }, { transport: 'tcp', traddr: '10.0.0.9' }],
    );
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.level} ${d.message}`),
      [
        `warning File:${file}:3 [Controllers]: blacklist - deprecated option (replaced by exclude=); still honoured`,
      ],
    );
    // Its entries are checked as exclude= entries are, under their own name.
    const bad = parse('[Controllers]\nblacklist = host-traddr=10.0.0.1\n', file);
    assert.ok(
      bad.diagnostics.some((d) =>
        d.message.includes('[Controllers]: blacklist - host-traddr does not apply'),
      ),
    );
  }
});

test('a blacklisted DC is not connected by stafd; a blacklisted I/O controller is not connected by stacd', async () => {
  const fabric = new FakeFabric();
  fabric.set(DC_ADDR, '8009', () => [ioEntry(1), ioEntry(2)]);
  const f = stafd(
    `[Controllers]\ncontroller=transport=tcp;traddr=${DC_ADDR}\nblacklist=transport=tcp;traddr=${DC_ADDR}\n`,
    fabric,
  );
  await f.reconcile();
  assert.equal(f.snapshot().length, 0);
  assert.equal(fabric.connects, 0);
  await f.stop();

  const g = stafd(`[Controllers]\ncontroller=transport=tcp;traddr=${DC_ADDR}\n`, fabric);
  g.start();
  await until('the DC read', () => g.snapshot()[0]?.pages === 2);
  const { s, k } = stacd('[Controllers]\nblacklist=subsysnqn=nqn.2024-01.io.stas-test:subsys2\n', () =>
    g.getAllLogPages(false),
  );
  await s.reconcile();
  assert.deepEqual(
    k.requests.map((r) => r.nqn),
    ['nqn.2024-01.io.stas-test:subsys1'],
  );
  await s.stop();
  await g.stop();
});

// ---- 5. log lines ------------------------------------------------------------------------------------------------------

test('stdout carries the message alone (nvme-stas: no level); --syslog adds the journald priority only', () => {
  const plain: string[] = [];
  const log = createLogger({ syslog: false, tron: false, write: (l) => plain.push(l) });
  log('error', 'e');
  log('warning', 'w');
  log('info', 'i');
  assert.deepEqual(plain, ['e\n', 'w\n', 'i\n']);
  const journal: string[] = [];
  createLogger({ syslog: true, tron: false, write: (l) => journal.push(l) })('warning', 'w');
  assert.deepEqual(journal, ['<4>w\n']);
});

test('stafd says what nvme-stas says: Connection established!, Received AEN: 0x70f002, log pages, Disconnect initiated', async () => {
  const fabric = new FakeFabric();
  let entries = [ioEntry(1)];
  fabric.set(DC_ADDR, '8009', () => entries);
  const logs: string[] = [];
  const s = stafd(
    `[Controllers]\ncontroller=transport=tcp;traddr=${DC_ADDR}\ncontroller=transport=tcp;traddr=10.0.0.99\n`,
    fabric,
    logs,
  );
  s.start();
  await until('the DC read', () => s.snapshot().some((d) => d.pages === 1));
  entries = [ioEntry(1), ioEntry(2)];
  fabric.sessions[0]!.emit('aen', LOG_CHANGE_AEN);
  await until('the re-read', () => s.snapshot().some((d) => d.pages === 2));
  await until('the failed connect', () => logs.some((l) => l.includes('10.0.0.99')));
  await s.stop();
  const tid = `(tcp, ${DC_ADDR}, 8009, ${WELL_KNOWN_DISC_NQN})`;
  const said = (level: string, text: string) =>
    assert.ok(logs.includes(`${level}: ${text}`), `"${level}: ${text}" in:\n${logs.join('\n')}`);
  said('info', `${tid} | nvme? - Connection established!`);
  said('info', `${tid} | nvme? - Received discovery log pages (num records=1).`);
  said('info', `${tid} | nvme? - Received AEN: 0x70f002 (discovery log page changed)`);
  said('info', `${tid} | nvme? - Received discovery log pages (num records=2).`);
  said('info', `${tid} | nvme? - Disconnect initiated`);
  assert.ok(
    logs.some((l) =>
      l.startsWith(`error: (tcp, 10.0.0.99, 8009, ${WELL_KNOWN_DISC_NQN}) Failed to connect to controller. `),
    ),
    logs.join('\n'),
  );
});

test('stacd says what nvme-stas says: Connection established!, Disconnect initiated', async () => {
  let pages = [
    {
      trtype: 'tcp',
      adrfam: 'ipv4',
      traddr: '127.0.0.1',
      trsvcid: '4420',
      subnqn: 'nqn.io',
      subtype: 'nvme',
      treq: 'not specified',
      portid: '1',
      cntlid: '1',
      asqsz: '32',
      eflags: '0',
    },
  ];
  const { s, logs } = stacd('', () =>
    pyJsonDumps([
      { 'discovery-controller': { transport: 'tcp', traddr: DC_ADDR, trsvcid: '8009' }, 'log-pages': pages },
    ]),
  );
  await s.reconcile();
  pages = [];
  await s.reconcile();
  const tid = '(tcp, 127.0.0.1, 4420, nqn.io)';
  assert.ok(logs.includes(`info: ${tid} | nvme0 - Connection established!`), logs.join('\n'));
  assert.ok(
    logs.some((l) => l.startsWith(`info: ${tid} | nvme0 - Disconnect initiated`)),
    logs.join('\n'),
  );
  await s.stop();
});
