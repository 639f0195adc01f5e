import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import dbus from 'dbus-next/index.js';
import {
  DBusError,
  DBusWireError,
  encodeMessage,
  errorReply,
  isValidBusName,
  isValidInterfaceName,
  isValidMemberName,
  isValidObjectPath,
  type Message,
  MessageFlag,
  MessageParser,
  MessageType,
  message,
  methodReturn,
  signal,
  Variant,
} from '../../src/core/dbus/message.js';
import { parseSignature } from '../../src/core/dbus/signature.js';
import { marshal, WireWriter } from '../../src/core/dbus/wire.js';
import { prng } from '../support/prng.js';

const require = createRequire(import.meta.url);
/** dbus-next's own marshaller (the plain-JS body format its connection uses) and unmarshaller. */
const compat = require('dbus-next/lib/marshall-compat.js') as {
  marshallMessage(m: object): [Buffer, unknown[]];
  messageToJsFmt(m: object): Record<string, unknown> & { body: unknown[] };
};
const dnMessage = require('dbus-next/lib/message.js') as { unmarshall(b: Buffer): object };

const V = dbus.Variant;
const throwsWire = (f: () => unknown, re?: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof DBusWireError && (!re || re.test(e.message)));

/** Variants of either library as plain tagged objects, for comparing values across the two. */
function norm(v: unknown): unknown {
  if (v instanceof Variant || v instanceof V) return { variant: v.signature, value: norm(v.value) };
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

const HEADER = [
  'type',
  'flags',
  'serial',
  'path',
  'interface',
  'member',
  'errorName',
  'replySerial',
] as const;
const HEADER2 = ['destination', 'sender', 'signature'] as const;
function header(m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of [...HEADER, ...HEADER2]) if (m[k] !== undefined && m[k] !== '') out[k] = m[k];
  return out;
}

const call = message({ serial: 7, path: '/org/x', member: 'Go', sender: ':1.42', destination: 'org.x' });

/** Representative messages, bodies written with dbus-next's Variant class so both libraries take them. */
const SAMPLES: [string, Message][] = [
  [
    'method call with every basic type but h',
    message({
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'Every',
      destination: 'org.freedesktop.DBus',
      flags: MessageFlag.NO_AUTO_START,
      signature: 'ybnqiuxtdsog',
      body: [
        0xff,
        true,
        -0x8000,
        0xffff,
        -0x80000000,
        0xffffffff,
        -(2n ** 63n) + 1n,
        2n ** 64n - 1n,
        Math.PI,
        'héllo wörld ✓',
        '/org/nvmexpress/staf',
        'a{sv}(ii)',
      ],
    }),
  ],
  [
    'array of structs',
    message({
      path: '/a',
      member: 'List',
      signature: 'a(sub)a(yt)',
      body: [
        [
          ['one', 1, true],
          ['two', 2, false],
        ],
        [
          [1, 5n],
          [2, 6n],
        ],
      ],
    }),
  ],
  [
    'a{sv} with nested variants',
    message({
      path: '/a',
      interface: 'org.freedesktop.DBus.Properties',
      member: 'Set',
      signature: 'a{sv}',
      body: [
        {
          s: new V('s', 'x'),
          vv: new V('v', new V('u', 5)),
          dict: new V('a{sv}', { inner: new V('ai', [1, -2, 3]), t: new V('t', 9n) }),
          st: new V('(sd)', ['q', 0.25]),
          ay: new V('ay', Buffer.from('bytes')),
        },
      ],
    }),
  ],
  [
    'aa{ss}',
    message({
      path: '/a',
      member: 'Dicts',
      signature: 'aa{ss}',
      body: [[{ transport: 'tcp', traddr: '10.0.0.1' }, {}, { a: 'b' }]],
    }),
  ],
  ['ay', message({ path: '/a', member: 'Bytes', signature: 'ayy', body: [Buffer.from([0, 1, 2, 255]), 9] })],
  [
    'empty arrays of 8-aligned elements',
    message({
      path: '/a',
      member: 'Empty',
      signature: 'yatya(ii)ya{sv}yadyaay',
      body: [1, [], 2, [], 3, {}, 4, [], 5, []],
    }),
  ],
  [
    'signal',
    signal('/org/nvmexpress/staf', 'org.nvmexpress.staf', 'log_pages_changed', 'ssa{sv}as', [
      'tcp',
      'nqn.2014-08.org.nvmexpress.discovery',
      { n: new V('q', 4420) },
      ['a', 'b'],
    ]),
  ],
  ['signal without body', signal('/', 'org.x.Y', 'Ping')],
  ['error', errorReply(call, 'org.freedesktop.DBus.Error.Failed', 'it broke')],
  ['method return', methodReturn(call, 'sv', ['ok', new V('as', [])])],
  ['empty method return', methodReturn(call)],
];

