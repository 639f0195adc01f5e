import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  defaultStafdConfig,
  effectiveConnectOptions,
  parseStafdConfig,
} from '../../src/core/config/service-config.js';

const F = '/etc/stas/stafd.conf';
const parse = (text: string) => parseStafdConfig(text, F);
const msgs = (text: string) => parse(text).diagnostics.map((d) => d.message);
const DCCM = 'Discovery controller connection management';

test('defaults', () => {
  const r = parse('');
  assert.deepEqual(r.config, {
    tron: false,
    ignoreIface: false,
    ipFamily: { ipv4: true, ipv6: true },
    connect: { hdrDigest: false, dataDigest: false, kato: 30 },
    controllers: [],
    excludes: [],
    pleo: true,
    zeroconf: true,
    persistentConnections: true,
    zeroconfConnectionsPersistence: 259200,
    kernelDiscovery: true,
    bounds: {
      maxDiscoveryControllers: 256,
      maxReferralDepth: 8,
      maxReferralsPerController: 64,
      maxCachedLogEntries: 65536,
    },
  });
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.hasErrors, false);
  assert.deepEqual(defaultStafdConfig(), r.config);
  assert.deepEqual(parseStafdConfig('').diagnostics, []);
});

test('every [Global] option with valid values', () => {
  const c = parse(
    '[Global]\ntron=true\nhdr-digest=TRUE\ndata-digest=True\nkato=0\nqueue-size=16\nreconnect-delay=3\n' +
      'ctrl-loss-tmo=-1\ndisable-sqflow=false\nignore-iface=true\nip-family=ipv6\npleo=Disabled\n',
  );
  assert.deepEqual(c.diagnostics, []);
  assert.equal(c.config.tron, true);
  assert.equal(c.config.ignoreIface, true);
  assert.deepEqual(c.config.ipFamily, { ipv4: false, ipv6: true });
  assert.equal(c.config.pleo, false);
  assert.deepEqual(c.config.connect, {
    hdrDigest: true,
    dataDigest: true,
    kato: 0,
    queueSize: 16,
    reconnectDelay: 3,
    ctrlLossTmo: -1,
    disableSqflow: false,
  });
  assert.equal(parse('[Global]\nqueue-size=1024\n').config.connect.queueSize, 1024);
  assert.deepEqual(parse('[Global]\nip-family=ipv4\n').config.ipFamily, { ipv4: true, ipv6: false });
  assert.deepEqual(parse('[Global]\nip-family=ipv6+ipv4\n').config.ipFamily, { ipv4: true, ipv6: true });
  assert.equal(parse('[Global]\npleo=ENABLED\n').config.pleo, true);
  assert.equal(parse('[Global]\nkato= +45 \n').config.connect.kato, 45);
});

test('invalid [Global] values: warning naming file:line, default used', () => {
  const text =
    '[Global]\ntron=yes\nhdr-digest=1\ndata-digest=on\nkato=1.5\nqueue-size=15\nreconnect-delay=0x10\n' +
    'ctrl-loss-tmo=NaN\ndisable-sqflow=\nignore-iface=no\nip-family=IPv4\npleo=true\n';
  const r = parse(text);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.line, d.message]),
    [
      [
        'warning',
        2,
        `File:${F}:2 [Global]: tron - Text check found invalid value "yes". Default will be used`,
      ],
      [
        'warning',
        3,
        `File:${F}:3 [Global]: hdr-digest - Text check found invalid value "1". Default will be used`,
      ],
      [
        'warning',
        4,
        `File:${F}:4 [Global]: data-digest - Text check found invalid value "on". Default will be used`,
      ],
      [
        'warning',
        5,
        `File:${F}:5 [Global]: kato - Data converter found invalid value "1.5". Default will be used`,
      ],
      [
        'warning',
        6,
        `File:${F}:6 [Global]: queue-size - "15" is not within range 16..1024. Default will be used`,
      ],
      [
        'warning',
        7,
        `File:${F}:7 [Global]: reconnect-delay - Data converter found invalid value "0x10". Default will be used`,
      ],
      [
        'warning',
        8,
        `File:${F}:8 [Global]: ctrl-loss-tmo - Data converter found invalid value "NaN". Default will be used`,
      ],
      [
        'warning',
        9,
        `File:${F}:9 [Global]: disable-sqflow - Text check found invalid value "". Default will be used`,
      ],
      [
        'warning',
        10,
        `File:${F}:10 [Global]: ignore-iface - Text check found invalid value "no". Default will be used`,
      ],
      [
        'warning',
        11,
        `File:${F}:11 [Global]: ip-family - Text check found invalid value "IPv4". Default will be used`,
      ],
      [
        'warning',
        12,
        `File:${F}:12 [Global]: pleo - Text check found invalid value "true". Default will be used`,
      ],
    ],
  );
  assert.equal(r.hasErrors, false);
  assert.deepEqual(r.config, defaultStafdConfig());
  assert.deepEqual(msgs('[Global]\nqueue-size=1025\n'), [
    `File:${F}:2 [Global]: queue-size - "1025" is not within range 16..1024. Default will be used`,
  ]);
});

