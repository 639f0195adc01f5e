import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiagnosticSink, hasErrors } from '../../src/core/config/diagnostics.js';
import { type IniDocument, parseIni, stripInlineComment } from '../../src/core/config/ini.js';

const F = '/etc/stas/test.conf';

function parse(text: string): { doc: IniDocument; sink: DiagnosticSink } {
  const sink = new DiagnosticSink(F);
  return { doc: parseIni(text, sink), sink };
}

/** section → key → values */
function flat(doc: IniDocument): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const [name, s] of doc.sections) {
    out[name] = {};
    for (const [k, v] of s.options) out[name]![k] = v.map((e) => e.value);
  }
  return out;
}

test('sections, keys, values, line numbers', () => {
  const { doc, sink } = parse(
    '[Global]\ntron = true\n\n[Controllers]\ncontroller=transport=tcp;traddr=1.2.3.4\n',
  );
  assert.deepEqual(flat(doc), {
    Global: { tron: ['true'] },
    Controllers: { controller: ['transport=tcp;traddr=1.2.3.4'] },
  });
  assert.equal(doc.sections.get('Global')!.line, 1);
  assert.deepEqual(doc.sections.get('Controllers')!.options.get('controller'), [
    { value: 'transport=tcp;traddr=1.2.3.4', line: 5, continuation: false },
  ]);
  assert.deepEqual(sink.diagnostics, []);
});

test('section names are case-sensitive and may contain spaces; repeated sections merge', () => {
  const { doc } = parse(
    '[global]\na=1\n[Global]\nb=2\n[I/O controller connection management]\nc=3\n[Global]\nd=4\n',
  );
  assert.deepEqual(flat(doc), {
    global: { a: ['1'] },
    Global: { b: ['2'], d: ['4'] },
    'I/O controller connection management': { c: ['3'] },
  });
  assert.equal(doc.sections.get('Global')!.line, 3);
});

test('keys are lower-cased; whitespace around = ignored; only = delimits', () => {
  const { doc } = parse('[S]\n  TRON   =   True  \nKaTo=5\ntraddr = fe80::1:2\nx : y = z\n');
  assert.deepEqual(flat(doc), { S: { tron: ['True'], kato: ['5'], traddr: ['fe80::1:2'], 'x : y': ['z'] } });
});

test('value split on the first =, empty values kept', () => {
  const { doc } = parse('[S]\ncontroller = a=b;c==d=\nempty =\nempty2=   \n');
  assert.deepEqual(flat(doc), { S: { controller: ['a=b;c==d='], empty: [''], empty2: [''] } });
});

test('repeated keys accumulate in order', () => {
  const { doc } = parse('[S]\nexclude=a\nEXCLUDE = b\nexclude=c\n');
  assert.deepEqual(flat(doc).S!.exclude, ['a', 'b', 'c']);
});

test('full-line # and ; comments, with leading blanks; empty lines', () => {
  const { doc, sink } = parse('# top\n; semi\n[S]\n   # indented\n\t; tab\n\n   \nk=v\n#k=w\n;k=x\n');
  assert.deepEqual(flat(doc), { S: { k: ['v'] } });
  assert.deepEqual(sink.diagnostics, []);
});

test('inline comments: # preceded by white space', () => {
  const { doc } = parse(
    '[S] # the section\nexclude = host-iface=enp0s8                             # Eliminate everything\n' +
      'a = x#y\nb = x\t# tab\nc = # only a comment\nd = x ; not a comment\n',
  );
  assert.deepEqual(flat(doc), {
    S: { exclude: ['host-iface=enp0s8'], a: ['x#y'], b: ['x'], c: [''], d: ['x ; not a comment'] },
  });
  assert.equal(stripInlineComment('a # b # c'), 'a');
  assert.equal(stripInlineComment('a#b'), 'a#b');
});

test('indented continuation lines are extra values of the key above', () => {
  const text =
    '[S]\ncontroller = a\n    b\n\n    # comment inside\n    c # comment\nk = v\n  [not a section]\n';
  const { doc, sink } = parse(text);
  assert.deepEqual(doc.sections.get('S')!.options.get('controller'), [
    { value: 'a', line: 2, continuation: false },
    { value: 'b', line: 3, continuation: true },
    { value: 'c', line: 6, continuation: true },
  ]);
  assert.deepEqual(
    doc.sections
      .get('S')!
      .options.get('k')!
      .map((e) => e.value),
    ['v', '[not a section]'],
  );
  assert.deepEqual(sink.diagnostics, []);
});