const withSerial = (m: Message, serial: number) => ({ ...m, serial });

test('byte-identical to dbus-next for representative messages', () => {
  let serial = 1;
  for (const [name, m] of SAMPLES) {
    serial++;
    const ours = encodeMessage(m, serial);
    const [theirs] = compat.marshallMessage(withSerial(m, serial));
    assert.equal(ours.toString('hex'), theirs.toString('hex'), name);
  }
});

test('our Variant class encodes the same as dbus-next', () => {
  const a = message({
    path: '/a',
    member: 'M',
    signature: 'va{sv}',
    body: [new Variant('u', 1), { k: new Variant('s', 'v') }],
  });
  const b = message({
    path: '/a',
    member: 'M',
    signature: 'va{sv}',
    body: [new V('u', 1), { k: new V('s', 'v') }],
  });
  assert.deepEqual(encodeMessage(a, 3), compat.marshallMessage(withSerial(b, 3))[0]);
});

test('round trip: ours → ours, ours → dbus-next, dbus-next → ours', () => {
  let serial = 100;
  for (const [name, m] of SAMPLES) {
    serial++;
    const ours = encodeMessage(m, serial);
    const [back] = new MessageParser().push(ours) as [Message];
    assert.deepEqual(header(back as unknown as Record<string, unknown>), header(withSerial(m, serial)), name);
    assert.deepEqual(norm(back.body), norm(m.body), name);
    if (m.signature !== '') {
      const theirs = compat.messageToJsFmt(dnMessage.unmarshall(ours));
      assert.deepEqual(header(theirs), header(withSerial(m, serial)), name);
      assert.deepEqual(norm(theirs.body), norm(m.body), name);
    }
    const [fromThem] = new MessageParser().push(compat.marshallMessage(withSerial(m, serial))[0]) as [
      Message,
    ];
    assert.deepEqual(norm(fromThem), norm(back), name);
  }
});

test('decoded messages have the Message shape', () => {
  const [m] = new MessageParser().push(encodeMessage(SAMPLES[2]![1], 5)) as [Message];
  assert.deepEqual(Object.keys(m).sort(), [
    'body',
    'flags',
    'interface',
    'member',
    'path',
    'serial',
    'signature',
    'type',
  ]);
  const v = (m.body[0] as Record<string, Variant>).vv!;
  assert.ok(v instanceof Variant);
  assert.ok(v.value instanceof Variant);
  assert.deepEqual(v, new Variant('v', new Variant('u', 5)));
  // dict keys of integer types become string property names, as dbus-next gives them
  const [d] = new MessageParser().push(
    encodeMessage(message({ path: '/a', member: 'M', signature: 'a{us}', body: [new Map([[3, 'x']])] }), 1),
  ) as [Message];
  assert.deepEqual(d.body, [{ 3: 'x' }]);
  const theirs = compat.messageToJsFmt(
    dnMessage.unmarshall(
      encodeMessage(message({ path: '/a', member: 'M', signature: 'a{us}', body: [{ 3: 'x' }] }), 1),
    ),
  );
  assert.deepEqual(theirs.body, [{ 3: 'x' }]);
});

test('builders', () => {
  assert.deepEqual(message({}), {
    type: MessageType.METHOD_CALL,
    flags: 0,
    serial: 0,
    signature: '',
    body: [],
  });
  assert.deepEqual(methodReturn(call, 's', ['x']), {
    type: MessageType.METHOD_RETURN,
    flags: 0,
    serial: 0,
    replySerial: 7,
    destination: ':1.42',
    signature: 's',
    body: ['x'],
  });
  assert.deepEqual(errorReply(call, 'org.x.Error.Bad'), {
    type: MessageType.ERROR,
    flags: 0,
    serial: 0,
    replySerial: 7,
    destination: ':1.42',
    errorName: 'org.x.Error.Bad',
    signature: '',
    body: [],
  });
  assert.deepEqual(errorReply(call, 'org.x.Error.Bad', 'why').body, ['why']);
  throwsWire(() => errorReply(call, 'Bad'));
  throwsWire(() => errorReply(call, 'org.x.1Bad'));
  const s = signal('/p', 'org.x.I', 'Changed', 'u', [1]);
  assert.deepEqual(s, {
    type: MessageType.SIGNAL,
    flags: 0,
    serial: 0,
    path: '/p',
    interface: 'org.x.I',
    member: 'Changed',
    signature: 'u',
    body: [1],
  });
  const e = new DBusError('org.x.Error.Bad', 'broken');
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'DBusError');
  assert.equal(e.message, 'broken');
  assert.equal(e.type, 'org.x.Error.Bad');
  assert.equal(e.text, 'broken');
  assert.equal(e.reply, null);
  assert.equal(new DBusError('org.x.E').text, '');
});

