import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePyFloat, parseTimespan } from '../../src/core/config/timespan.js';

test('Python float() text is seconds', () => {
  const cases: [string, number][] = [
    ['3600', 3600],
    ['-1', -1],
    ['0.5', 0.5],
    ['1e3', 1000],
    [' 42 ', 42],
    ['+7', 7],
    ['.5', 0.5],
    ['5.', 5],
    ['1_000', 1000],
    ['0', 0],
    ['-0', 0],
    ['2.5E-1', 0.25],
  ];
  for (const [text, want] of cases) assert.equal(parseTimespan(text), want, text);
  assert.equal(parseTimespan('inf'), Number.POSITIVE_INFINITY);
  assert.equal(parseTimespan('-Infinity'), Number.NEGATIVE_INFINITY);
  assert.ok(Object.is(parseTimespan('-0'), 0));
});

test('nan is refused (it cannot be compared)', () => {
  assert.equal(parseTimespan('nan'), undefined);
  assert.equal(parseTimespan('-NaN'), undefined);
  assert.ok(Number.isNaN(parsePyFloat('nan')));
});

test('parsePyFloat follows Python float()', () => {
  assert.equal(parsePyFloat('1__0'), undefined);
  assert.equal(parsePyFloat('_1'), undefined);
  assert.equal(parsePyFloat('0x10'), undefined);
  assert.equal(parsePyFloat('.'), undefined);
  assert.equal(parsePyFloat(''), undefined);
  assert.equal(parsePyFloat('1e'), undefined);
  assert.equal(parsePyFloat('+inf'), Number.POSITIVE_INFINITY);
  assert.equal(parsePyFloat('infinity'), Number.POSITIVE_INFINITY);
  assert.equal(parsePyFloat('1_0.2_5'), 10.25);
});

test('spec §2.7.1 and pytimeparse doc examples', () => {
  const cases: [string, number][] = [
    ['72hours', 259200],
    ['3 days 5 hours', 277200],
    ['1:01', 61],
    ['1 minute, 24 secs', 84],
    ['1.2 minutes', 72],
    ['- 1 minute', -60],
    ['10 seconds', 10],
    ['0.5', 0.5],
    ['1:24', 84],
    [':22', 22],
    ['1m24s', 84],
    ['1.2 seconds', 1.2],
    ['+ 1 minute', 60],
  ];
  for (const [text, want] of cases) assert.equal(parseTimespan(text), want, text);
});

test('every unit spelling', () => {
  for (const u of ['d', 'dy', 'dys', 'day', 'days', 'D', 'DAYS'])
    assert.equal(parseTimespan(`2${u}`), 172800, u);
  for (const u of ['h', 'hr', 'hrs', 'hour', 'hours', 'Hours'])
    assert.equal(parseTimespan(`2 ${u}`), 7200, u);
  for (const u of ['m', 'min', 'mins', 'minute', 'minutes', 'MIN'])
    assert.equal(parseTimespan(`2${u}`), 120, u);
  for (const u of ['s', 'sec', 'secs', 'second', 'seconds', 'SECS'])
    assert.equal(parseTimespan(`2 ${u}`), 2, u);
});

test('separators, blanks and combinations', () => {
  assert.equal(parseTimespan('1 day/2 hours'), 93600);
  assert.equal(parseTimespan('4h,30m'), 16200);
  assert.equal(parseTimespan('1d, 1h, 1m, 1s'), 90061);
  assert.equal(parseTimespan('  5 minutes  '), 300);
  assert.equal(parseTimespan('1d1h1m1s'), 90061);
});

test('clock forms', () => {
  assert.equal(parseTimespan('2:03:04'), 7384); // H:MM:SS
  assert.equal(parseTimespan('1:02:03:04'), 93784); // D:HH:MM:SS
  assert.equal(parseTimespan('1d 2:03:04'), 93784); // days part + H:MM:SS
  assert.equal(parseTimespan(':05'), 5); // :SS
  assert.equal(parseTimespan('1:01.5'), 61.5);
  assert.equal(parseTimespan('0:00:01.25'), 1.25);
  assert.equal(parseTimespan('1:60'), 120); // as pytimeparse: no check of the seconds value
  assert.equal(parseTimespan('- 1:01'), -61);
});

test('sign forms', () => {
  assert.equal(parseTimespan('-1 minute'), -60);
  assert.equal(parseTimespan('| 5s'), 5); // the regex class [+|-] also accepts |
  assert.equal(parseTimespan('- 1.5 minutes 10 seconds'), -100); // sign applies to the whole span
});

test('fractional larger units are truncated when seconds are integral, exact otherwise', () => {
  assert.equal(parseTimespan('1.01 minutes'), 60);
  assert.equal(parseTimespan('1.5 hours 10 s'), 5410);
  assert.equal(parseTimespan('1.5 minutes 0.5 seconds'), 90.5);
  assert.equal(parseTimespan('0.5 days'), 43200);
});

test('not a time span', () => {
  for (const text of [
    '',
    '   ',
    'xyz',
    '1w',
    '2 weeks',
    '1 month',
    '1.2.3 minutes',
    '. s',
    '123:45',
    '1:2',
    '- 1',
    '5 parsecs',
    '1:01:01:01:01',
    'forever',
    '72hours\nx',
  ])
    assert.equal(parseTimespan(text), undefined, JSON.stringify(text));
});