test('indentation is relative to the key line; an indented first key is not a continuation', () => {
  const { doc } = parse('[S]\n  a = 1\n  b = 2\n    c\n  d = 3\n');
  assert.deepEqual(flat(doc), { S: { a: ['1'], b: ['2', 'c'], d: ['3'] } });
});

test('a section header ends the continuation', () => {
  const { doc, sink } = parse('[S]\nk = v\n[T]\n   x = 1\n');
  assert.deepEqual(flat(doc), { S: { k: ['v'] }, T: { x: ['1'] } });
  assert.deepEqual(sink.diagnostics, []);
});

test('syntax errors name file:line and are skipped; the rest loads', () => {
  const { doc, sink } = parse('[S]\nk = v\njust words\n= value\n[]\n[unclosed\nafter = ok\n');
  assert.deepEqual(flat(doc), { S: { k: ['v'], after: ['ok'] } });
  assert.deepEqual(
    sink.diagnostics.map((d) => [d.level, d.line, d.message]),
    [
      [
        'error',
        3,
        `File:${F}:3 syntax error (expected [section], option = value or a comment): "just words". Line ignored`,
      ],
      [
        'error',
        4,
        `File:${F}:4 syntax error (expected [section], option = value or a comment): "= value". Line ignored`,
      ],
      ['error', 5, `File:${F}:5 contains an invalid section header: "[]". Line ignored`],
      ['error', 6, `File:${F}:6 contains an invalid section header: "[unclosed". Line ignored`],
    ],
  );
  assert.ok(hasErrors(sink.diagnostics));
  assert.ok(sink.hasErrors);
});

test('continuation after a syntax error does not attach to an earlier key', () => {
  const { doc } = parse('[S]\nk = v\noops\n   more = 1\n');
  assert.deepEqual(flat(doc), { S: { k: ['v'], more: ['1'] } });
});

test('key=value before any section: error, ignored', () => {
  const { doc, sink } = parse('tron = true\n   indented = 1\n[S]\nk=v\n');
  assert.deepEqual(flat(doc), { S: { k: ['v'] } });
  assert.deepEqual(
    sink.diagnostics.map((d) => d.message),
    [
      `File:${F}:1 option tron appears before any [section]. Line ignored`,
      `File:${F}:2 option indented appears before any [section]. Line ignored`,
    ],
  );
});

test('syntax error lines that look secret are not echoed', () => {
  const { sink } = parse('[S]\ndhchap-secret DHHC-1:00:c2VjcmV0:\nDHHC-1:01:abc\nkey DHHC\n[DHHC-1:00:x\n');
  assert.equal(sink.diagnostics.length, 4);
  for (const d of sink.diagnostics) {
    assert.ok(d.message.includes('<redacted>'), d.message);
    assert.ok(!/DHHC|c2Vj/.test(d.message), d.message);
  }
});

test('CRLF line ends and a BOM', () => {
  const { doc, sink } = parse('\uFEFF[S]\r\nk = v\r\n  w\r\n');
  assert.deepEqual(flat(doc), { S: { k: ['v', 'w'] } });
  assert.deepEqual(sink.diagnostics, []);
});

test('empty text', () => {
  const { doc, sink } = parse('');
  assert.equal(doc.sections.size, 0);
  assert.deepEqual(sink.diagnostics, []);
});

test('diagnostic sink: levels, optional line, error tally', () => {
  const sink = new DiagnosticSink(F);
  sink.info(undefined, 'note');
  sink.warn(3, 'w');
  assert.equal(sink.hasErrors, false);
  sink.error(4, 'e');
  assert.deepEqual(sink.result(1), {
    config: 1,
    diagnostics: [
      { level: 'info', file: F, message: 'note' },
      { level: 'warning', file: F, line: 3, message: 'w' },
      { level: 'error', file: F, line: 4, message: 'e' },
    ],
    hasErrors: true,
  });
});
