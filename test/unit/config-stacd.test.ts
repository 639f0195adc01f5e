import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultStacdConfig, parseStacdConfig } from '../../src/core/config/service-config.js';

const F = '/etc/stas/stacd.conf';
const parse = (text: string) => parseStacdConfig(text, F);
const msgs = (text: string) => parse(text).diagnostics.map((d) => d.message);
const IOCCM = 'I/O controller connection management';
const io = (body: string) => parse(`[${IOCCM}]\n${body}\n`);

test('defaults (kato 120 per stacd.conf(5))', () => {
  const r = parse('');
  assert.deepEqual(r.config, {
    tron: false,
    ignoreIface: false,
    ipFamily: { ipv4: true, ipv6: true },
    connect: { hdrDigest: false, dataDigest: false, kato: 120 },
    controllers: [],
    excludes: [],
    udevRule: false,
    disconnectScope: 'only-stas-connections',
    disconnectTrtypes: ['tcp'],
    connectAttemptsOnNcc: 0,
  });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(defaultStacdConfig(), r.config);
  assert.deepEqual(parseStacdConfig('').config, r.config);
});

test('every [Global] option with valid values', () => {
  const r = parse(
    '[Global]\ntron=true\nhdr-digest=true\ndata-digest=true\nkato=10\nqueue-size=1024\nreconnect-delay=1\n' +
      'ctrl-loss-tmo=3600\ndisable-sqflow=true\nignore-iface=TRUE\nip-family=ipv4\nnr-io-queues=8\n' +
      'nr-write-queues=2\nnr-poll-queues=1\nudev-rule=Enabled\n',
  );
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.config.tron, true);
  assert.equal(r.config.ignoreIface, true);
  assert.equal(r.config.udevRule, true);
  assert.deepEqual(r.config.ipFamily, { ipv4: true, ipv6: false });
  assert.deepEqual(r.config.connect, {
    hdrDigest: true,
    dataDigest: true,
    kato: 10,
    queueSize: 1024,
    reconnectDelay: 1,
    ctrlLossTmo: 3600,
    disableSqflow: true,
    nrIoQueues: 8,
    nrWriteQueues: 2,
    nrPollQueues: 1,
  });
  assert.equal(parse('[Global]\nudev-rule=disabled\n').config.udevRule, false);
});

test('invalid [Global] values: warning naming file:line, default used', () => {
  const r = parse(
    '[Global]\nkato=\nqueue-size=5\nnr-io-queues=four\nnr-write-queues=1.0\nnr-poll-queues=0x1\nudev-rule=yes\n',
  );
  assert.deepEqual(
    r.diagnostics.map((d) => d.message),
    [
      `File:${F}:2 [Global]: kato - Data converter found invalid value "". Default will be used`,
      `File:${F}:3 [Global]: queue-size - "5" is not within range 16..1024. Default will be used`,
      `File:${F}:4 [Global]: nr-io-queues - Data converter found invalid value "four". Default will be used`,
      `File:${F}:5 [Global]: nr-write-queues - Data converter found invalid value "1.0". Default will be used`,
      `File:${F}:6 [Global]: nr-poll-queues - Data converter found invalid value "0x1". Default will be used`,
      `File:${F}:7 [Global]: udev-rule - Text check found invalid value "yes". Default will be used`,
    ],
  );
  assert.ok(r.diagnostics.every((d) => d.level === 'warning'));
  assert.deepEqual(r.config, defaultStacdConfig());
});

test('disconnect-scope: three literals, case-sensitive', () => {
  for (const s of ['only-stas-connections', 'all-connections-matching-disconnect-trtypes', 'no-disconnect'])
    assert.equal(io(`disconnect-scope=${s}`).config.disconnectScope, s);
  const r = io('disconnect-scope=No-Disconnect');
  assert.equal(r.config.disconnectScope, 'only-stas-connections');
  assert.deepEqual(
    r.diagnostics.map((d) => d.message),
    [
      `File:${F}:2 [${IOCCM}]: disconnect-scope - Text check found invalid value "No-Disconnect". Default will be used`,
    ],
  );
});

test('disconnect-trtypes: + list, dedup, unknown items dropped with a warning, none valid ⇒ tcp', () => {
  assert.deepEqual(io('disconnect-trtypes=tcp+fc').config.disconnectTrtypes, ['tcp', 'fc']);
  assert.deepEqual(io('disconnect-trtypes=rdma+rdma+tcp').config.disconnectTrtypes, ['rdma', 'tcp']);
  assert.deepEqual(io('disconnect-trtypes=fc').config.disconnectTrtypes, ['fc']);
  const e = io('disconnect-trtypes=');
  assert.deepEqual(e.config.disconnectTrtypes, ['tcp']);
  assert.deepEqual(e.diagnostics, []);
  const r = io('disconnect-trtypes=tcp+loop+RDMA');
  assert.deepEqual(r.config.disconnectTrtypes, ['tcp']);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.message]),
    [
      [
        'warning',
        `File:${F}:2 [${IOCCM}]: disconnect-trtypes - List checker found invalid item "loop" will be ignored.`,
      ],
      [
        'warning',
        `File:${F}:2 [${IOCCM}]: disconnect-trtypes - List checker found invalid item "RDMA" will be ignored.`,
      ],
    ],
  );
  const spaces = io('disconnect-trtypes=rdma + fc');
  assert.deepEqual(spaces.config.disconnectTrtypes, ['tcp']);
  assert.equal(spaces.diagnostics.length, 2);
});

