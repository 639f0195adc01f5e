// Making untrusted text safe for a log line: printable() escapes, redactSecrets() hides secrets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isSecretName, printable, REDACTED, redactSecrets, safeText } from '../../src/core/log-text.js';

// Real-looking DH-HMAC-CHAP secrets: DHHC-1:<hh>:<base64 of key + CRC-32>: (48 base64 chars for 32-byte keys,
// 72 with `==` for 48-byte ones, 92 with one `=` for 64-byte ones).
const B32 = randomBytes(36).toString('base64');
const B48 = randomBytes(52).toString('base64');
const B64 = randomBytes(68).toString('base64');
const S00 = `DHHC-1:00:${B32}:`;
const S02 = `DHHC-1:02:${B48}:`;
const S03 = `DHHC-1:03:${B64}:`;

test('the test secrets have the shapes of real ones (padding included)', () => {
  assert.equal(B32.length, 48);
  assert.ok(B48.endsWith('==') && !B48.endsWith('==='));
  assert.ok(B64.endsWith('=') && !B64.endsWith('=='));
});

test('printable: control characters, C1, DEL, invisible and line-breaking characters are escaped', () => {
  const table: [string, string][] = [
    ['plain text, unchanged', 'plain text, unchanged'],
    ['\x1b[31mred\x1b[0m', '\\x1b[31mred\\x1b[0m'],
    ['\x1b]0;title\x07', '\\x1b]0;title\\x07'],
    ['nul\0byte', 'nul\\x00byte'],
    ['del\x7f', 'del\\x7f'],
    ['csi\u009b2J', 'csi\\u009b2J'],
    ['nel\u0085x', 'nel\\u0085x'],
    ['line\nbreak\r\n', 'line\\nbreak\\r\\n'],
    ['tab\there', 'tab\\there'],
    ['back\\slash', 'back\\\\slash'],
    // a literal backslash-x text and an escaped ESC stay distinguishable
    ['\\x1b', '\\\\x1b'],
    ['bidi \u202eevil\u202c', 'bidi \\u202eevil\\u202c'],
    ['zero\u200bwidth', 'zero\\u200bwidth'],
    ['bom\ufeff', 'bom\\ufeff'],
    ['ls\u2028ps\u2029', 'ls\\u2028ps\\u2029'],
    ['nbsp\u00a0x', 'nbsp\\u00a0x'],
    ['lone \ud800 surrogate', 'lone \\ud800 surrogate'],
    ['private \ue000', 'private \\ue000'],
    ['tag \u{e0041}', 'tag \\u{e0041}'],
    // printable Unicode stays
    ['café', 'café'],
    ['日本語 Ελληνικά', '日本語 Ελληνικά'],
    ['smile \u{1f600}', 'smile \u{1f600}'],
    ['e\u0301', 'e\u0301'],
    ['', ''],
  ];
  for (const [input, want] of table) assert.equal(printable(input), want, JSON.stringify(input));
});

test('printable output has no control or invisible character left, for every code point below U+10000', () => {
  let all = '';
  for (let cp = 0; cp < 0x10000; cp++) all += String.fromCharCode(cp);
  const out = printable(all);
  assert.doesNotMatch(out, /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u);
  for (const c of ['\n', '\r', '\x1b', '\x9b', '\0']) assert.ok(!out.includes(c), JSON.stringify(c));
  // Unambiguous: every backslash of the output starts an escape.
  assert.doesNotMatch(out.replace(/\\(?:\\|x[0-9a-f]{2}|u[0-9a-f]{4}|u\{[0-9a-f]+\}|[nrt])/g, ''), /\\/);
});

test('redactSecrets: DHHC-1 secrets anywhere, any case, with or without the trailing colon', () => {
  const table: [string, string][] = [
    [S00, `DHHC-1:${REDACTED}`],
    [`secret ${S02} here`, `secret DHHC-1:${REDACTED} here`],
    [`"${S03}"`, `"DHHC-1:${REDACTED}"`],
    [S00.slice(0, -1), `DHHC-1:${REDACTED}`], // no trailing colon
    [S00.toLowerCase(), `DHHC-1:${REDACTED}`],
    [`[${S00}]`, `[DHHC-1:${REDACTED}]`],
    [`x${S00}y`, `xDHHC-1:${REDACTED}`], // inside other text: the rest of the token goes too
    [`(${S00.toLowerCase().slice(0, 30)})`, `(DHHC-1:${REDACTED})`],
    // Prose about the format is no secret.
    [
      '<redacted> is not a DH-HMAC-CHAP secret (DHHC-1:<hh>:<base64>:)',
      '<redacted> is not a DH-HMAC-CHAP secret (DHHC-1:<hh>:<base64>:)',
    ],
    ['DHHC-1 secrets', 'DHHC-1 secrets'],
  ];
  for (const [input, want] of table) assert.equal(redactSecrets(input), want, input);
});