test('validators', () => {
  for (const n of [':1.42', ':1.0', 'org.freedesktop.DBus', 'org.nvme-x.stafd', '_a.b', 'a.b0'])
    assert.ok(isValidBusName(n), n);
  for (const n of [
    '',
    'org',
    ':1',
    'org..x',
    '.org.x',
    'org.x.',
    'org.0x',
    'a b.c',
    'x'.repeat(250) + '.yyyyy',
    1,
  ])
    assert.ok(!isValidBusName(n), String(n));
  for (const n of ['org.freedesktop.DBus.Properties', 'a._b']) assert.ok(isValidInterfaceName(n), n);
  for (const n of ['org', 'org.x-y', 'org.0x', 'org..x', ':1.2', '']) assert.ok(!isValidInterfaceName(n), n);
  for (const n of ['Get', '_x', 'a0']) assert.ok(isValidMemberName(n), n);
  for (const n of ['', '0a', 'a.b', 'a-b', 'x'.repeat(256)]) assert.ok(!isValidMemberName(n), n);
  for (const p of ['/', '/a', '/a/b_0/C']) assert.ok(isValidObjectPath(p), p);
  for (const p of ['', 'a', '//', '/a/', '/a//b', '/a-b', '/a.b']) assert.ok(!isValidObjectPath(p), p);
});

test('encodeMessage refuses what it cannot send', () => {
  const bad: MessageInit[] = [
    { member: 'M' }, // no path
    { path: '/a' }, // no member
    { type: MessageType.SIGNAL, path: '/a', member: 'M' }, // no interface
    { type: MessageType.ERROR, replySerial: 1 }, // no error name
    { type: MessageType.ERROR, errorName: 'a.b' }, // no reply serial
    { type: MessageType.METHOD_RETURN },
    { type: 9, path: '/a', member: 'M' },
    { path: 'a', member: 'M' },
    { path: '/a', member: 'M.x' },
    { path: '/a', member: 'M', interface: 'x' },
    { path: '/a', member: 'M', destination: 'x' },
    { path: '/a', member: 'M', sender: 'x..y' },
    { type: MessageType.ERROR, errorName: 'bad', replySerial: 1 },
    { type: MessageType.METHOD_RETURN, replySerial: 2 ** 32 },
    { path: '/a', member: 'M', flags: 256 },
    { path: '/a', member: 'M', signature: 's', body: [] },
    { path: '/a', member: 'M', signature: 's', body: [1] },
    { path: '/a', member: 'M', signature: '', body: [1] },
    { path: '/a', member: 'M', signature: 'a{', body: [] },
  ];
  for (const init of bad) throwsWire(() => encodeMessage(message(init), 1));
  throwsWire(() => encodeMessage(message({ path: '/a', member: 'M' }), 0));
  throwsWire(() => encodeMessage(message({ path: '/a', member: 'M' }), 2 ** 32));
  // too long: refused while writing, before the 128 MiB are all there
  const big = Buffer.alloc(0x4000000 - 1);
  throwsWire(() =>
    encodeMessage(message({ path: '/a', member: 'M', signature: 'ayay', body: [big, big] }), 1),
  );
  // the scratch buffer is fine after a failure
  assert.equal(
    encodeMessage(SAMPLES[0]![1], 2).toString('hex'),
    compat.marshallMessage(withSerial(SAMPLES[0]![1], 2))[0].toString('hex'),
  );
});

type MessageInit = Parameters<typeof message>[0];

/** All the sample messages back to back. */
const STREAM = Buffer.concat(SAMPLES.map(([, m], i) => encodeMessage(m, i + 1)));

test('the parser returns the same messages fed in one chunk, byte by byte, or in odd pieces', () => {
  const whole = new MessageParser().push(STREAM);
  assert.equal(whole.length, SAMPLES.length);
  const p = new MessageParser();
  const bytewise: Message[] = [];
  for (let i = 0; i < STREAM.length; i++) bytewise.push(...p.push(STREAM.subarray(i, i + 1)));
  assert.deepEqual(bytewise, whole);
  const q = new MessageParser();
  const pieces: Message[] = [];
  for (let i = 0, n = 1; i < STREAM.length; i += n, n = (n * 7) % 61 || 1)
    pieces.push(...q.push(STREAM.subarray(i, i + n)));
  assert.deepEqual(pieces, whole);
  assert.deepEqual(new MessageParser().push(Buffer.alloc(0)), []);
});

