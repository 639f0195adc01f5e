import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DBusWireError } from '../../src/core/dbus/errors.js';
import { type DType, parseSignature, signatureOf } from '../../src/core/dbus/signature.js';
import { marshal, unmarshal, Variant, WireReader, WireWriter } from '../../src/core/dbus/wire.js';

function encode(sig: string, values: unknown[]): Buffer {
  const w = new WireWriter(8);
  marshal(w, parseSignature(sig), values);
  return w.result();
}

function decode(sig: string, buf: Buffer, littleEndian = true): unknown[] {
  const r = new WireReader(buf, 0, buf.length, littleEndian);
  const out = unmarshal(r, parseSignature(sig));
  assert.equal(r.pos, buf.length, 'everything read');
  return out;
}

const throwsWire = (f: () => unknown, re?: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof DBusWireError && (!re || re.test(e.message)));

test('signatures parse into trees and print back', () => {
  for (const sig of [
    '',
    'y',
    'a{sv}',
    'aa{ss}',
    '(y(qd)s)',
    'a(sub)',
    'ybnqiuxtdhsogv',
    'a{oa{sa{sv}}}',
    'aay',
  ])
    assert.equal(parseSignature(sig).map(signatureOf).join(''), sig);
  const [t] = parseSignature('a{sv}') as [DType];
  assert.deepEqual(t, {
    code: 'a',
    children: [
      {
        code: '{',
        children: [
          { code: 's', children: [] },
          { code: 'v', children: [] },
        ],
      },
    ],
  });
});

test('invalid signatures throw DBusWireError', () => {
  const deep = (n: number, open: string, close: string) => open.repeat(n) + 'y' + close.repeat(n);
  for (const sig of [
    'a',
    '(',
    '(y',
    ')',
    'y)',
    '()',
    '{sv}',
    'a{vs}',
    'a{(y)s}',
    'a{ays}',
    'a{s}',
    'a{sss}',
    'a{sv',
    'r',
    'z',
    'y\0',
    'e',
    'a'.repeat(33) + 'y',
    deep(33, '(', ')'),
    deep(33, 'a{s', '}'),
    'y'.repeat(256),
  ])
    throwsWire(() => parseSignature(sig), undefined);
  parseSignature('a'.repeat(32) + 'y');
  parseSignature(deep(32, '(', ')'));
  parseSignature('y'.repeat(255));
});

test('every basic type is written little-endian, aligned, and read back', () => {
  const values = [
    0xff,
    true,
    -0x8000,
    0xffff,
    -0x80000000,
    0xffffffff,
    -(2n ** 63n),
    2n ** 64n - 1n,
    -1.5,
    7,
    'héllo',
    '/org/x',
    'a{sv}',
  ];
  const buf = encode('ybnqiuxtdhsog', values);
  assert.equal(
    buf.toString('hex'),
    [
      'ff000000', // y + pad
      '01000000', // b
      '0080ffff', // n, q
      '00000080', // i
      'ffffffff', // u
      '00000000', // pad
      '0000000000000080', // x
      'ffffffffffffffff', // t
      '000000000000f8bf', // d
      '07000000', // h
      '06000000', // s length
      '68c3a96c6c6f00', // héllo\0
      '00', // pad
      '06000000', // o
      '2f6f72672f7800', // /org/x\0
      '05', // g
      '617b73767d00', // a{sv}\0
    ].join(''),
  );
  assert.deepEqual(decode('ybnqiuxtdhsog', buf), values);
});

test('numbers accepted for 64-bit types when safe integers, bigints returned', () => {
  assert.deepEqual(decode('xt', encode('xt', [-5, 5])), [-5n, 5n]);
  throwsWire(() => encode('t', [2 ** 53]));
  throwsWire(() => encode('t', [-1n]));
  throwsWire(() => encode('x', [2n ** 63n]));
});

test('wrong or out-of-range values are refused with DBusWireError', () => {
  const cases: [string, unknown][] = [
    ['y', 256],
    ['y', -1],
    ['y', 1.5],
    ['y', '1'],
    ['n', 0x8000],
    ['q', -1],
    ['i', 2 ** 31],
    ['u', 2 ** 32],
    ['u', 1n],
    ['b', 2],
    ['b', 'true'],
    ['d', '1'],
    ['s', 1],
    ['s', 'a\0b'],
    ['o', 'org/x'],
    ['o', '/org/'],
    ['o', '/org//x'],
    ['o', '/org/x-y'],
    ['g', 'a{'],
    ['v', 'x'],
    ['v', new Variant('ss', 'x')],
    ['v', new Variant('u', 'x')],
    ['as', 'abc'],
    ['as', [1]],
    ['ay', [256]],
    ['a{sv}', ['x']],
    ['a{ss}', { a: 1 }],
    ['a{us}', { x: 'y' }],
    ['(ii)', [1]],
    ['(ii)', [1, 2, 3]],
    ['s', undefined],
    ['s', null],
  ];
  for (const [sig, v] of cases) throwsWire(() => encode(sig, [v]));
  throwsWire(() => encode('ss', ['a']));
});

test('ay: Buffer, Uint8Array or number[] written, Buffer (a copy) read', () => {
  const want = Buffer.from([1, 2, 3]);
  for (const v of [want, new Uint8Array([1, 2, 3]), [1, 2, 3]]) {
    const buf = encode('ay', [v]);
    assert.equal(buf.toString('hex'), '03000000010203');
    const [got] = decode('ay', buf) as [Buffer];
    assert.ok(Buffer.isBuffer(got));
    assert.deepEqual(got, want);
    buf[4] = 9;
    assert.equal(got[0], 1, 'not a view of the message');
  }
});