test('[Service Discovery] zeroconf', () => {
  assert.equal(parse('[Service Discovery]\nzeroconf=disabled\n').config.zeroconf, false);
  assert.equal(parse('[Service Discovery]\nzeroconf = Enabled\n').config.zeroconf, true);
  const r = parse('[Service Discovery]\nzeroconf=off\n');
  assert.equal(r.config.zeroconf, true);
  assert.deepEqual(
    r.diagnostics.map((d) => d.message),
    [
      `File:${F}:2 [Service Discovery]: zeroconf - Text check found invalid value "off". Default will be used`,
    ],
  );
});

test('[Discovery controller connection management] persistent-connections', () => {
  assert.equal(parse(`[${DCCM}]\npersistent-connections=false\n`).config.persistentConnections, false);
  assert.equal(parse(`[${DCCM}]\npersistent-connections=true\n`).config.persistentConnections, true);
  assert.deepEqual(msgs(`[${DCCM}]\npersistent-connections=maybe\n`), [
    `File:${F}:2 [${DCCM}]: persistent-connections - Text check found invalid value "maybe". Default will be used`,
  ]);
  assert.equal(parse(`[${DCCM}]\npersistent-connections=maybe\n`).config.persistentConnections, true);
});

test('deprecated [Global] persistent-connections: honoured (new OR legacy) with a warning', () => {
  const r = parse(`[Global]\npersistent-connections=true\n[${DCCM}]\npersistent-connections=false\n`);
  assert.equal(r.config.persistentConnections, true);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.message]),
    [
      [
        'warning',
        `File:${F}:2 [Global]: persistent-connections - deprecated option (moved to [${DCCM}]); still honoured`,
      ],
    ],
  );
  assert.equal(r.hasErrors, false);
  assert.equal(
    parse(`[Global]\npersistent-connections=false\n[${DCCM}]\npersistent-connections=false\n`).config
      .persistentConnections,
    false,
  );
  assert.equal(parse('[Global]\npersistent-connections=false\n').config.persistentConnections, true);
  const bad = parse(`[Global]\npersistent-connections=1\n[${DCCM}]\npersistent-connections=false\n`);
  assert.equal(bad.config.persistentConnections, false);
  assert.equal(bad.diagnostics.length, 2);
});

test('zeroconf-connections-persistence', () => {
  const z = (v: string) => parse(`[${DCCM}]\nzeroconf-connections-persistence=${v}\n`);
  assert.equal(z('72hours').config.zeroconfConnectionsPersistence, 259200);
  assert.equal(z('-1').config.zeroconfConnectionsPersistence, -1);
  assert.equal(z('0').config.zeroconfConnectionsPersistence, 0);
  assert.equal(z('3 days 5 hours').config.zeroconfConnectionsPersistence, 277200);
  assert.equal(z('1:01').config.zeroconfConnectionsPersistence, 61);
  assert.equal(z('0.5').config.zeroconfConnectionsPersistence, 0.5);
  const bad = z('forever');
  assert.equal(bad.config.zeroconfConnectionsPersistence, 259200);
  assert.deepEqual(
    bad.diagnostics.map((d) => [d.level, d.message]),
    [
      [
        'warning',
        `File:${F}:2 [${DCCM}]: zeroconf-connections-persistence - Data converter found invalid value "forever". Default will be used`,
      ],
    ],
  );
  assert.equal(z('nan').config.zeroconfConnectionsPersistence, 259200);
});

test('unknown sections and options are errors and ignored; the rest still loads', () => {
  const r = parse('[Hello]\nx=1\n[Global]\njohnny=1\ntron=true\nJOHNNY=2\n[global]\nkato=5\n');
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.line, d.message]),
    [
      ['error', 1, `File:${F}:1 contains invalid section: [Hello]`],
      ['error', 4, `File:${F}:4 [Global] contains invalid option: johnny`],
      ['error', 6, `File:${F}:6 [Global] contains invalid option: johnny`],
      ['error', 7, `File:${F}:7 contains invalid section: [global]`],
    ],
  );
  assert.equal(r.hasErrors, true);
  assert.equal(r.config.tron, true);
  assert.equal(r.config.connect.kato, 30);
});

test('options of stacd are invalid in stafd.conf', () => {
  const r = parse(
    '[Global]\nnr-io-queues=4\nnr-write-queues=1\nnr-poll-queues=1\nudev-rule=enabled\n' +
      '[I/O controller connection management]\ndisconnect-scope=no-disconnect\n',
  );
  assert.deepEqual(
    r.diagnostics.map((d) => d.message),
    [
      `File:${F}:2 [Global] contains invalid option: nr-io-queues`,
      `File:${F}:3 [Global] contains invalid option: nr-write-queues`,
      `File:${F}:4 [Global] contains invalid option: nr-poll-queues`,
      `File:${F}:5 [Global] contains invalid option: udev-rule`,
      `File:${F}:6 contains invalid section: [I/O controller connection management]`,
    ],
  );
  assert.equal(r.hasErrors, true);
  assert.deepEqual(r.config.connect, { hdrDigest: false, dataDigest: false, kato: 30 });
});

