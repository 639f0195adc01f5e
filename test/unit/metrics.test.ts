import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  describeListen,
  escapeText,
  formatBound,
  formatValue,
  parseMetricsListen,
  Registry,
} from '../../src/core/metrics.js';
import { StacdMetrics } from '../../src/daemons/stacd/metrics.js';
import { StafdMetrics } from '../../src/daemons/stafd/metrics.js';
import { PROGRAMS } from '../../tools/docs.js';

test('exposition: counters get _total, gauges with labels, HELP/TYPE/UNIT lines, # EOF', () => {
  const r = new Registry();
  const c = r.counter({ name: 'stas_connects', help: 'Connections made.' });
  const g = r.gauge({ name: 'stas_ioc', help: 'IOCs by state.', labelNames: ['state'] });
  const t = r.gauge({ name: 'stas_temp_celsius', help: 'A unit.', unit: 'celsius' });
  c.inc();
  c.inc(2);
  g.set(3, { state: 'connected' });
  g.set(1, { state: 'failed' });
  g.inc(1, { state: 'connected' });
  t.set(-1.5);
  assert.equal(
    r.expose(),
    [
      '# TYPE stas_connects counter',
      '# HELP stas_connects Connections made.',
      'stas_connects_total 3',
      '# TYPE stas_ioc gauge',
      '# HELP stas_ioc IOCs by state.',
      'stas_ioc{state="connected"} 4',
      'stas_ioc{state="failed"} 1',
      '# TYPE stas_temp_celsius gauge',
      '# UNIT stas_temp_celsius celsius',
      '# HELP stas_temp_celsius A unit.',
      'stas_temp_celsius -1.5',
      '# EOF',
      '',
    ].join('\n'),
  );
  assert.equal(c.get(), 3);
  assert.equal(g.get({ state: 'connected' }), 4);
  assert.equal(g.get({ state: 'excluded' }), 0);
});

test('an empty registry is just # EOF; a labelled family with no sample has only its header', () => {
  assert.equal(new Registry().expose(), '# EOF\n');
  const r = new Registry();
  r.counter({ name: 'x', help: 'h', labelNames: ['a'] });
  assert.equal(r.expose(), '# TYPE x counter\n# HELP x h\n# EOF\n');
});

test('label values and HELP are escaped (backslash, double quote, newline); labels keep declaration order', () => {
  const r = new Registry();
  const g = r.gauge({ name: 'g', help: 'say "hi"\\ now\nplease', labelNames: ['b', 'a'] });
  g.set(1, { a: 'C:\\dir', b: 'a "quoted"\nline' });
  assert.equal(
    r.expose(),
    [
      '# TYPE g gauge',
      '# HELP g say \\"hi\\"\\\\ now\\nplease',
      'g{b="a \\"quoted\\"\\nline",a="C:\\\\dir"} 1',
      '# EOF',
      '',
    ].join('\n'),
  );
  assert.equal(escapeText('\\"\n'), '\\\\\\"\\n');
  assert.equal(escapeText('plain ü'), 'plain ü');
});

test('histogram: cumulative bucket counts, +Inf, _count and _sum; canonical le values', () => {
  const r = new Registry();
  const h = r.histogram({
    name: 'stas_reconcile_duration_seconds',
    help: 'Pass durations.',
    unit: 'seconds',
    buckets: [0.1, 1, 2.5],
  });
  for (const v of [0.05, 0.1, 0.7, 3, 10]) h.observe(v);
  assert.equal(
    r.expose(),
    [
      '# TYPE stas_reconcile_duration_seconds histogram',
      '# UNIT stas_reconcile_duration_seconds seconds',
      '# HELP stas_reconcile_duration_seconds Pass durations.',
      'stas_reconcile_duration_seconds_bucket{le="0.1"} 2',
      'stas_reconcile_duration_seconds_bucket{le="1.0"} 3',
      'stas_reconcile_duration_seconds_bucket{le="2.5"} 3',
      'stas_reconcile_duration_seconds_bucket{le="+Inf"} 5',
      'stas_reconcile_duration_seconds_count 5',
      'stas_reconcile_duration_seconds_sum 13.85',
      '# EOF',
      '',
    ].join('\n'),
  );
  assert.deepEqual(h.get(), { count: 5, sum: 13.85 });
});

