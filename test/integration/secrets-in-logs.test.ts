// Issue 11: DH-HMAC-CHAP secrets never reach a diagnostic or a log line, whatever the typo in the config files.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stafClient } from '../../src/adapters/dbus/clients.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import type { ConfigDiagnostic } from '../../src/core/config/diagnostics.js';
import { parseStacdConfig, parseStafdConfig } from '../../src/core/config/service-config.js';
import { parseSysConfig } from '../../src/core/config/sys-config.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { userspaceDcs } from '../support/stafd-process.js';

/** Base64 bodies of fresh secrets (48, 72 and 92 characters: no padding, `==`, `=`), as a real key generator. */
const body = (bytes: number) => randomBytes(bytes).toString('base64');
const B00 = body(36);
const B02 = body(52);
const B03 = body(68);
const S00 = `DHHC-1:00:${B00}:`;
const S02 = `DHHC-1:02:${B02}:`;
const S03 = `DHHC-1:03:${B03}:`;
const BODIES = [B00, B02, B03];

/** Where (if anywhere) `text` shows 10 consecutive characters of a secret body, in any case. */
function leak(text: string, bodies: readonly string[] = BODIES): string | undefined {
  const hay = text.toLowerCase();
  for (const b of bodies) {
    const needle = b.toLowerCase();
    for (let i = 0; i + 10 <= needle.length; i++) {
      const at = hay.indexOf(needle.slice(i, i + 10));
      if (at >= 0) return text.slice(Math.max(0, at - 40), at + 50);
    }
  }
  return undefined;
}

function assertNoLeak(diagnostics: readonly ConfigDiagnostic[], bodies?: readonly string[]): void {
  for (const d of diagnostics) assert.equal(leak(d.message, bodies), undefined, d.message);
}

/** The one diagnostic about `line`, which must name file:line. */
function about(diagnostics: readonly ConfigDiagnostic[], file: string, line: number): string {
  const found = diagnostics.filter((d) => d.line === line);
  assert.equal(found.length, 1, JSON.stringify(diagnostics));
  assert.ok(found[0]!.message.startsWith(`File:${file}:${line} `), found[0]!.message);
  return found[0]!.message;
}

const F = '/etc/stas/stafd.conf';
const C = '/etc/stas/stacd.conf';
const SYS = '/etc/stas/sys.conf';

test('(a) a blank instead of ";" before dhchap-secret=: the kato warning names the problem, not the secret', () => {
  const line = `controller = transport=tcp;traddr=1.2.3.4;kato=30 dhchap-secret=${S00}`;
  for (const [r, file] of [
    [parseStafdConfig(`[Controllers]\n${line}\n`, F), F],
    [parseStacdConfig(`[Controllers]\n${line};nqn=nqn.io-1\n`, C), C],
  ] as const) {
    const m = about(r.diagnostics, file, 2);
    assert.match(m, /controller - kato: Data converter found invalid value "30 dhchap-secret=<redacted>"/);
    assertNoLeak(r.diagnostics);
  }
  // A secret without the DHHC-1 prefix is just as hidden.
  const r = parseStafdConfig(
    '[Controllers]\ncontroller = transport=tcp;traddr=1.2.3.4;kato=30 dhchap-secret=Hunter2Hunter2\n',
    F,
  );
  assert.match(about(r.diagnostics, F, 2), /"30 dhchap-secret=<redacted>"/);
  assertNoLeak(r.diagnostics, ['Hunter2Hunter2']);
});

test('(b) a secret in queue-size= (controller= item and [Global]) is not echoed', () => {
  const r = parseStafdConfig(
    `[Global]\nqueue-size=${S02}\n[Controllers]\ncontroller = transport=tcp;traddr=1.2.3.4;queue-size=${S02.toLowerCase()}\n`,
    F,
  );
  assert.match(
    about(r.diagnostics, F, 2),
    /\[Global\]: queue-size - Data converter found invalid value "DHHC-1:<redacted>"/,
  );
  assert.match(
    about(r.diagnostics, F, 4),
    /controller - queue-size: Data converter found invalid value "DHHC-1:<redacted>"/,
  );
  assertNoLeak(r.diagnostics);
});

test('(c) a sys.conf line missing its "=": neither echoed nor echoed lower-cased as an option name', () => {
  // `key DHHC-1:03:…=:`: the padding `=` makes `key dhhc-1:03:…` (lower-cased) an option name.
  const r = parseSysConfig(`[Host]\nnqn = nqn.x\nkey ${S00}\nkey ${S03}\nKEY ${S02.slice(0, -1)}\n`, SYS);
  assert.match(about(r.diagnostics, SYS, 3), /syntax error .*"<redacted>"\. Line ignored$/);
  assert.match(about(r.diagnostics, SYS, 4), /\[Host\] contains invalid option: key <redacted>$/);
  assert.match(about(r.diagnostics, SYS, 5), /\[Host\] contains invalid option: key <redacted>$/);
  assertNoLeak(r.diagnostics);
  assert.equal(r.hasErrors, true);
});

test('(c) a secret broken over two lines: the wrapped rest is not shown either', () => {
  const cut = 60;
  const r = parseSysConfig(`[Host]\nkey = ${S03.slice(0, cut)}\n${S03.slice(cut)}\nnqn = nqn.x\n`, SYS);
  assert.match(about(r.diagnostics, SYS, 3), /\[Host\] contains invalid option: <redacted>$/);
  assertNoLeak(r.diagnostics);
  const r2 = parseSysConfig(`[Host]\nkey ${S00.slice(0, 30)}\n${S00.slice(30)}\n`, SYS);
  assert.match(about(r2.diagnostics, SYS, 3), /syntax error .*"<redacted>"\. Line ignored$/);
  assertNoLeak(r2.diagnostics);
  assert.equal(r2.config.nqn, 'file:///etc/nvme/hostnqn'); // the rest of the file still parses
});