test('keys are case-insensitive, single-valued options: last occurrence wins (and is the one checked)', () => {
  const r = parse('[Global]\nKATO=10\nkato=bad\nKato = 20\nTron=TRUE\n');
  assert.equal(r.config.connect.kato, 20);
  assert.equal(r.config.tron, true);
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(msgs('[Global]\nkato=10\nkato=bad\n'), [
    `File:${F}:3 [Global]: kato - Data converter found invalid value "bad". Default will be used`,
  ]);
});

test('comments: # and ; full-line, # inline', () => {
  const r = parse('# c\n; c\n[Global] # general\n  ; kato=1\ntron = true # trace\nkato = 60\t# seconds\n');
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.config.tron, true);
  assert.equal(r.config.connect.kato, 60);
});

test('controllers and excludes: repeated keys, continuation lines, line numbers', () => {
  const r = parse(
    '[Controllers]\ncontroller = transport=tcp;traddr=10.0.0.1\n' +
      'controller = transport=tcp;traddr=10.0.0.2;kato=5\n    transport=rdma;traddr=10.0.0.3\n' +
      'exclude = traddr=10.0.0.9\nCONTROLLER=transport=loop;traddr=x\n',
  );
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(
    r.config.controllers.map((c) => [c.line, c.transport, c.traddr, c.subsysnqn]),
    [
      [2, 'tcp', '10.0.0.1', 'nqn.2014-08.org.nvmexpress.discovery'],
      [3, 'tcp', '10.0.0.2', 'nqn.2014-08.org.nvmexpress.discovery'],
      [4, 'rdma', '10.0.0.3', 'nqn.2014-08.org.nvmexpress.discovery'],
      [6, 'loop', 'x', 'nqn.2014-08.org.nvmexpress.discovery'],
    ],
  );
  assert.deepEqual(r.config.excludes, [{ line: 5, fields: { traddr: '10.0.0.9' } }]);
  assert.deepEqual(effectiveConnectOptions(r.config.connect, r.config.controllers[1]!.overrides), {
    hdrDigest: false,
    dataDigest: false,
    kato: 5,
  });
  assert.deepEqual(
    effectiveConnectOptions(r.config.connect, r.config.controllers[0]!.overrides),
    r.config.connect,
  );
});

test('man page examples (stacd.conf(5), seed 004) in stafd.conf', () => {
  const text = [
    '[Controllers]',
    'controller = transport=tcp;traddr=localhost;trsvcid=8009',
    'controller = transport=tcp;traddr=2001:db8::370:7334;host-iface=enp0s8',
    'controller = transport=fc;traddr=nn-0x204600a098cbcac6:pn-0x204700a098cbcac6',
    'exclude = transport=tcp;traddr=fe80::2c6e:dee7:857:26bb # Eliminate a specific address',
    'exclude = host-iface=enp0s8                             # Eliminate everything on this interface',
    '',
  ].join('\n');
  const r = parse(text);
  assert.deepEqual(r.diagnostics, []);
  const nqn = 'nqn.2014-08.org.nvmexpress.discovery';
  assert.deepEqual(r.config.controllers, [
    { line: 2, transport: 'tcp', traddr: 'localhost', trsvcid: '8009', subsysnqn: nqn, overrides: {} },
    {
      line: 3,
      transport: 'tcp',
      traddr: '2001:db8::370:7334',
      subsysnqn: nqn,
      hostIface: 'enp0s8',
      overrides: {},
    },
    {
      line: 4,
      transport: 'fc',
      traddr: 'nn-0x204600a098cbcac6:pn-0x204700a098cbcac6',
      subsysnqn: nqn,
      overrides: {},
    },
  ]);
  assert.deepEqual(r.config.excludes, [
    { line: 5, fields: { transport: 'tcp', traddr: 'fe80::2c6e:dee7:857:26bb' } },
    { line: 6, fields: { 'host-iface': 'enp0s8' } },
  ]);
});

test('empty exclude= is ignored with a warning, not "exclude everything"', () => {
  const r = parse('[Controllers]\nexclude=\nexclude = # nothing\nexclude = traddr=1.1.1.1\n');
  assert.deepEqual(r.config.excludes, [{ line: 4, fields: { traddr: '1.1.1.1' } }]);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.level, d.line]),
    [
      ['warning', 2],
      ['warning', 3],
    ],
  );
  assert.equal(r.hasErrors, false);
});

test('a full realistic stafd.conf', () => {
  const text = `# stafd.conf
[Global]
tron = false
hdr-digest = false
data-digest = false
kato = 30
ip-family = ipv4+ipv6
pleo = enabled

[Service Discovery]
zeroconf = enabled

[Discovery controller connection management]
persistent-connections = true
zeroconf-connections-persistence = 72hours

[Controllers]
;controller = transport=tcp;traddr=localhost;trsvcid=8009
#exclude = host-iface=enp0s8
`;
  const r = parse(text);
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.config, defaultStafdConfig());
});