test('redactSecrets: values of secret-named keys in every notation', () => {
  const table: [string, string][] = [
    ['dhchap-secret=hunter2hunter2', 'dhchap-secret=<redacted>'],
    ['transport=tcp;dhchap-ctrl-secret=abc;traddr=1', 'transport=tcp;dhchap-ctrl-secret=<redacted>;traddr=1'],
    ['DHCHAP-SECRET = hunter2 rest', 'DHCHAP-SECRET = <redacted> rest'],
    ['dhchap-secret hunter2 rest', 'dhchap-secret <redacted> rest'],
    ['dhchap-secret="hunter 2" rest', 'dhchap-secret="<redacted>" rest'],
    ['dhchap-secret="unterminated secret', 'dhchap-secret="<redacted>'],
    ['{"dhchap-secret":"hunter2","traddr":"1.2.3.4"}', '{"dhchap-secret":"<redacted>","traddr":"1.2.3.4"}'],
    ['{"dhchap_key": "hun\\"ter2"}', '{"dhchap_key": "<redacted>"}'],
    ["{'dhchap-ctrl-secret': 'hunter2', 'x': 'y'}", "{'dhchap-ctrl-secret': '<redacted>', 'x': 'y'}"],
    ["{'tls-key': 'hunter2'", "{'tls-key': '<redacted>'"],
    [
      'dhchap_secret=abc,keyring=5,tls_key=0x12,nr_io_queues=4',
      'dhchap_secret=<redacted>,keyring=<redacted>,tls_key=<redacted>,nr_io_queues=4',
    ],
    ['--tls-key 0x1234 --keyring .nvme', '--tls-key <redacted> --keyring <redacted>'],
    ['key=hunter2', 'key=<redacted>'],
    ['Key = hunter2', 'Key = <redacted>'],
    ['key hunter2', 'key <redacted>'],
    ['syntax error: "key hunter2". Line ignored', 'syntax error: "key <redacted>". Line ignored'],
    ['contains invalid option: key hunter2', 'contains invalid option: key <redacted>'],
  ];
  for (const [input, want] of table) assert.equal(redactSecrets(input), want, input);
});

test('redactSecrets: the four config typos of issue 11, as the parsers echo them', () => {
  const table: [string, string][] = [
    // (a) a blank instead of ';' before dhchap-secret=: the secret ends up in kato's value
    [
      `controller - kato: Data converter found invalid value "30 dhchap-secret=${S00}". [Global] value or default will be used`,
      'controller - kato: Data converter found invalid value "30 dhchap-secret=<redacted>". [Global] value or default will be used',
    ],
    // (b) a secret in queue-size=
    [
      `controller - queue-size: Data converter found invalid value "${S02}". [Global] value or default will be used`,
      `controller - queue-size: Data converter found invalid value "DHHC-1:${REDACTED}". [Global] value or default will be used`,
    ],
    // (c) a sys.conf line missing its '=', lower-cased as an option name (the base64 padding '=' split it)
    [
      `[Host] contains invalid option: key ${S03.slice(0, S03.indexOf('=')).toLowerCase()}`,
      '[Host] contains invalid option: key <redacted>',
    ],
    // (d) a section name
    [`contains invalid section: [${S00}]`, `contains invalid section: [DHHC-1:${REDACTED}]`],
  ];
  for (const [input, want] of table) assert.equal(redactSecrets(input), want, input);
});

test('redactSecrets leaves ordinary diagnostics and prose alone', () => {
  for (const text of [
    'controller - unknown key "kato" will be ignored',
    'controller - key "tron" cannot be used to exclude and will be ignored',
    'controller - malformed item "garbage" (expected key=value) will be ignored',
    'syntax error (expected [section], option = value or a comment): "just words". Line ignored',
    '<redacted> is not a key serial number',
    '[Host]: key - Data converter found invalid value "<redacted>". Default will be used',
    'File:/etc/stas/sys.conf:3 [Host] contains invalid option: hostkey',
    'mykey=1 host-key=2 keys=3 monkey hunter2',
    'transport=tcp;traddr=192.168.1.1;trsvcid=8009;kato=30',
    'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
    'café 日本',
  ]) {
    assert.equal(redactSecrets(text), text);
  }
});

test('redactSecrets is idempotent', () => {
  for (const text of [
    `a ${S00} b dhchap-secret=${S02} "key": "x" key hunter2 'tls_key': 'y' keyring=3 [${S03.toLowerCase()}]`,
    'dhchap-secret="x" dhchap-ctrl-secret = y',
    `{"dhchap-secret":"${S00}"}`,
  ]) {
    const once = redactSecrets(text);
    assert.equal(redactSecrets(once), once);
    for (const body of [B32, B48, B64])
      assert.ok(!once.toLowerCase().includes(body.slice(0, 12).toLowerCase()));
  }
});

test('isSecretName', () => {
  for (const n of [
    'dhchap-secret',
    'DHCHAP-CTRL-SECRET',
    'dhchap_secret',
    'dhchap_ctrl_key',
    'key',
    ' Key ',
    'tls-key',
    'tls_key',
    'keyring',
  ])
    assert.ok(isSecretName(n), n);
  for (const n of ['hostkey', 'keys', 'kato', 'nqn', 'dhchap', 'secret-key', ''])
    assert.ok(!isSecretName(n), n);
});

test('safeText redacts, then escapes', () => {
  assert.equal(safeText(`\x1b[2J${S00}\nnext`), `\\x1b[2JDHHC-1:${REDACTED}\\nnext`);
  // An escape sequence inside a secret-named value does not keep the value from being redacted.
  assert.equal(safeText('dhchap-secret=ab\x1bcd'), 'dhchap-secret=<redacted>');
});