test('histogram with labels: the le label comes last; an unobserved histogram shows zeros', () => {
  const r = new Registry();
  const h = r.histogram({ name: 'd', help: 'h', labelNames: ['kind'], buckets: [1] });
  h.observe(0.5, { kind: 'a"b' });
  const z = r.histogram({ name: 'z', help: 'h', buckets: [1] });
  assert.equal(z.get().count, 0);
  assert.equal(
    r.expose(),
    [
      '# TYPE d histogram',
      '# HELP d h',
      'd_bucket{kind="a\\"b",le="1.0"} 1',
      'd_bucket{kind="a\\"b",le="+Inf"} 1',
      'd_count{kind="a\\"b"} 1',
      'd_sum{kind="a\\"b"} 0.5',
      '# TYPE z histogram',
      '# HELP z h',
      'z_bucket{le="1.0"} 0',
      'z_bucket{le="+Inf"} 0',
      'z_count 0',
      'z_sum 0',
      '# EOF',
      '',
    ].join('\n'),
  );
  // The default buckets reach a minute.
  const d = new Registry().histogram({ name: 'x_seconds', help: 'h', unit: 'seconds' });
  assert.equal(d.buckets.at(-1), 60);
});

test('collected families read the caller state at each exposition', () => {
  let passes = 1;
  const states = new Map([['connected', 2]]);
  const r = new Registry();
  r.counter({ name: 'passes', help: 'h' }, () => passes);
  r.gauge({ name: 'ioc', help: 'h', labelNames: ['state'] }, () =>
    [...states].map(([state, value]) => ({ labels: { state }, value })),
  );
  assert.match(r.expose(), /^passes_total 1$/m);
  passes = 7;
  states.set('failed', 1);
  const text = r.expose();
  assert.match(text, /^passes_total 7$/m);
  assert.match(text, /^ioc\{state="connected"\} 2\nioc\{state="failed"\} 1$/m);
  // A collected sample with the wrong labels is an error, not a silent bad line.
  states.clear();
  const bad = new Registry();
  bad.gauge({ name: 'g', help: 'h', labelNames: ['state'] }, () => [{ labels: { other: 'x' }, value: 1 }]);
  assert.throws(() => bad.expose(), /do not match the declared \{state\}/);
  const collected = bad.counter({ name: 'k', help: 'h' }, () => 1);
  assert.throws(() => collected.inc(), /collected, not set/);
});

test('values: integers plain, floats shortest, NaN and infinities; bounds get .0', () => {
  assert.equal(formatValue(3), '3');
  assert.equal(formatValue(0.1 + 0.2), '0.30000000000000004');
  assert.equal(formatValue(1e-7), '1e-7');
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue(Number.POSITIVE_INFINITY), '+Inf');
  assert.equal(formatValue(Number.NEGATIVE_INFINITY), '-Inf');
  assert.equal(formatBound(5), '5.0');
  assert.equal(formatBound(0.25), '0.25');
  assert.equal(formatBound(1e21), '1e+21');
});

test('misuse is refused: bad names, _total counters, unit mismatch, label mismatch, decreasing counters', () => {
  const r = new Registry();
  assert.throws(() => r.counter({ name: '1bad', help: '' }), /invalid metric name/);
  assert.throws(() => r.counter({ name: 'x_total', help: '' }), /without _total/);
  assert.throws(() => r.gauge({ name: 'x_ms', help: '', unit: 'seconds' }), /must end with _seconds/);
  assert.throws(() => r.gauge({ name: 'x', help: '', labelNames: ['a-b'] }), /invalid label name/);
  assert.throws(() => r.gauge({ name: 'x', help: '', labelNames: ['__x'] }), /invalid label name/);
  assert.throws(() => r.gauge({ name: 'x', help: '', labelNames: ['a', 'a'] }), /duplicate label/);
  assert.throws(() => r.histogram({ name: 'h', help: '', labelNames: ['le'] }), /reserved/);
  assert.throws(() => r.histogram({ name: 'h', help: '', buckets: [1, 1] }), /strictly increasing/);
  assert.throws(() => r.histogram({ name: 'h', help: '', buckets: [] }), /strictly increasing/);
  const c = r.counter({ name: 'c', help: '', labelNames: ['a'] });
  assert.throws(() => r.gauge({ name: 'c', help: '' }), /registered twice/);
  assert.throws(() => c.inc(-1, { a: 'x' }), RangeError);
  assert.throws(() => c.inc(1), /labels \{\} do not match the declared \{a\}/);
  assert.throws(() => c.inc(1, { a: 'x', b: 'y' }), /do not match/);
  const h = r.histogram({ name: 'h', help: '', buckets: [1] });
  assert.throws(() => h.observe(-0.1), RangeError);
  assert.throws(() => h.observe(Number.NaN), RangeError);
  assert.throws(() => h.observe(Number.POSITIVE_INFINITY), RangeError);
  c.inc(0, { a: 'x' });
  assert.match(r.expose(), /^c_total\{a="x"\} 0$/m);
});