test('(d) a secret as a section name', () => {
  for (const r of [
    parseSysConfig(`[${S00}]\nkey=1\n`, SYS),
    parseStafdConfig(`[${S03}]\n`, F),
    parseStacdConfig(`[Controllers]\n[${S02.toLowerCase()}]\n`, C),
  ]) {
    const d = r.diagnostics.find((x) => /contains invalid section/.test(x.message));
    assert.ok(d, JSON.stringify(r.diagnostics));
    assert.match(d.message, /contains invalid section: \[DHHC-1:<redacted>\]$/);
    assertNoLeak(r.diagnostics);
  }
});

test('the value of any secret-named key is hidden wherever else it appears in the same file', () => {
  const secret = 'Sup3rSecretValue';
  // Lines 2 and 5 are reported before the secret of line 7 is met.
  const r = parseStafdConfig(
    `[Global]\nqueue-size=${secret}\n[Controllers]\ncontroller = transport=tcp;traddr=1.2.3.4;kato=${secret}\n[${secret.toUpperCase()}]\n[Controllers]\ncontroller = transport=tcp;traddr=1.2.3.5;dhchap-ctrl-secret=${secret}\n`,
    F,
  );
  assert.match(about(r.diagnostics, F, 2), /queue-size - Data converter found invalid value "<redacted>"/);
  assert.match(about(r.diagnostics, F, 4), /kato: Data converter found invalid value "<redacted>"/);
  assert.match(about(r.diagnostics, F, 5), /contains invalid section: \[<redacted>\]$/);
  assertNoLeak(r.diagnostics, [secret]);
  assert.equal(r.config.controllers[1]?.dhchapCtrlSecret, secret); // the value itself is untouched
  const s = parseSysConfig(`[Host]\nkey = ${secret}\n[${secret.toLowerCase()}]\n`, SYS);
  assert.match(about(s.diagnostics, SYS, 3), /contains invalid section: \[<redacted>\]$/);
  assert.equal(s.config.key, secret);
});

// ---- the real stafd ----------------------------------------------------------------------------------------------

const STAFD = fileURLToPath(new URL('../../src/cli/stafd.js', import.meta.url));
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';

/** A TCP port of 127.0.0.1 that was free a moment ago (connections to it are refused). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('stafd prints every config diagnostic, and no secret, for each typo (stdout and stderr)', {
  skip: !haveDbusDaemon()
    ? 'dbus-daemon is not installed'
    : process.geteuid?.() !== 0
      ? 'stafd needs root'
      : false,
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stas-secrets-'));
  const dbus = await startDbusDaemon();
  const client = await openSystemBus({ address: dbus.address });
  try {
    const conf = join(dir, 'stafd.conf');
    const sys = join(dir, 'sys.conf');
    // Three ports nobody listens on (just closed): the controllers fail to connect, with tron on.
    const [p1, p2, p3] = await Promise.all([closedPort(), closedPort(), closedPort()]);
    writeFileSync(
      conf,
      // (tcp DCs on the userspace host: the section goes after line 10)
      userspaceDcs(
        [
          '[Global]',
          'tron = true',
          `queue-size = ${S02}`,
          '[Service Discovery]',
          'zeroconf = disabled',
          '[Controllers]',
          `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${p1};kato=30 dhchap-secret=${S00}`, // 7: (a)
          `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${p2};queue-size=${S03}`, // 8: (b)
          `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${p3};dhchap-secret=${S00}`, // 9: a correct one
          `[${S02}]`, // 10: (d)
          '',
        ].join('\n'),
      ),
    );
    writeFileSync(
      sys,
      [
        '[Host]',
        `nqn = ${HOSTNQN}`,
        'id = 5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
        `key ${S00}`, // 4: (c)
        `key ${S03}`, // 5: (c), lower-cased up to the padding
        `[${S00.toLowerCase()}]`, // 6: (d)
        '',
      ].join('\n'),
    );
    const proc = spawn(process.execPath, [STAFD, '-f', conf, '--sys-conf', sys], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address, RUNTIME_DIRECTORY: join(dir, 'run') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    const exited = once(proc, 'exit');
    try {
      // Up and serving: every start-up diagnostic has been written; each controller has been tried (logged).
      const staf = stafClient(client, { timeoutMs: 10_000 });
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const tried = [p1, p2, p3].every((p) => output.includes(`127.0.0.1, ${p},`));
          if (tried && (await staf.listControllers(true)).length === 3) break;
        } catch {
          // not on the bus yet
        }
        if (proc.exitCode !== null || Date.now() > deadline) assert.fail(`stafd did not come up:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
    for (const [file, line, what] of [
      [conf, 3, /queue-size - Data converter found invalid value "DHHC-1:<redacted>"/],
      [conf, 7, /kato: Data converter found invalid value "30 dhchap-secret=<redacted>"/],
      [conf, 8, /queue-size: Data converter found invalid value "DHHC-1:<redacted>"/],
      [conf, 10, /contains invalid section: \[DHHC-1:<redacted>\]/],
      [sys, 4, /syntax error .*"<redacted>"/],
      [sys, 5, /contains invalid option: key <redacted>/],
      [sys, 6, /contains invalid section: \[DHHC-1:<redacted>\]/],
    ] as const) {
      const printed = output.split('\n').find((l) => l.includes(`File:${file}:${line} `));
      assert.ok(printed, `nothing about ${file}:${line} in:\n${output}`);
      assert.match(printed, what);
    }
    assert.equal(leak(output), undefined, output);
  } finally {
    client.close();
    await dbus.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
