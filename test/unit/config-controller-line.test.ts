import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseControllerEntry,
  parseExcludeEntry,
  redactEntry,
  splitEntry,
} from '../../src/core/config/controller-line.js';
import { DiagnosticSink } from '../../src/core/config/diagnostics.js';

const F = '/etc/stas/stacd.conf';
const P = (line: number, key = 'controller') => `File:${F}:${line} [Controllers]: ${key} - `;
const SECRET48 = 'DHHC-1:02:+XrVBHWCbUc7Lk3BpIZS0odPHCEvIBx7vtyBqMtyOcGILSswNT0pSvCZK5VBMi5/gEBmxWw=:';
const SECRET_PAD = 'DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0==:';

function messages(sink: DiagnosticSink): string[] {
  return sink.diagnostics.map((d) => d.message);
}

test('splitEntry: ; separated, first = splits, keys lower-cased, later keys win, nqn → subsysnqn', () => {
  const s = splitEntry(' Transport = tcp ;; traddr=1.2.3.4 ; TRADDR=5.6.7.8;dhchap-secret=a==b=:;bad;=x; ');
  assert.deepEqual(
    [...s.fields],
    [
      ['transport', 'tcp'],
      ['traddr', '5.6.7.8'],
      ['dhchap-secret', 'a==b=:'],
    ],
  );
  assert.deepEqual(s.malformed, ['bad', '=x']);
  assert.deepEqual([...splitEntry('nqn=a;subsysnqn=b').fields], [['subsysnqn', 'a']]);
  assert.deepEqual([...splitEntry('subsysnqn=b;nqn=a').fields], [['subsysnqn', 'a']]);
  assert.deepEqual([...splitEntry('subsysnqn=b').fields], [['subsysnqn', 'b']]);
  assert.deepEqual(splitEntry(''), { fields: new Map(), malformed: [] });
});

test('redactEntry hides secret values and secret-looking items', () => {
  assert.equal(
    redactEntry(`transport=tcp;dhchap-secret=${SECRET48};DHCHAP-CTRL-SECRET = x;traddr=1`),
    'transport=tcp;dhchap-secret=<redacted>;DHCHAP-CTRL-SECRET =<redacted>;traddr=1',
  );
  assert.equal(redactEntry(`traddr=1;${SECRET_PAD}`), 'traddr=1;<redacted>');
});

test('a complete controller line', () => {
  const sink = new DiagnosticSink(F);
  const e = parseControllerEntry(
    'transport=tcp;traddr=192.168.1.10;trsvcid=4420;nqn=nqn.2014-08.com.example:ioc;host-traddr=192.168.1.2;' +
      `host-iface=eth1;host-nqn=nqn.host;dhchap-secret=${SECRET48};dhchap-ctrl-secret=${SECRET_PAD};` +
      'hdr-digest=TRUE;data-digest=false;disable-sqflow=true;kato=10;reconnect-delay=5;ctrl-loss-tmo=-1;' +
      'queue-size=128;nr-io-queues=4;nr-write-queues=2;nr-poll-queues=1',
    7,
    'stacd',
    sink,
  );
  assert.deepEqual(e, {
    line: 7,
    transport: 'tcp',
    traddr: '192.168.1.10',
    trsvcid: '4420',
    subsysnqn: 'nqn.2014-08.com.example:ioc',
    hostTraddr: '192.168.1.2',
    hostIface: 'eth1',
    hostNqn: 'nqn.host',
    dhchapSecret: SECRET48,
    dhchapCtrlSecret: SECRET_PAD,
    overrides: {
      hdrDigest: true,
      dataDigest: false,
      disableSqflow: true,
      kato: 10,
      reconnectDelay: 5,
      ctrlLossTmo: -1,
      queueSize: 128,
      nrIoQueues: 4,
      nrWriteQueues: 2,
      nrPollQueues: 1,
    },
  });
  assert.deepEqual(sink.diagnostics, []);
});

test('= inside secret values is preserved (base64 padding)', () => {
  const sink = new DiagnosticSink(F);
  const e = parseControllerEntry(
    `transport=tcp;traddr=1.1.1.1;nqn=n;dhchap-secret=${SECRET_PAD}`,
    1,
    'stacd',
    sink,
  );
  assert.equal(e?.dhchapSecret, SECRET_PAD);
});