test('connect-attempts-on-ncc: 0 never stops, 1 ⇒ 2, invalid ⇒ 0 with a warning', () => {
  assert.equal(io('connect-attempts-on-ncc=0').config.connectAttemptsOnNcc, 0);
  assert.equal(io('connect-attempts-on-ncc=1').config.connectAttemptsOnNcc, 2);
  assert.equal(io('connect-attempts-on-ncc=2').config.connectAttemptsOnNcc, 2);
  assert.equal(io('connect-attempts-on-ncc=10').config.connectAttemptsOnNcc, 10);
  const bad = io('connect-attempts-on-ncc=many');
  assert.equal(bad.config.connectAttemptsOnNcc, 0);
  assert.deepEqual(
    bad.diagnostics.map((d) => d.message),
    [
      `File:${F}:2 [${IOCCM}]: connect-attempts-on-ncc - Data converter found invalid value "many". Default will be used`,
    ],
  );
  const neg = io('connect-attempts-on-ncc=-1');
  assert.equal(neg.config.connectAttemptsOnNcc, 0);
  assert.deepEqual(
    neg.diagnostics.map((d) => d.message),
    [
      `File:${F}:2 [${IOCCM}]: connect-attempts-on-ncc - "-1" is not within range 0..2147483647. Default will be used`,
    ],
  );
});

test('options of stafd are invalid in stacd.conf', () => {
  const r = parse(
    '[Global]\npleo=enabled\npersistent-connections=true\n[Service Discovery]\nzeroconf=enabled\n' +
      '[Discovery controller connection management]\nzeroconf-connections-persistence=1\n',
  );
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.message]),
    [
      ['error', `File:${F}:2 [Global] contains invalid option: pleo`],
      ['error', `File:${F}:3 [Global] contains invalid option: persistent-connections`],
      ['error', `File:${F}:4 contains invalid section: [Service Discovery]`],
      ['error', `File:${F}:6 contains invalid section: [Discovery controller connection management]`],
    ],
  );
  assert.equal(r.hasErrors, true);
  assert.deepEqual(r.config, defaultStacdConfig());
});

test('controller= nqn is mandatory for stacd; man page examples', () => {
  const text = [
    '[Controllers]',
    'controller = transport=tcp;traddr=localhost;trsvcid=8009',
    'controller = transport=tcp;traddr=2001:db8::370:7334;host-iface=enp0s8',
    'controller = transport=fc;traddr=nn-0x204600a098cbcac6:pn-0x204700a098cbcac6',
    'controller = transport=tcp;traddr=2001:db8::370:7334;host-iface=enp0s8;nqn=nqn.1988-11.com.dell:ioc',
    'exclude = transport=tcp;traddr=fe80::2c6e:dee7:857:26bb # Eliminate a specific address',
    'exclude = host-iface=enp0s8                             # Eliminate everything on this interface',
  ].join('\n');
  const r = parse(text);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.line]),
    [
      ['warning', 2],
      ['warning', 3],
      ['warning', 4],
    ],
  );
  assert.ok(r.diagnostics.every((d) => d.message.includes('lacks mandatory field nqn')));
  assert.deepEqual(r.config.controllers, [
    {
      line: 5,
      transport: 'tcp',
      traddr: '2001:db8::370:7334',
      subsysnqn: 'nqn.1988-11.com.dell:ioc',
      hostIface: 'enp0s8',
      overrides: {},
    },
  ]);
  assert.deepEqual(r.config.excludes, [
    { line: 6, fields: { transport: 'tcp', traddr: 'fe80::2c6e:dee7:857:26bb' } },
    { line: 7, fields: { 'host-iface': 'enp0s8' } },
  ]);
});

test('secrets in controller lines: kept intact in the config, never in diagnostics', () => {
  const secret = 'DHHC-1:01:dG9wc2VjcmV0dG9wc2VjcmV0dG9wc2VjcmV0dG9wc2VjcmV0dG9wc2VjcmV0==:';
  const r = parse(
    `[Controllers]\ncontroller = transport=tcp;traddr=1.2.3.4;nqn=n;dhchap-secret=${secret};dhchap-ctrl-secret=${secret};kato=x\n` +
      `controller = transport=tcp;nqn=n;dhchap-secret=${secret}\nexclude = dhchap-ctrl-secret=${secret}\n` +
      `[Global]\ndhchap-secret = ${secret}\n`,
  );
  assert.equal(r.config.controllers[0]!.dhchapSecret, secret);
  assert.equal(r.config.controllers[0]!.dhchapCtrlSecret, secret);
  assert.ok(r.diagnostics.length >= 5);
  for (const d of r.diagnostics)
    assert.ok(!d.message.includes('dG9w') && !d.message.includes('DHHC'), d.message);
  assert.ok(r.diagnostics.some((d) => d.message.includes('dhchap-secret=<redacted>')));
  assert.ok(
    r.diagnostics.some((d) => d.message === `File:${F}:6 [Global] contains invalid option: dhchap-secret`),
  );
});

test('section names are case-sensitive', () => {
  assert.deepEqual(msgs('[controllers]\ncontroller=transport=tcp;traddr=a;nqn=n\n'), [
    `File:${F}:1 contains invalid section: [controllers]`,
  ]);
  assert.deepEqual(parse('[controllers]\ncontroller=transport=tcp;traddr=a;nqn=n\n').config.controllers, []);
});

test('a syntax error is reported and the rest still loads', () => {
  const r = parse('[Global]\nkato 10\ntron=true\n');
  assert.equal(r.hasErrors, true);
  assert.equal(r.config.tron, true);
  assert.equal(r.config.connect.kato, 120);
  assert.deepEqual(
    r.diagnostics.map((d) => d.message),
    [`File:${F}:2 syntax error (expected [section], option = value or a comment): "kato 10". Line ignored`],
  );
});