test('a big message in many chunks is assembled once', () => {
  const body = Buffer.alloc(4 << 20, 7);
  const bytes = encodeMessage(message({ path: '/a', member: 'M', signature: 'ay', body: [body] }), 1);
  const p = new MessageParser();
  let got: Message[] = [];
  for (let i = 0; i < bytes.length; i += 1000) got = got.concat(p.push(bytes.subarray(i, i + 1000)));
  assert.equal(got.length, 1);
  assert.deepEqual(got[0]!.body[0], body);
});

/** A message with the given header fields (code, signature, value) and raw body bytes. */
function raw(o: {
  type?: number;
  serial?: number;
  fields: [number, string, unknown][];
  body?: Buffer;
  endian?: number;
  version?: number;
}): Buffer {
  const w = new WireWriter();
  const body = o.body ?? Buffer.alloc(0);
  marshal(w, parseSignature('yyyyuua(yv)'), [
    o.endian ?? 0x6c,
    o.type ?? 1,
    0,
    o.version ?? 1,
    body.length,
    o.serial ?? 1,
    o.fields.map(([c, s, v]) => [c, new Variant(s, v)]),
  ]);
  w.align(8);
  w.bytes(body);
  return w.result();
}

/** Body bytes written by `f`. */
function bodyOf(f: (w: WireWriter) => void): Buffer {
  const w = new WireWriter();
  f(w);
  return w.result();
}

const CALL: [number, string, unknown][] = [
  [1, 'o', '/a'],
  [3, 's', 'M'],
];

test('big-endian messages are parsed', () => {
  const b = Buffer.alloc(55);
  b.write('B', 0, 'latin1');
  b[1] = MessageType.METHOD_RETURN;
  b[3] = 1;
  b.writeUInt32BE(15, 4); // body length
  b.writeUInt32BE(9, 8); // serial
  b.writeUInt32BE(17, 12); // header fields length
  Buffer.from('050175000000000508016700', 'hex').copy(b, 16); // REPLY_SERIAL u 5, SIGNATURE g …
  Buffer.from('03756e7300', 'hex').copy(b, 28); // … "uns"
  b.writeUInt32BE(0x01020304, 40);
  b.writeInt16BE(-2, 44);
  b.writeUInt32BE(2, 48);
  b.write('hi', 52, 'latin1');
  assert.deepEqual(new MessageParser().push(b), [
    { type: 2, flags: 0, serial: 9, replySerial: 5, signature: 'uns', body: [0x01020304, -2, 'hi'] },
  ]);
});

test('unknown header fields and UNIX_FDS are skipped; unknown message types ignored', () => {
  const m = raw({ fields: [...CALL, [9, 'u', 0], [77, 'a{sv}', { x: new Variant('s', 'y') }]] });
  assert.deepEqual(new MessageParser().push(m), [
    { type: 1, flags: 0, serial: 1, path: '/a', member: 'M', signature: '', body: [] },
  ]);
  const p = new MessageParser();
  assert.deepEqual(p.push(Buffer.concat([raw({ type: 5, fields: [] }), m])).length, 1);
});