test('minimal lines: trsvcid not defaulted; stafd nqn defaults to the discovery NQN; stacd nqn mandatory', () => {
  const sink = new DiagnosticSink(F);
  assert.deepEqual(parseControllerEntry('transport=tcp;traddr=localhost', 3, 'stafd', sink), {
    line: 3,
    transport: 'tcp',
    traddr: 'localhost',
    subsysnqn: 'nqn.2014-08.org.nvmexpress.discovery',
    overrides: {},
  });
  assert.deepEqual(
    parseControllerEntry('transport=tcp;traddr=localhost;nqn=x', 3, 'stafd', sink)?.subsysnqn,
    'x',
  );
  assert.deepEqual(sink.diagnostics, []);
  assert.equal(parseControllerEntry('transport=tcp;traddr=localhost', 4, 'stacd', sink), undefined);
  assert.deepEqual(messages(sink), [
    `${P(4)}"transport=tcp;traddr=localhost" lacks mandatory field nqn. Entry will be ignored`,
  ]);
});

test('missing transport or traddr (or empty) drops the entry with a warning', () => {
  const sink = new DiagnosticSink(F);
  assert.equal(parseControllerEntry('traddr=1.2.3.4;nqn=n', 2, 'stacd', sink), undefined);
  assert.equal(parseControllerEntry('transport=tcp;nqn=n', 3, 'stacd', sink), undefined);
  assert.equal(parseControllerEntry('transport=tcp;traddr=;nqn=n', 4, 'stafd', sink), undefined);
  assert.equal(parseControllerEntry('', 5, 'stafd', sink), undefined);
  assert.deepEqual(messages(sink), [
    `${P(2)}"traddr=1.2.3.4;nqn=n" lacks mandatory field transport. Entry will be ignored`,
    `${P(3)}"transport=tcp;nqn=n" lacks mandatory field traddr. Entry will be ignored`,
    `${P(4)}"transport=tcp;traddr=;nqn=n" lacks mandatory field traddr. Entry will be ignored`,
    `${P(5)}"" lacks mandatory field transport. Entry will be ignored`,
  ]);
  assert.ok(sink.diagnostics.every((d) => d.level === 'warning'));
  assert.equal(sink.hasErrors, false);
});

test('transport must be tcp, rdma, fc or loop (case-sensitive)', () => {
  const sink = new DiagnosticSink(F);
  for (const t of ['tcp', 'rdma', 'fc', 'loop'])
    assert.equal(parseControllerEntry(`transport=${t};traddr=a;nqn=n`, 1, 'stacd', sink)?.transport, t);
  assert.equal(parseControllerEntry('transport=TCP;traddr=a;nqn=n', 9, 'stacd', sink), undefined);
  assert.equal(parseControllerEntry('transport=pcie;traddr=a;nqn=n', 10, 'stacd', sink), undefined);
  assert.deepEqual(messages(sink), [
    `${P(9)}invalid transport "TCP" (expected tcp, rdma, fc, loop). Entry will be ignored`,
    `${P(10)}invalid transport "pcie" (expected tcp, rdma, fc, loop). Entry will be ignored`,
  ]);
});

test('empty optional fields are absent', () => {
  const sink = new DiagnosticSink(F);
  const e = parseControllerEntry(
    'transport=tcp;traddr=a;nqn=n;trsvcid=;host-iface=;dhchap-secret=',
    1,
    'stacd',
    sink,
  );
  assert.deepEqual(e, { line: 1, transport: 'tcp', traddr: 'a', subsysnqn: 'n', overrides: {} });
});

test('invalid overrides are dropped with a warning; [Global]/default then applies', () => {
  const sink = new DiagnosticSink(F);
  const e = parseControllerEntry(
    'transport=tcp;traddr=a;nqn=n;hdr-digest=yes;kato=1.5;queue-size=8;queue-size=2048;nr-io-queues=0x4;ctrl-loss-tmo=600',
    12,
    'stacd',
    sink,
  );
  assert.deepEqual(e?.overrides, { ctrlLossTmo: 600 });
  assert.deepEqual(messages(sink), [
    `${P(12)}hdr-digest: Text check found invalid value "yes". [Global] value or default will be used`,
    `${P(12)}kato: Data converter found invalid value "1.5". [Global] value or default will be used`,
    `${P(12)}queue-size: "2048" is not within range 16..1024. [Global] value or default will be used`,
    `${P(12)}nr-io-queues: Data converter found invalid value "0x4". [Global] value or default will be used`,
  ]);
  const s2 = new DiagnosticSink(F);
  assert.deepEqual(
    parseControllerEntry('transport=tcp;traddr=a;nqn=n;queue-size=16', 1, 'stacd', s2)?.overrides,
    {
      queueSize: 16,
    },
  );
  assert.deepEqual(
    parseControllerEntry('transport=tcp;traddr=a;nqn=n;queue-size=1024', 1, 'stacd', s2)?.overrides,
    {
      queueSize: 1024,
    },
  );
  assert.deepEqual(s2.diagnostics, []);
});

