// Golden tests of src/core/pprint.ts against CPython's pprint.pformat (the format stafctl/stacctl must reproduce).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { test } from 'node:test';
import {
  compareCodePoints,
  type PyValue,
  pformat,
  pyFloatRepr,
  pyLen,
  pyStrRepr,
} from '../../src/core/pprint.js';
import { prng } from '../support/prng.js';

const PYTHON = '/usr/bin/python3';

function havePython(): boolean {
  try {
    accessSync(PYTHON, constants.X_OK);
    return spawnSync(PYTHON, ['-c', 'import pprint, json']).status === 0;
  } catch {
    return false;
  }
}

const skip = havePython() ? false : `${PYTHON} is not installed: no CPython to compare with`;

/** CPython's pformat of each value (after a JSON round trip, as the CLIs see D-Bus data), in one process. */
function pythonPformat(values: readonly PyValue[], width = 120): string[] {
  const script =
    'import pprint, json, sys\n' +
    'w = int(sys.argv[1])\n' +
    'vals = json.loads(sys.stdin.buffer.read().decode("utf-8"))\n' +
    'sys.stdout.buffer.write(json.dumps([pprint.pformat(v, width=w) for v in vals]).encode("ascii"))\n';
  const r = spawnSync(PYTHON, ['-c', script, String(width)], {
    input: JSON.stringify(values),
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString()) as string[];
}

function compare(values: readonly PyValue[], width = 120): void {
  const want = pythonPformat(values, width);
  values.forEach((v, i) => {
    assert.equal(pformat(v, { width }), want[i], `value #${i} (width ${width}): ${JSON.stringify(v)}`);
  });
}

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const DISC = 'nqn.2014-08.org.nvmexpress.discovery';

const dc = (i: number): Record<string, string> => ({
  traddr: `192.168.${i}.20`,
  trsvcid: '8009',
  transport: 'tcp',
  subsysnqn: DISC,
  'host-iface': i % 2 ? 'enp0s8' : '',
  'host-traddr': '',
  'host-nqn': HOSTNQN,
  device: i % 3 ? `nvme${i}` : 'nvme?',
});

const dlpe = (i: number): Record<string, string> => ({
  trtype: 'tcp',
  adrfam: i % 2 ? 'ipv6' : 'ipv4',
  traddr: i % 2 ? `fe80::aa:bb:cc:${i}` : `10.10.1.${i}`,
  trsvcid: '4420',
  subnqn: `nqn.1988-11.com.dell:powerstore:00:2a64abf1c5b81F6C4549-${i}`,
  subtype: i === 0 ? 'discovery' : 'nvme',
  treq: 'not specified',
  portid: String(i),
  cntlid: '65535',
  asqsz: '32',
  eflags: '0',
  tsas: "{'sectype': 'none'}",
});

const detailed = (i: number): Record<string, string> => ({
  ...dc(i),
  'connect attempts': '0',
  'retry connect timer': '60.0s [off]',
  'connect operation': "{'fail count': 0, 'completed': False, 'alive': True}",
  origin: 'configured',
  hostid: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  hostnqn: HOSTNQN,
  model: 'Linux',
  serial: '4c8f3a0e26b1b3c5',
  dctype: 'ddc',
  cntrltype: 'discovery',
  connected: 'True',
  'dhchap-secret': 'DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:',
});

const status: PyValue = {
  tron: false,
  'log-level': 'INFO',
  hostnqn: HOSTNQN,
  hostid: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  hostkey: '',
  symname: '',
  'last known config file': '/run/stafd/last-known-config.pickle',
  'config soak timer': '1.5s [off]',
  'kernel support.TP8013': 'True',
  'kernel support.host_iface': 'True',
  'terminator.audit timer': '30.0s [off]',
  avahi: {
    'avahi wake up timer': '60.0s [off]',
    'service types': ['_nvme-disc._tcp'],
    services: {
      '(enp0s8, IPv4, SFSS._nvme-disc._tcp.local, _nvme-disc._tcp)': {
        transport: 'tcp',
        traddr: '192.168.1.20',
        trsvcid: '8009',
        'host-iface': 'enp0s8',
        subsysnqn: DISC,
        reachable: 'True',
      },
    },
  },
  controllers: [
    { ...detailed(1), log_pages: [dlpe(0), dlpe(1), dlpe(2)] },
    { ...detailed(2), log_pages: [] },
  ],
};

const longWords = 'the quick brown fox jumps over the lazy dog '.repeat(8);

const CORPUS: PyValue[] = [
  null,
  true,
  false,
  0,
  -17,
  123456789012345,
  1.5,
  -0.25,
  1e-7,
  1e16,
  1.25e17,
  1e21,
  0.0001,
  123.456,
  '',
  'plain',
  "it's",
  'say "hi"',
  `both ' and "`,
  'back\\slash',
  'tab\there\nnewline\rreturn',
  '\x00\x01\x1b\x7f\x80\x9f\xa0\xad',
  'é ü 中文 日本語 😀 \u{1F600}',
  '\u200b\u2028\u2029\ufeff\ue000\u{10ffff}',
  '\ud800 lone \udc00 surrogates',
  [],
  {},
  [[]],
  [{}],
  { a: [] },
  { a: {} },
  { b: 1, a: 2, C: 3, _: 4, '10': 5, '9': 6, '': 7, é: 8, '😀': 9, '\uffff': 10 },
  [dc(1)],
  [dc(1), dc(2), dc(3)],
  [detailed(1), detailed(2)],
  [dlpe(0), dlpe(1), dlpe(2), dlpe(3)],
  [
    { 'discovery-controller': dc(1), 'log-pages': [dlpe(1), dlpe(2)] },
    { 'discovery-controller': dc(2), 'log-pages': [] },
  ],
  status,
  longWords,
  [longWords],
  { key: longWords },
  { key: [longWords, { nested: longWords }] },
  'x'.repeat(200),
  `${'x'.repeat(130)} ${'y'.repeat(130)}`,
  `line one is short\nline two ${longWords}\nline three\n`,
  'multi\nline\nstring\r\nwith\x0bevery\x0cterminator\x1cand\x1d\x1e\x85\u2028\u2029end',
  `a${' '.repeat(150)}b`,
  `${'word '.repeat(40)}\u00a0${'nbsp '.repeat(20)}\u3000ideographic space`,
  { 'a very long key that takes a lot of room in the line before its value starts, really long': longWords },
  [[[[[[[[['deep', 'nesting', longWords]]]]]]]]],
  Array.from({ length: 60 }, (_, i) => i),
  Array.from({ length: 30 }, (_, i) => `item-${i}`),
  { x: Array.from({ length: 30 }, (_, i) => ({ i, s: `v${i}` })) },
];

test('pyStrRepr, pyFloatRepr, pyLen and compareCodePoints basics', () => {
  assert.equal(pyStrRepr("it's"), `"it's"`);
  assert.equal(pyStrRepr(`'"`), `'\\'"'`);
  assert.equal(pyStrRepr('\x85\u2028\u{1F600}\u{E0001}'), "'\\x85\\u2028\u{1F600}\\U000e0001'");
  assert.equal(pyFloatRepr(1e16), '1e+16');
  assert.equal(pyFloatRepr(1e-5), '1e-05');
  assert.equal(pyFloatRepr(-0), '-0.0');
  assert.equal(pyFloatRepr(2), '2.0');
  assert.equal(pyFloatRepr(Number.NaN), 'nan');
  assert.equal(pyFloatRepr(-Infinity), '-inf');
  assert.equal(pyLen('a😀b'), 3);
  assert.ok(compareCodePoints('\uffff', '😀') < 0); // UTF-16 order would say the opposite
  assert.equal(compareCodePoints('ab', 'ab'), 0);
  assert.ok(compareCodePoints('ab', 'abc') < 0);
  assert.throws(() => pformat(undefined as unknown as PyValue), /unsupported/);
});

test('pformat(width=120) equals CPython on a corpus of stas shapes and edge cases', { skip }, () => {
  compare(CORPUS, 120);
});

test('pformat equals CPython at other widths (more line breaks, deeper hanging indents)', { skip }, () => {
  for (const w of [1, 10, 30, 60, 80]) compare(CORPUS, w);
});

// Characters whose Unicode properties are the same in Python 3.11 (Unicode 14) and Node's ICU.
const ALPHABET = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...'          ',
  ...'.:-_/=,;()[]{}<>!?#%&*+@^`|~',
  "'",
  '"',
  '\\',
  '\n',
  '\t',
  '\r',
  '\x00',
  '\x07',
  '\x0b',
  '\x0c',
  '\x1c',
  '\x1f',
  '\x7f',
  '\x85',
  '\xa0',
  '\xad',
  'é',
  'ß',
  'Ω',
  '中',
  '\u1680',
  '\u2003',
  '\u200b',
  '\u2028',
  '\u2029',
  '\u3000',
  '\ufeff',
  '\ue000',
  '😀',
  '\u{1D11E}',
  '\u{E0001}',
];