test('malformed messages throw DBusWireError, and the parser stays failed', () => {
  const call = (body: Buffer, sig: string) => raw({ fields: [...CALL, [8, 'g', sig]], body });
  const cases: [string, Buffer][] = [
    ['endianness', raw({ endian: 0x58, fields: CALL })],
    ['version', raw({ version: 2, fields: CALL })],
    ['serial 0', raw({ serial: 0, fields: CALL })],
    ['type 0', raw({ type: 0, fields: CALL })],
    ['no member', raw({ fields: [[1, 'o', '/a']] })],
    ['signal without interface', raw({ type: 4, fields: CALL })],
    ['error without reply serial', raw({ type: 3, fields: [[4, 's', 'a.b']] })],
    ['return without reply serial', raw({ type: 2, fields: [] })],
    [
      'path as string',
      raw({
        fields: [
          [1, 's', '/a'],
          [3, 's', 'M'],
        ],
      }),
    ],
    [
      'member as uint',
      raw({
        fields: [
          [1, 'o', '/a'],
          [3, 'u', 1],
        ],
      }),
    ],
    ['signature as string', raw({ fields: [...CALL, [8, 's', 'u']] })],
    [
      'bad member',
      raw({
        fields: [
          [1, 'o', '/a'],
          [3, 's', '1M'],
        ],
      }),
    ],
    ['bad interface', raw({ fields: [...CALL, [2, 's', 'x']] })],
    ['bad destination', raw({ fields: [...CALL, [6, 's', 'x']] })],
    ['reply serial 0', raw({ type: 2, fields: [[5, 'u', 0]] })],
    ['body without signature', raw({ fields: CALL, body: Buffer.from([1]) })],
    ['body shorter than signature', call(Buffer.from([1]), 'u')],
    ['trailing bytes in body', call(Buffer.from([1, 2]), 'y')],
    [
      'boolean 2',
      call(
        bodyOf((w) => w.u32(2)),
        'b',
      ),
    ],
    [
      'bad object path in body',
      call(
        bodyOf((w) => w.string('/a//b')),
        'o',
      ),
    ],
    ['invalid UTF-8', call(Buffer.from('01000000ff00', 'hex'), 's')],
    [
      'nested too deep',
      call(Buffer.concat([Buffer.from('017600'.repeat(70), 'hex'), Buffer.from('01790005', 'hex')]), 'v'),
    ],
  ];
  for (const [name, bytes] of cases) {
    const p = new MessageParser();
    assert.throws(() => p.push(bytes), DBusWireError, name);
    assert.throws(() => p.push(STREAM), DBusWireError, `${name}: stays failed`);
  }
  // non-zero padding between the header and the body
  const m = encodeMessage(message({ path: '/a', member: 'M', signature: 'y', body: [1] }), 1);
  const padAt = m.length - 2;
  assert.equal(m[padAt], 0);
  m[padAt] = 1;
  assert.throws(() => new MessageParser().push(m), DBusWireError);
});

test('the length bound is checked from the fixed header, before the rest arrives', () => {
  const head = Buffer.alloc(16);
  head.write('l', 0, 'latin1');
  head[1] = 1;
  head[3] = 1;
  head.writeUInt32LE(1, 8);
  head.writeUInt32LE(2000, 4); // body length
  const small = new MessageParser({ maxMessageBytes: 1024 });
  assert.deepEqual(small.push(head.subarray(0, 15)), []);
  assert.throws(() => small.push(head.subarray(15)), /longer than 1024/);
  head.writeUInt32LE(0x8000000, 4);
  assert.throws(() => new MessageParser().push(head), DBusWireError);
  head.writeUInt32LE(0, 4);
  head.writeUInt32LE(0x4000001, 12); // header fields longer than an array may be
  assert.throws(() => new MessageParser().push(head), DBusWireError);
  // under the bound: waits for the rest
  head.writeUInt32LE(0, 12);
  head.writeUInt32LE(1000, 4);
  assert.deepEqual(new MessageParser({ maxMessageBytes: 1024 }).push(head), []);
});

test('fuzz: altered messages parse or throw DBusWireError, nothing else', () => {
  const rand = prng(0x5eed);
  const inputs = SAMPLES.map(([, m], i) => encodeMessage(m, i + 1));
  let parsed = 0;
  let refused = 0;
  for (let round = 0; round < 4000; round++) {
    const src = inputs[round % inputs.length]!;
    const b = Buffer.from(src);
    const flips = 1 + Math.floor(rand() * 3);
    for (let f = 0; f < flips; f++) {
      const at = Math.floor(rand() * b.length);
      b[at] = rand() < 0.5 ? b[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
    }
    const cut = rand() < 0.2 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
    const p = new MessageParser();
    try {
      if (rand() < 0.5) p.push(cut);
      else for (let i = 0; i < cut.length; i += 7) p.push(cut.subarray(i, i + 7));
      parsed++;
    } catch (e) {
      assert.ok(e instanceof DBusWireError, `round ${round}: ${(e as Error)?.stack}`);
      refused++;
    }
  }
  assert.ok(parsed > 0 && refused > 0, `${parsed} parsed, ${refused} refused`);
  // random bytes
  for (let round = 0; round < 500; round++) {
    const b = Buffer.alloc(16 + Math.floor(rand() * 200));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
    b[0] = rand() < 0.5 ? 0x6c : 0x42;
    b[3] = 1;
    b.writeUInt32LE(Math.floor(rand() * 64), 4);
    b.writeUInt32LE(Math.floor(rand() * 64), 12);
    try {
      new MessageParser().push(b);
    } catch (e) {
      assert.ok(e instanceof DBusWireError, `random ${round}: ${(e as Error)?.stack}`);
    }
  }
});
