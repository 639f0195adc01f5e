import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  convertValue,
  describeFailure,
  parseBool,
  parseChoice,
  parseEnabled,
  parseIntOption,
  parseIpFamily,
  parsePlusList,
  parsePyInt,
  parseTimespanOption,
} from '../../src/core/config/values.js';

test('bool: only true/false, case-insensitive', () => {
  assert.deepEqual(parseBool('true'), { ok: true, value: true });
  assert.deepEqual(parseBool('TRUE'), { ok: true, value: true });
  assert.deepEqual(parseBool('False'), { ok: true, value: false });
  for (const bad of ['yes', 'no', '1', '0', 'on', 'off', '', 'truee'])
    assert.deepEqual(parseBool(bad), { ok: false, failure: { kind: 'text' } }, bad);
});

test('enabled/disabled, case-insensitive', () => {
  assert.deepEqual(parseEnabled('Enabled'), { ok: true, value: true });
  assert.deepEqual(parseEnabled('DISABLED'), { ok: true, value: false });
  for (const bad of ['true', 'enable', '', 'on']) assert.equal(parseEnabled(bad).ok, false, bad);
});

test('Python int() semantics', () => {
  const good: [string, number][] = [
    ['5', 5],
    ['+5', 5],
    ['-1', -1],
    [' 42 ', 42],
    ['007', 7],
    ['1_000', 1000],
    ['0', 0],
    ['-0', 0],
  ];
  for (const [t, n] of good) assert.equal(parsePyInt(t), n, t);
  assert.ok(Object.is(parsePyInt('-0'), 0));
  for (const bad of [
    '1.5',
    '0x10',
    'NaN',
    '',
    ' ',
    '1e3',
    '1__0',
    '_1',
    '1_',
    '+',
    '12a',
    'Infinity',
    '99999999999999999999',
  ])
    assert.equal(parsePyInt(bad), undefined, bad);
});

test('int with range (inclusive)', () => {
  assert.deepEqual(parseIntOption('16', [16, 1024]), { ok: true, value: 16 });
  assert.deepEqual(parseIntOption('1024', [16, 1024]), { ok: true, value: 1024 });
  assert.deepEqual(parseIntOption('15', [16, 1024]), {
    ok: false,
    failure: { kind: 'range', value: 15, min: 16, max: 1024 },
  });
  assert.equal(parseIntOption('1025', [16, 1024]).ok, false);
  assert.deepEqual(parseIntOption('x', [16, 1024]), { ok: false, failure: { kind: 'converter' } });
  assert.deepEqual(parseIntOption('-5'), { ok: true, value: -5 });
});

test('ip-family: four literals, case-sensitive', () => {
  assert.deepEqual(parseIpFamily('ipv4'), { ok: true, value: { ipv4: true, ipv6: false } });
  assert.deepEqual(parseIpFamily('ipv6'), { ok: true, value: { ipv4: false, ipv6: true } });
  assert.deepEqual(parseIpFamily('ipv4+ipv6'), { ok: true, value: { ipv4: true, ipv6: true } });
  assert.deepEqual(parseIpFamily('ipv6+ipv4'), { ok: true, value: { ipv4: true, ipv6: true } });
  for (const bad of ['IPv4', 'ipv4 + ipv6', 'ipv4+ipv4', '', 'both'])
    assert.equal(parseIpFamily(bad).ok, false, bad);
});

test('choice is case-sensitive', () => {
  assert.deepEqual(parseChoice('a', ['a', 'b']), { ok: true, value: 'a' });
  assert.equal(parseChoice('A', ['a', 'b']).ok, false);
});

test('plus-list: split on +, dedup, invalid items listed, empty items skipped', () => {
  const choices = ['tcp', 'rdma', 'fc'];
  assert.deepEqual(parsePlusList('tcp+fc', choices), { items: ['tcp', 'fc'], invalid: [] });
  assert.deepEqual(parsePlusList('fc+tcp+fc', choices), { items: ['fc', 'tcp'], invalid: [] });
  assert.deepEqual(parsePlusList('tcp+TCP+loop', choices), { items: ['tcp'], invalid: ['TCP', 'loop'] });
  assert.deepEqual(parsePlusList('tcp + fc', choices), { items: [], invalid: ['tcp ', ' fc'] });
  assert.deepEqual(parsePlusList('', choices), { items: [], invalid: [] });
  assert.deepEqual(parsePlusList('+tcp+', choices), { items: ['tcp'], invalid: [] });
});

test('timespan option', () => {
  assert.deepEqual(parseTimespanOption('72hours'), { ok: true, value: 259200 });
  assert.deepEqual(parseTimespanOption('soon'), { ok: false, failure: { kind: 'converter' } });
});

test('convertValue dispatches on the type', () => {
  assert.deepEqual(convertValue({ type: 'bool' }, 'true'), { ok: true, value: true, invalidItems: [] });
  assert.deepEqual(convertValue({ type: 'enabled-disabled' }, 'disabled'), {
    ok: true,
    value: false,
    invalidItems: [],
  });
  assert.deepEqual(convertValue({ type: 'int', range: [1, 2] }, '3'), {
    ok: false,
    failure: { kind: 'range', value: 3, min: 1, max: 2 },
  });
  assert.deepEqual(convertValue({ type: 'choice', choices: ['x'] }, 'x'), {
    ok: true,
    value: 'x',
    invalidItems: [],
  });
  assert.equal(convertValue({ type: 'choice' }, 'x').ok, false);
  assert.deepEqual(convertValue({ type: 'ip-family' }, 'ipv4'), {
    ok: true,
    value: { ipv4: true, ipv6: false },
    invalidItems: [],
  });
  assert.deepEqual(convertValue({ type: 'timespan' }, '1:01'), { ok: true, value: 61, invalidItems: [] });
  assert.deepEqual(convertValue({ type: 'string' }, ' as is '), {
    ok: true,
    value: ' as is ',
    invalidItems: [],
  });
  assert.deepEqual(convertValue({ type: 'plus-list', choices: ['a'] }, 'a+b'), {
    ok: true,
    value: ['a'],
    invalidItems: ['b'],
  });
  assert.deepEqual(convertValue({ type: 'plus-list', choices: ['a'] }, 'b'), {
    ok: true,
    value: undefined,
    invalidItems: ['b'],
  });
  assert.deepEqual(convertValue({ type: 'plus-list' }, 'a'), {
    ok: true,
    value: undefined,
    invalidItems: ['a'],
  });
});

test('failure wording (nvme-stas) and redaction', () => {
  assert.equal(describeFailure({ kind: 'text' }, 'yes'), 'Text check found invalid value "yes"');
  assert.equal(describeFailure({ kind: 'converter' }, 'x'), 'Data converter found invalid value "x"');
  assert.equal(
    describeFailure({ kind: 'range', value: 5, min: 16, max: 1024 }, '5'),
    '"5" is not within range 16..1024',
  );
  assert.equal(
    describeFailure({ kind: 'text' }, 'DHHC-1:00:abc=', true),
    'Text check found invalid value "<redacted>"',
  );
  assert.equal(
    describeFailure({ kind: 'range', value: 5, min: 16, max: 1024 }, '5', true),
    '"<redacted>" is not within range 16..1024',
  );
});