test('unknown keys and malformed items: warning, kept out of the result', () => {
  const sink = new DiagnosticSink(F);
  const e = parseControllerEntry('transport=tcp;traddr=a;nqn=n;foo=bar;tron=true;garbage', 3, 'stacd', sink);
  assert.deepEqual(e, { line: 3, transport: 'tcp', traddr: 'a', subsysnqn: 'n', overrides: {} });
  assert.deepEqual(messages(sink), [
    `${P(3)}malformed item "garbage" (expected key=value) will be ignored`,
    `${P(3)}unknown key "foo" will be ignored`,
    `${P(3)}unknown key "tron" will be ignored`,
  ]);
});

test('secrets are never echoed in controller diagnostics', () => {
  const sink = new DiagnosticSink(F);
  parseControllerEntry(`transport=tcp;nqn=n;dhchap-secret=${SECRET48}`, 1, 'stacd', sink); // missing traddr
  parseControllerEntry(`transport=bad;traddr=a;nqn=n;dhchap-ctrl-secret=${SECRET_PAD}`, 2, 'stacd', sink);
  parseControllerEntry('transport=tcp;traddr=a;nqn=n;DHHC-1:00:abcdef:', 3, 'stacd', sink); // forgot the key
  parseControllerEntry(`transport=tcp;traddr=a;nqn=n;dhchap-secret ${SECRET_PAD}`, 4, 'stacd', sink);
  parseControllerEntry('transport=tcp;traddr=a;nqn=n;DHHC-1:00:abc=def', 5, 'stacd', sink); // split at the =
  parseExcludeEntry(`dhchap-secret=${SECRET48}`, 6, sink);
  parseExcludeEntry(`${SECRET_PAD}`, 7, sink);
  const all = messages(sink);
  assert.equal(all.length, 9);
  for (const m of all) {
    assert.ok(!m.includes('DHHC'), m);
    assert.ok(!m.includes('c2Vj'), m);
    assert.ok(!m.includes('abc'), m);
  }
  assert.deepEqual(all.slice(0, 2), [
    `${P(1)}"transport=tcp;nqn=n;dhchap-secret=<redacted>" lacks mandatory field traddr. Entry will be ignored`,
    `${P(2)}invalid transport "bad" (expected tcp, rdma, fc, loop). Entry will be ignored`,
  ]);
  assert.equal(all[2], `${P(3)}malformed item "<redacted>" (expected key=value) will be ignored`);
  assert.equal(all[4], `${P(5)}unknown key "<redacted>" will be ignored`);
});

test('exclude: fields by config spelling; nqn → subsysnqn; host-traddr removed with a warning', () => {
  const sink = new DiagnosticSink(F);
  assert.deepEqual(
    parseExcludeEntry(
      'transport=tcp;traddr=fe80::1;trsvcid=8009;nqn=n;host-iface=eth0;host-nqn=h;host-traddr=1.1.1.1',
      4,
      sink,
    ),
    {
      line: 4,
      fields: {
        transport: 'tcp',
        traddr: 'fe80::1',
        trsvcid: '8009',
        subsysnqn: 'n',
        'host-iface': 'eth0',
        'host-nqn': 'h',
      },
    },
  );
  assert.deepEqual(messages(sink), [
    `${P(4, 'exclude')}host-traddr does not apply to exclude= and will be ignored`,
  ]);
});

test('exclude: unusable keys and empty values are dropped with a warning', () => {
  const sink = new DiagnosticSink(F);
  assert.deepEqual(parseExcludeEntry('traddr=X;kato=5;foo=bar;trsvcid=', 2, sink), {
    line: 2,
    fields: { traddr: 'X' },
  });
  assert.deepEqual(messages(sink), [
    `${P(2, 'exclude')}key "kato" cannot be used to exclude and will be ignored`,
    `${P(2, 'exclude')}key "foo" cannot be used to exclude and will be ignored`,
    `${P(2, 'exclude')}empty value of trsvcid will be ignored`,
  ]);
});

test('exclude: an entry with no usable key is ignored (it would exclude everything)', () => {
  const sink = new DiagnosticSink(F);
  assert.equal(parseExcludeEntry('', 3, sink), undefined);
  assert.equal(parseExcludeEntry(' ; ;', 4, sink), undefined);
  assert.equal(parseExcludeEntry('garbage', 5, sink), undefined);
  assert.equal(parseExcludeEntry('host-traddr=1.1.1.1', 6, sink), undefined);
  const m = messages(sink);
  assert.ok(
    m.includes(
      `${P(3, 'exclude')}"" has no usable key=value item. Entry will be ignored (it would exclude every controller)`,
    ),
  );
  assert.ok(
    m.includes(
      `${P(4, 'exclude')}" ; ;" has no usable key=value item. Entry will be ignored (it would exclude every controller)`,
    ),
  );
  assert.ok(m.includes(`${P(5, 'exclude')}malformed item "garbage" (expected key=value) will be ignored`));
  assert.equal(m.filter((x) => x.includes('has no usable')).length, 4);
});