test('--metrics LISTEN: loopback addresses and unix sockets only', () => {
  assert.deepEqual(parseMetricsListen('127.0.0.1:9100'), { kind: 'tcp', host: '127.0.0.1', port: 9100 });
  assert.deepEqual(parseMetricsListen('127.1.2.3:0'), { kind: 'tcp', host: '127.1.2.3', port: 0 });
  assert.deepEqual(parseMetricsListen('[::1]:9100'), { kind: 'tcp', host: '::1', port: 9100 });
  assert.deepEqual(parseMetricsListen('[0:0:0:0:0:0:0:1]:9100'), { kind: 'tcp', host: '::1', port: 9100 });
  assert.deepEqual(parseMetricsListen('localhost:9100'), { kind: 'tcp', host: '127.0.0.1', port: 9100 });
  assert.deepEqual(parseMetricsListen('LocalHost:1'), { kind: 'tcp', host: '127.0.0.1', port: 1 });
  assert.deepEqual(parseMetricsListen('/run/stafd/metrics.sock'), {
    kind: 'unix',
    path: '/run/stafd/metrics.sock',
  });
  assert.deepEqual(parseMetricsListen('unix:/run/m.sock'), { kind: 'unix', path: '/run/m.sock' });

  for (const bad of ['0.0.0.0:9100', '[::]:9100', '192.168.1.5:9100', 'example.com:9100', ':9100']) {
    assert.throws(() => parseMetricsListen(bad), /is not a loopback address.*no authentication/, bad);
  }
  assert.throws(() => parseMetricsListen('[127.0.0.1]:1'), /not a loopback address/);
  assert.throws(() => parseMetricsListen('::1:9100'), /expected 127\.0\.0\.1:PORT/);
  assert.throws(() => parseMetricsListen('[::ffff:127.0.0.1]:1'), /not a loopback address/);
  assert.throws(() => parseMetricsListen('[fe80::1%lo]:1'), /not a loopback address/);
  assert.throws(() => parseMetricsListen('9100'), /expected/);
  assert.throws(() => parseMetricsListen('127.0.0.1:65536'), /invalid port/);
  assert.throws(() => parseMetricsListen('127.0.0.1:080'), /invalid port/);
  assert.throws(() => parseMetricsListen('127.0.0.1:'), /expected/);
  assert.throws(() => parseMetricsListen('unix:run/m.sock'), /must be absolute/);
  assert.throws(() => parseMetricsListen('/run/'), /names a directory/);
  assert.throws(() => parseMetricsListen(`/${'x'.repeat(120)}`), /too long/);
  assert.throws(() => parseMetricsListen('/a\0b'), /invalid unix socket path/);

  assert.equal(describeListen(parseMetricsListen('[::1]:9')), 'http://[::1]:9/metrics');
  assert.equal(describeListen(parseMetricsListen('localhost:9')), 'http://127.0.0.1:9/metrics');
  assert.equal(describeListen(parseMetricsListen('/r/m.sock')), 'unix:/r/m.sock');
});

test('the metrics documented in stafd(8) and stacd(8) are exactly those the daemons expose, in order', () => {
  const exposed = (r: Registry) =>
    r.familyNames().map(([name, type]) => (type === 'counter' ? `${name}_total` : name));
  const documented = (prog: string) =>
    PROGRAMS.find((p) => p.name === prog)!.metrics!.map(([m]) => m.replace(/\{.*\}$/, ''));
  assert.deepEqual(exposed(new StafdMetrics(() => []).registry), documented('stafd'));
  const stacd = exposed(new StacdMetrics(() => assert.fail('not scraped')).registry);
  assert.deepEqual(stacd, documented('stacd'));
  assert.ok(stacd.includes('stas_reconcile_duration_seconds'));
});