test('empty arrays of 8-aligned elements still pad to 8', () => {
  assert.equal(encode('yat', [1, []]).toString('hex'), '01000000' + '00000000');
  assert.equal(encode('ya(ii)', [1, []]).toString('hex'), '01000000' + '00000000');
  assert.equal(encode('a{sv}', [{}]).toString('hex'), '00000000' + '00000000');
  assert.equal(encode('ai', [[]]).toString('hex'), '00000000');
  assert.deepEqual(decode('yat', encode('yat', [1, []])), [1, []]);
  assert.deepEqual(decode('a{sv}', encode('a{sv}', [{}])), [{}]);
});

test('dicts: plain objects and Maps written, plain objects with string keys read', () => {
  const a = encode('a{sv}', [{ a: new Variant('u', 1), b: new Variant('as', ['x']) }]);
  const b = encode('a{sv}', [
    new Map<string, Variant>([
      ['a', new Variant('u', 1)],
      ['b', new Variant('as', ['x'])],
    ]),
  ]);
  assert.deepEqual(a, b);
  assert.deepEqual(decode('a{sv}', a), [{ a: new Variant('u', 1), b: new Variant('as', ['x']) }]);
  // numeric keys: object property names converted on write, String(key) on read (as dbus-next)
  const u = encode('a{ub}', [{ 7: true, 42: false }]);
  assert.deepEqual(
    u,
    encode('a{ub}', [
      new Map([
        [7, true],
        [42, false],
      ]),
    ]),
  );
  assert.deepEqual(decode('a{ub}', u), [{ 7: true, 42: false }]);
  assert.deepEqual(decode('a{xs}', encode('a{xs}', [{ '-3': 'm' }])), [{ '-3': 'm' }]);
  assert.deepEqual(decode('a{bs}', encode('a{bs}', [new Map([[true, 't']])])), [{ true: 't' }]);
  // a key "__proto__" is an own property, not the prototype
  const [p] = decode('a{ss}', encode('a{ss}', [new Map([['__proto__', 'x']])])) as [Record<string, string>];
  assert.equal(Object.getPrototypeOf(p), Object.prototype);
  assert.deepEqual(Object.keys(p), ['__proto__']);
});

test('structs, nested arrays, variants in variants', () => {
  const sig = 'a(sub)aa{ss}(y(qd)s)v';
  const values = [
    [
      ['a', 1, true],
      ['b', 2, false],
    ],
    [{}, { k: 'v' }, { a: 'b', c: 'd' }],
    [1, [2, 0.5], 'z'],
    new Variant('v', new Variant('a{sv}', { n: new Variant('t', 5n) })),
  ];
  assert.deepEqual(decode(sig, encode(sig, values)), values);
  // duck-typed variants (another library's Variant class) are written too
  assert.deepEqual(encode('v', [{ signature: 'u', value: 3 }]), encode('v', [new Variant('u', 3)]));
});

test('big-endian data is read', () => {
  const buf = Buffer.from('00000102' + 'fffe0000' + '0000000000000003' + '00000002' + '686900', 'hex');
  assert.deepEqual(decode('unts', buf, false), [0x102, -2, 3n, 'hi']);
});

test('reading malformed data throws DBusWireError', () => {
  const cases: [string, string][] = [
    ['b', '02000000'], // boolean not 0/1
    ['s', '0200000061'], // ends early
    ['s', '020000006162'], // no NUL
    ['s', '0300000061006200'], // NUL inside
    ['s', '02000000c32800'], // invalid UTF-8
    ['s', '03000000eda08000'], // UTF-16 surrogate in UTF-8
    ['o', '030000002f2f6100'], // bad object path
    ['g', '0261{00'], // bad signature
    ['g', '02617b00'],
    ['v', '02737300'], // variant of two types
    ['y', ''],
    ['ay', '05000000010203'], // array longer than data
    ['ai', '0300000001000000'], // element runs past the array
    ['at', '0800000001000000' + '0000000000000000'], // non-zero padding
    ['(yy)', '01'],
    ['ai', 'ffffffff'],
  ];
  for (const [sig, hex] of cases) throwsWire(() => decode(sig, Buffer.from(hex, 'hex')), undefined);
  // a valid string with U+FFFD is not mistaken for bad UTF-8
  assert.deepEqual(decode('s', encode('s', ['a\uFFFDb'])), ['a\uFFFDb']);
});

test('nesting is bounded: variants 64 deep are refused, not a stack overflow', () => {
  let v: unknown = 1;
  for (let i = 0; i < 70; i++) v = new Variant(i === 0 ? 'y' : 'v', v);
  throwsWire(() => encode('v', [v]), /deep/);
  const self: unknown[] = [];
  self.push(new Variant('av', self));
  throwsWire(() => encode('av', [self]), /deep/);
  const deep = Buffer.concat([Buffer.from('017600'.repeat(70), 'hex'), Buffer.from('01790005', 'hex')]);
  throwsWire(() => decode('v', deep), /deep/);
  let ok: unknown = 5;
  for (let i = 0; i < 60; i++) ok = new Variant(i === 0 ? 'y' : 'v', ok);
  assert.deepEqual(decode('v', encode('v', [ok])), [ok]);
});

test('the writer grows and respects its limit', () => {
  const w = new WireWriter(1, 64);
  marshal(w, parseSignature('s'), ['x'.repeat(40)]);
  assert.equal(w.result().length, 45);
  throwsWire(() => marshal(w, parseSignature('s'), ['x'.repeat(40)]), /longer/);
});