function randomValue(rnd: () => number, depth: number): PyValue {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const str = (max: number): string => {
    const n = Math.floor(rnd() * rnd() * max);
    let s = '';
    for (let i = 0; i < n; i++) s += rnd() < 0.15 ? ' ' : pick(ALPHABET);
    return s;
  };
  const r = rnd();
  if (depth <= 0 || r < 0.45) {
    const k = rnd();
    if (k < 0.08) return null;
    if (k < 0.16) return rnd() < 0.5;
    if (k < 0.26) return Math.floor((rnd() - 0.5) * 10 ** Math.floor(rnd() * 22));
    if (k < 0.32) return pick([0.5, -1.25, 1e-7, 3.25, 1e16, 2.5e-5, 6.02e23, 1e100, 123456.789]);
    return str(k < 0.9 ? 40 : 400);
  }
  const n = Math.floor(rnd() * 8);
  if (r < 0.72) return Array.from({ length: n }, () => randomValue(rnd, depth - 1));
  const d: Record<string, PyValue> = {};
  for (let i = 0; i < n; i++) d[str(30)] = randomValue(rnd, depth - 1);
  return d;
}

test('pformat equals CPython on 300 random JSON values (seed 20240611) at several widths', { skip }, () => {
  const rnd = prng(20240611);
  const values = Array.from({ length: 300 }, () => randomValue(rnd, 5));
  for (const w of [120, 40, 8]) compare(values, w);
});
