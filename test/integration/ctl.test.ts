// stafctl and stacctl end to end: a private dbus-daemon, the real stafd (or a fake stacd), outputs compared with CPython's pprint.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { stafClient } from '../../src/adapters/dbus/clients.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { cell, dbusFailureMessage, expandAbbreviations } from '../../src/cli/ctl.js';
import { AdrFam } from '../../src/core/nvme/discovery-log.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import {
  exportStacdApi,
  exportStafdApi,
  type StacdApiService,
  type StafdApiService,
} from '../../src/daemons/dbus-api.js';
import type { Logger } from '../../src/daemons/logger.js';
import { type DbusDaemon, haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { userspaceDcs } from '../support/stafd-process.js';
import { until } from '../support/until.js';

const bin = (name: string) => fileURLToPath(new URL(`../../src/cli/${name}.js`, import.meta.url));
const STAFCTL = bin('stafctl');
const STACCTL = bin('stacctl');
const STAFD = bin('stafd');
const COMPLETIONS = fileURLToPath(new URL('../../../etc/bash-completion/', import.meta.url));
const POLICY_DIR = fileURLToPath(new URL('../../../etc/dbus-1/system.d/', import.meta.url));
const PYTHON = '/usr/bin/python3';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const NOBODY = 65534;
const IS_ROOT = process.geteuid?.() === 0;

const NOT_RUNNING = (d: string) => `Unable to communicate with ${d} over D-Bus. Is ${d} running?\n`;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const HAVE_PYTHON = executable(PYTHON);
const noBus = !haveDbusDaemon() && 'dbus-daemon is not installed';
const noPython = !HAVE_PYTHON && `${PYTHON} is not installed: no CPython pprint to compare with`;

/** CPython's output for the value, exactly as nvme-stas prints it (print(pprint.pformat(x, width=120))). */
function pythonPrint(v: unknown): string {
  const r = spawnSync(
    PYTHON,
    ['-c', 'import pprint,json,sys; print(pprint.pformat(json.loads(sys.stdin.read()), width=120))'],
    { input: JSON.stringify(v), encoding: 'utf8', env: { ...process.env, PYTHONIOENCODING: 'utf-8' } },
  );
  if (r.status !== 0) throw new Error(`python3: ${r.stderr}`);
  return r.stdout;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a CLI without blocking this process (it may be the D-Bus service the CLI talks to). */
function run(prog: string, args: string[], env: NodeJS.ProcessEnv = {}, uid?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    // Another user cannot write the coverage files of this (root) run, and Node hands NODE_V8_COVERAGE to every
    // child even when it is left out: point it at a directory that user may write (its coverage is not counted).
    if (uid !== undefined && childEnv['NODE_V8_COVERAGE']) {
      const dir = mkdtempSync(join(tmpdir(), 'stas-cov-'));
      chmodSync(dir, 0o777);
      childEnv['NODE_V8_COVERAGE'] = dir;
    }
    const p = spawn(process.execPath, [prog, ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(uid !== undefined ? { uid, gid: uid } : {}),
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A logger that drops every message (tron as the D-Bus property sets it). */
function quietLog(): Logger {
  return Object.assign(() => {}, { tron: false });
}

describe('command line (no daemon needed)', () => {
  test('no command: usage on stdout, exit 1; -v; -h documents the exit codes', async () => {
    for (const [prog, name] of [
      [STAFCTL, 'stafctl'],
      [STACCTL, 'stacctl'],
    ] as const) {
      const r = await run(prog, []);
      assert.equal(r.code, 1);
      assert.match(r.stdout, new RegExp(`^usage: ${name} \\[-h\\] \\[-v\\]`));
      assert.equal(r.stderr, '');
      assert.deepEqual(await run(prog, ['-v']), { code: 0, stdout: 'stas 0.1.0\n', stderr: '' });
      assert.equal((await run(prog, ['--version', 'ls'])).stdout, 'stas 0.1.0\n');
      const h = await run(prog, ['--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, /exit status:\n {2}0 {2}success\n {2}1 {2}error: .*\n.*\n {2}2 {2}usage error/);
      assert.match(h.stdout, /--json/);
      assert.match(h.stdout, /-H, --human/);
    }
    const h = await run(STACCTL, ['-h']);
    assert.match(h.stdout, /\{tron,troff,status,ls,plan,events\}/);
    const ls = await run(STAFCTL, ['ls', '-h']);
    assert.equal(ls.code, 0);
    assert.match(ls.stdout, /^usage: stafctl ls \[-h\] \[--json \| -H\] \[-d\]\n/);
    assert.match(ls.stdout, /-d, --detailed +Print detailed info \(default: "False"\)/);
  });

  test('usage errors exit 2 with argparse-style messages', async () => {
    const cases: [string, string[], RegExp][] = [
      [
        STAFCTL,
        ['foo'],
        /stafctl: error: argument \{tron,troff,status,ls,dlp,adlp,events\}: invalid choice: 'foo'/,
      ],
      [
        STACCTL,
        ['dlp'],
        /stacctl: error: argument \{tron,troff,status,ls,plan,events\}: invalid choice: 'dlp'/,
      ],
      [
        STAFCTL,
        ['dlp'],
        /stafctl dlp: error: the following arguments are required: -a\/--traddr, -s\/--trsvcid/,
      ],
      [STAFCTL, ['dlp', '-a', '1.2.3.4'], /required: -s\/--trsvcid\n$/],
      [STAFCTL, ['dlp', '-t', 'ib', '-a', 'x', '-s', '1'], /argument -t\/--transport: invalid choice: 'ib'/],
      [STAFCTL, ['ls', '-x'], /^usage: stafctl ls .*\nstafctl ls: error: /],
      [STAFCTL, ['ls', 'extra'], /stafctl ls: error: /],
      [STAFCTL, ['--json', 'ls', '-H'], /not allowed with argument --json/],
      [
        STAFCTL,
        ['dlp', '--host', 'x'],
        /ambiguous option: --host could match --host-traddr, --host-iface, --host-nqn/,
      ],
      [STACCTL, ['--bogus'], /^usage: stacctl .*\nstacctl: error: /],
    ];
    for (const [prog, args, re] of cases) {
      const r = await run(prog, args, { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent' });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, re, args.join(' '));
    }
  });

  test('helpers: abbreviations, D-Bus error messages, terminal-safe cells', () => {
    const opts = {
      detailed: { type: 'boolean' },
      'host-nqn': { type: 'string', short: 'q' },
      'host-iface': { type: 'string' },
    } as const;
    assert.deepEqual(expandAbbreviations(['--det', '--host-n=x', '-q', '--det'], opts), [
      '--detailed',
      '--host-nqn=x',
      '-q',
      '--det',
    ]);
    assert.deepEqual(expandAbbreviations(['--host-n', '--det', 'cmd', '--det'], opts, true), [
      '--host-nqn',
      '--det',
      'cmd',
      '--det',
    ]);
    assert.deepEqual(expandAbbreviations(['--unknown', '--', '--det'], opts), ['--unknown', '--', '--det']);
    assert.throws(() => expandAbbreviations(['--host'], opts), /ambiguous option: --host could match/);
    const err = (type: string) => Object.assign(new Error('x'), { type });
    assert.equal(
      dbusFailureMessage('stacd', err('org.freedesktop.DBus.Error.UnknownMethod')),
      'stacd does not support this command (org.freedesktop.DBus.Error.UnknownMethod): is it an older or another implementation?',
    );
    assert.equal(
      dbusFailureMessage('stafd', err('org.freedesktop.DBus.Error.ServiceUnknown')),
      NOT_RUNNING('stafd').trim(),
    );
    assert.equal(dbusFailureMessage('stafd', new Error('timeout')), NOT_RUNNING('stafd').trim());
    assert.equal(cell('evil\x1b]0;title\x07\u2028name'), 'evil\\x1b]0;title\\x07\\u2028name');
    assert.equal(cell(''), '-');
    assert.equal(cell(null), '-');
    assert.equal(cell(true), 'True');
    assert.equal(cell(['a', 1]), "['a', 1]");
  });

  test('no bus at all: the nvme-stas message on stderr, exit 1', async () => {
    const env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(tmpdir(), 'no-such-bus-socket')}` };
    for (const args of [['ls'], ['status'], ['tron'], ['adlp', '-d'], ['ls', '--det']]) {
      assert.deepEqual(await run(STAFCTL, args, env), { code: 1, stdout: '', stderr: NOT_RUNNING('stafd') });
    }
    assert.deepEqual(await run(STACCTL, ['plan'], env), {
      code: 1,
      stdout: '',
      stderr: NOT_RUNNING('stacd'),
    });
  });

  test('dlp without -q needs a host NQN in sys.conf (the other commands do not)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stafctl-'));
    const sys = join(dir, 'sys.conf');
    writeFileSync(sys, `[Host]\nnqn = file://${join(dir, 'missing')}\n`);
    const env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dir, 'bus')}` };
    const r = await run(STAFCTL, ['--sys-conf', sys, 'dlp', '-a', '10.0.0.1', '-s', '8009'], env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^stafctl: cannot read the host NQN \(.*sys\.conf: .*ENOENT.*\); give it with -q\/--host-nqn\n$/,
    );
    // With -q, or for any other command, the missing NQN does not matter (the bus is what fails here).
    const q = await run(
      STAFCTL,
      ['--sys-conf', sys, 'dlp', '-a', '10.0.0.1', '-s', '8009', '-q', HOSTNQN],
      env,
    );
    assert.deepEqual(q, { code: 1, stdout: '', stderr: NOT_RUNNING('stafd') });
    assert.equal((await run(STAFCTL, ['--sys-conf', sys, 'ls'], env)).stderr, NOT_RUNNING('stafd'));
    // Abbreviated global option with a value (argparse accepts it too).
    const abbrev = await run(STAFCTL, ['--sys', sys, 'dlp', '-a', '10.0.0.1', '-s', '8009'], env);
    assert.match(abbrev.stderr, /^stafctl: cannot read the host NQN/);
  });

  test('bash completions: every command and option of --help is completed', {
    skip: !executable('/bin/bash') && 'no bash',
  }, async () => {
    const complete = (file: string, fn: string, words: string[]) => {
      const script = `source ${JSON.stringify(join(COMPLETIONS, file))}; COMP_WORDS=(${words
        .map((w) => JSON.stringify(w))
        .join(' ')}); COMP_CWORD=${words.length - 1}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('/bin/bash', ['-c', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter((x) => x !== '');
    };
    const optionsOf = (help: string) => [...new Set(help.match(/(?<=^ {2}|, )--?[a-zA-Z][-a-z]*/gm) ?? [])];
    for (const [prog, file, fn] of [
      [STAFCTL, 'stafctl', '_stas_stafctl'],
      [STACCTL, 'stacctl', '_stas_stacctl'],
      [bin('stasadm'), 'stasadm', '_stas_stasadm'],
    ] as const) {
      const help = (await run(prog, ['-h'])).stdout;
      const commands = help.match(/^ {2}\{([^}]+)\}$/m)![1]!.split(',');
      assert.deepEqual(complete(file, fn, [file, '']), commands, file);
      assert.deepEqual(complete(file, fn, [file, '-']).sort(), optionsOf(help).sort(), `${file} options`);
      for (const c of commands) {
        const sub = (await run(prog, [c, '-h'])).stdout;
        assert.deepEqual(complete(file, fn, [file, c, '-']).sort(), optionsOf(sub).sort(), `${file} ${c}`);
      }
    }
    assert.deepEqual(complete('stafctl', '_stas_stafctl', ['stafctl', '--json', 'dlp', '-t', 'r']), ['rdma']);
    assert.deepEqual(complete('stafctl', '_stas_stafctl', ['stafctl', 'dlp', '-a', '']), []);
  });
});

describe('stafctl against the real stafd', { skip: noBus || (!IS_ROOT && 'stafd needs root') }, () => {
  let dbus: DbusDaemon;
  const targets: DiscoveryTarget[] = [];
  let proc: ReturnType<typeof spawn> | undefined;
  let sys = '';
  let env: NodeJS.ProcessEnv = {};
  let staf: ReturnType<typeof stafClient>;
  let closeBus = () => {};
  let tidA: [string, string, string, string, string, string, string];

  before(async () => {
    dbus = await startDbusDaemon();
    env = { DBUS_SYSTEM_BUS_ADDRESS: dbus.address };
    const longNqn = `nqn.2024-01.io.stas-test:${'a-really-long-subsystem-name-'.repeat(5)}x`;
    const a = new DiscoveryTarget({
      entries: [
        ioEntry(1),
        ioEntry(2, { adrfam: AdrFam.ipv6, traddr: '::1' }),
        ioEntry(3, { subnqn: longNqn, trsvcid: '4421' }),
      ],
    });
    const b = new DiscoveryTarget({ entries: [ioEntry(4)] });
    for (const t of [a, b]) {
      await t.start();
      targets.push(t);
    }
    const dir = mkdtempSync(join(tmpdir(), 'stafctl-'));
    sys = join(dir, 'sys.conf');
    const conf = join(dir, 'stafd.conf');
    writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
    writeFileSync(
      conf,
      userspaceDcs(
        '[Global]\nkato = 0\n[Service Discovery]\nzeroconf = disabled\n[Controllers]\n' +
          `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${a.port}\n` +
          `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${b.port};host-iface=lo\n`,
      ),
    );
    proc = spawn(process.execPath, [STAFD, '-f', conf, '--sys-conf', sys], {
      env: { ...process.env, ...env, RUNTIME_DIRECTORY: join(dir, 'run') },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const bus = await openSystemBus({ address: dbus.address });
    closeBus = () => bus.close();
    staf = stafClient(bus);
    tidA = ['tcp', '127.0.0.1', String(a.port), WELL_KNOWN_DISC_NQN, '', '', HOSTNQN];
    await until('both DCs read', async () => {
      try {
        const all = JSON.parse(await staf.getAllLogPages(false)) as { 'log-pages': unknown[] }[];
        return all.length === 2 && all.every((x) => x['log-pages'].length > 0);
      } catch {
        return false;
      }
    });
  });

  after(async () => {
    closeBus();
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
    for (const t of targets) await t.stop();
    await dbus?.stop();
  });

  /** The CLI output equals CPython's pprint of the daemon's data (read before and after: it must be stable). */
  async function samePprint(args: string[], data: () => Promise<unknown>): Promise<string> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const before = await data();
      const r = await run(STAFCTL, args, env);
      const afterwards = await data();
      if (!isDeepStrictEqual(before, afterwards)) continue;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout, pythonPrint(before), `stafctl ${args.join(' ')}`);
      return r.stdout;
    }
    throw new Error(`stafd's data for ${args.join(' ')} kept changing`);
  }

  test('ls, ls -d: byte-identical to CPython pprint of list_controllers', { skip: noPython }, async () => {
    const out = await samePprint(['ls'], () => staf.listControllers(false));
    assert.match(out, /^\[\{'device': 'nvme\?',\n {2}'host-iface': '',\n/); // one item per line, hanging indent
    await samePprint(['ls', '-d'], () => staf.listControllers(true));
    await samePprint(['ls', '--detailed'], () => staf.listControllers(true));
  });

  test('dlp (explicit -q, sys.conf default, unknown DC) and adlp [-d] equal CPython pprint', {
    skip: noPython,
  }, async () => {
    const [transport, traddr, trsvcid] = tidA;
    const pages = () => staf.getLogPages(...tidA);
    const out = await samePprint(['dlp', '-t', transport, '-a', traddr, '-s', trsvcid, '-q', HOSTNQN], pages);
    assert.match(out, /'subnqn': 'nqn\.2024-01\.io\.stas-test:subsys1'/);
    assert.match(out, /'adrfam': 'ipv6'/);
    await samePprint(['--sys-conf', sys, 'dlp', '-a', traddr, '-s', trsvcid], pages);
    await samePprint(
      ['--sys-conf', sys, 'dlp', '--traddr', traddr, '--trsvcid', trsvcid, '-n', WELL_KNOWN_DISC_NQN],
      pages,
    );
    const none = await run(STAFCTL, ['dlp', '-a', '10.9.9.9', '-s', '8009', '-q', HOSTNQN], env);
    assert.deepEqual(none, { code: 0, stdout: '[]\n', stderr: '' });
    await samePprint(['adlp'], async () => JSON.parse(await staf.getAllLogPages(false)));
    await samePprint(['adlp', '-d'], async () => JSON.parse(await staf.getAllLogPages(true)));
  });

  test('status: process_info + controllers (detailed + log_pages + controller_info) as nvme-stas builds it', {
    skip: noPython,
  }, async () => {
    const out = await samePprint(['status'], async () => {
      const info = JSON.parse(await staf.processInfo()) as Record<string, unknown>;
      const ctrls = (await staf.listControllers(true)) as Record<string, unknown>[];
      for (const c of ctrls) {
        const s = (k: string) => String(c[k] ?? '');
        const tid = [
          s('transport'),
          s('traddr'),
          s('trsvcid'),
          s('subsysnqn'),
          s('host-traddr'),
          s('host-iface'),
          s('host-nqn'),
        ] as const;
        c['log_pages'] = await staf.getLogPages(...tid);
        Object.assign(c, JSON.parse(await staf.controllerInfo(...tid)));
      }
      info['controllers'] = ctrls;
      return info;
    });
    assert.match(out, /'controllers': \[\{/);
    assert.match(out, /'log_pages': \[\{'adrfam': 'ipv4',/);
  });

  test('tron / troff set the property and print it back', async () => {
    assert.deepEqual(await run(STAFCTL, ['tron'], env), { code: 0, stdout: 'tron = True\n', stderr: '' });
    assert.equal(await staf.getTron(), true);
    assert.equal(await staf.logLevel(), 'DEBUG');
    assert.deepEqual(await run(STAFCTL, ['troff'], env), { code: 0, stdout: 'tron = False\n', stderr: '' });
    assert.equal(await staf.getTron(), false);
    assert.deepEqual(JSON.parse((await run(STAFCTL, ['--json', 'troff'], env)).stdout), { tron: false });
  });

  test('--json prints the same data as JSON', async () => {
    const ls = await run(STAFCTL, ['ls', '--json'], env);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(JSON.parse(ls.stdout), await staf.listControllers(false));
    const dlp = await run(STAFCTL, ['--json', 'dlp', '-a', tidA[1], '-s', tidA[2], '-q', HOSTNQN], env);
    assert.deepEqual(JSON.parse(dlp.stdout), await staf.getLogPages(...tidA));
    const adlp = await run(STAFCTL, ['adlp', '--json'], env);
    assert.deepEqual(JSON.parse(adlp.stdout), JSON.parse(await staf.getAllLogPages(false)));
    const status = JSON.parse((await run(STAFCTL, ['status', '--json'], env)).stdout);
    assert.equal(status.hostnqn, HOSTNQN);
    assert.equal(status.controllers.length, 2);
    assert.equal(status.controllers[0].log_pages.length, 3);
  });

  test('-H prints tables', async () => {
    const port = tidA[2];
    const ls = await run(STAFCTL, ['-H', 'ls'], env);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^TRANSPORT +TRADDR +TRSVCID +SUBSYSNQN +HOST-IFACE +DEVICE$/);
    assert.equal(lines.length, 3);
    assert.ok(
      lines.some((l) =>
        new RegExp(`^tcp +127\\.0\\.0\\.1 +${port} +${WELL_KNOWN_DISC_NQN} +- +nvme\\?$`).test(l),
      ),
      ls.stdout,
    );
    assert.ok(
      lines.some((l) => / lo +nvme\?$/.test(l)),
      ls.stdout,
    );
    const dlp = await run(STAFCTL, ['dlp', '-H', '-a', tidA[1], '-s', port, '-q', HOSTNQN], env);
    const d = dlp.stdout.trimEnd().split('\n');
    assert.match(d[0]!, /^TRTYPE +ADRFAM +TRADDR +TRSVCID +SUBTYPE +TREQ +PORTID +CNTLID +SUBNQN$/);
    assert.match(
      d[1]!,
      /^tcp +ipv4 +127\.0\.0\.1 +4420 +nvme +not specified +1 +65535 +nqn\.2024-01\.io\.stas-test:subsys1$/,
    );
    assert.match(d[2]!, /^tcp +ipv6 +::1 +4420 +nvme /);
    const adlp = await run(STAFCTL, ['adlp', '--human'], env);
    assert.match(
      adlp.stdout,
      new RegExp(`^\\(tcp, 127\\.0\\.0\\.1, ${port}, ${WELL_KNOWN_DISC_NQN}\\) nvme\\?\\nTRTYPE `, 'm'),
    );
    assert.match(adlp.stdout, /, lo\) nvme\?\nTRTYPE /);
    const status = await run(STAFCTL, ['status', '-H'], env);
    assert.match(status.stdout, new RegExp(`^hostnqn: ${HOSTNQN}$`, 'm'));
    assert.match(status.stdout, /\ncontrollers:\nTRANSPORT .* CONNECTED +LOG ENTRIES\n/);
  });
});

describe('stafctl: permission denied by the stas D-Bus policy', {
  skip: noBus || (!IS_ROOT && 'needs root to own org.nvmexpress.staf under the policy and to run as nobody'),
}, () => {
  test('a non-root user gets the permission message (not "is stafd running?")', async () => {
    const dbus = await startDbusDaemon({
      policy: 'system',
      include: [join(POLICY_DIR, 'org.nvmexpress.staf.conf'), join(POLICY_DIR, 'org.nvmexpress.stac.conf')],
      dirMode: 0o755,
    });
    const bus = await openSystemBus({ address: dbus.address });
    try {
      const api: StafdApiService = {
        tron: false,
        listControllers: () => [],
        getLogPages: () => [],
        getAllLogPages: () => '[]',
        processInfo: () => '{}',
        controllerInfo: () => '{}',
        eventsJson: () =>
          '[{"time":"2026-11-23T10:00:00.000Z","kind":"connected","controller":"(tcp, 127.0.0.1, 4420)","device":"nvme0"}]',
      };
      await exportStafdApi(bus, api, quietLog());
      const env = { DBUS_SYSTEM_BUS_ADDRESS: dbus.address };
      assert.deepEqual(await run(STAFCTL, ['ls'], env), { code: 0, stdout: '[]\n', stderr: '' });
      for (const args of [['ls'], ['tron'], ['status']]) {
        assert.deepEqual(await run(STAFCTL, args, env, NOBODY), {
          code: 1,
          stdout: '',
          stderr: 'Permission denied: only root may query or control stafd (D-Bus policy)\n',
        });
      }
      // stacd is not running on that bus: nobody learns that (not a permission problem).
      assert.equal((await run(STACCTL, ['ls'], env, NOBODY)).stderr, NOT_RUNNING('stacd'));
    } finally {
      bus.close();
      await dbus.stop();
    }
  });
});

describe('stacctl against a stacd test double on a private bus', { skip: noBus }, () => {
  let dbus: DbusDaemon;
  let closeBus = () => {};
  let tron = false;
  const env: NodeJS.ProcessEnv = {};
  const ioc = (i: number, device: string, extra: Record<string, string> = {}): Record<string, string> => ({
    traddr: `10.10.1.${i}`,
    trsvcid: '4420',
    transport: 'tcp',
    subsysnqn: `nqn.1988-11.com.dell:powerstore:00:2a64abf1c5b81F6C4549-${i}`,
    'host-iface': i % 2 ? 'enp0s8' : '',
    'host-traddr': '',
    'host-nqn': HOSTNQN,
    device,
    ...extra,
  });
  const detailed = (c: Record<string, string>) => ({
    ...c,
    hostid: HOSTID,
    hostnqn: HOSTNQN,
    model: 'Linux',
    serial: '8d0ec4c4b5a4d8a9e2f1',
    dctype: '',
    cntrltype: 'io',
    connected: c['device'] === 'nvme?' ? 'False' : 'True',
    dlpe: "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '10.10.1.1', 'trsvcid': '4420', 'subnqn': 'nqn.x', 'subtype': 'nvme', 'treq': 'not specified', 'portid': '1', 'cntlid': '65535', 'asqsz': '32', 'eflags': '0'}",
    'dlpe.eflags.ncc': 'False',
  });
  const iocs = [
    ioc(1, 'nvme1', { 'dhchap-ctrl-secret': 'DHHC-1:00:ia6zGodOr4SEG0Zzaw398rpY0wqipUWj4jWjUh4HWUz6aQ2n:' }),
    ioc(2, 'nvme?'),
  ];
  const processInfo = {
    tron: false,
    'log-level': 'INFO',
    hostnqn: HOSTNQN,
    hostid: HOSTID,
    hostkey: '',
    symname: "rack 4 'host' 2",
    'last known config file': '/run/stacd/last-known-config.json',
    'config soak timer': '1.5s [off]',
    'kernel support.TP8013': 'True',
    'kernel support.host_iface': 'True',
    'terminator.audit timer': '30.0s [off]',
  };
  const info = (traddr: string | undefined) => ({
    'connect attempts': traddr === '10.10.1.2' ? '3' : '0',
    'retry connect timer': traddr === '10.10.1.2' ? '60.0s [42.5s]' : '60.0s [off]',
  });
  const plan = (
    [
      { action: 'keep', ...ioc(1, 'nvme1'), reason: 'connected (nvme1) and listed by a discovery log page' },
      {
        action: 'connect',
        ...ioc(2, ''),
        reason:
          'listed by the discovery log page of (tcp, 192.168.1.20, 8009, nqn.2014-08.org.nvmexpress.discovery)',
      },
      { action: 'disconnect', ...ioc(3, 'nvme3'), reason: 'no longer listed' },
      {
        action: 'skip',
        ...ioc(4, ''),
        'host-traddr': '10.0.0.9',
        reason: 'excluded by exclude= (stacd.conf line 12)',
      },
    ] as Record<string, string>[]
  ).map(({ device, ...rest }) => (device ? { ...rest, device } : rest));

  before(async () => {
    dbus = await startDbusDaemon();
    env['DBUS_SYSTEM_BUS_ADDRESS'] = dbus.address;
    const bus = await openSystemBus({ address: dbus.address });
    closeBus = () => bus.close();
    // The daemons' own D-Bus wiring (tron sets the logger's and the service's flag) over a stacd double.
    const api: StacdApiService = {
      get tron() {
        return tron;
      },
      set tron(on) {
        tron = on;
      },
      listControllers: (d) => (d ? iocs.map(detailed) : iocs),
      processInfo: () => JSON.stringify({ ...processInfo, tron }),
      controllerInfo: (...args) => JSON.stringify(info(args[1])),
      eventsJson: () =>
        '[{"time":"2026-11-23T10:00:00.000Z","kind":"connected","controller":"(tcp, 127.0.0.1, 4420)","device":"nvme0"}]',
      planJson: () => JSON.stringify(plan),
    };
    await exportStacdApi(bus, api, quietLog());
  });

  after(async () => {
    closeBus();
    await dbus?.stop();
  });

  const expectPprint = async (args: string[], data: unknown) => {
    const r = await run(STACCTL, args, env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, pythonPrint(data), `stacctl ${args.join(' ')}`);
  };

  test('ls, ls -d, status and plan equal CPython pprint of the D-Bus data', { skip: noPython }, async () => {
    await expectPprint(['ls'], iocs);
    await expectPprint(['ls', '-d'], iocs.map(detailed));
    await expectPprint(['status'], {
      ...processInfo,
      tron,
      controllers: iocs.map((c) => ({ ...detailed(c), ...info(c['traddr']) })),
    });
    await expectPprint(['plan'], plan);
  });

  test("status: controller_info is asked with each controller's seven TID fields", async () => {
    const r = await run(STACCTL, ['--json', 'status'], env);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(
      s.controllers.map((c: Record<string, string>) => [c['connect attempts'], c['retry connect timer']]),
      [
        ['0', '60.0s [off]'],
        ['3', '60.0s [42.5s]'],
      ],
    );
    assert.equal(s.symname, "rack 4 'host' 2");
  });

  test('tron / troff, --json, -H', async () => {
    assert.deepEqual(await run(STACCTL, ['tron'], env), { code: 0, stdout: 'tron = True\n', stderr: '' });
    assert.equal(tron, true);
    assert.deepEqual(await run(STACCTL, ['troff', '-H'], env), {
      code: 0,
      stdout: 'tron = False\n',
      stderr: '',
    });
    assert.equal(tron, false);
    assert.deepEqual(JSON.parse((await run(STACCTL, ['ls', '--json'], env)).stdout), iocs);
    assert.deepEqual(JSON.parse((await run(STACCTL, ['--json', 'plan'], env)).stdout), plan);

    const ls = await run(STACCTL, ['ls', '-H'], env);
    assert.equal(
      ls.stdout,
      'TRANSPORT  TRADDR     TRSVCID  SUBSYSNQN                                                  HOST-IFACE  DEVICE\n' +
        'tcp        10.10.1.1  4420     nqn.1988-11.com.dell:powerstore:00:2a64abf1c5b81F6C4549-1  enp0s8      nvme1\n' +
        'tcp        10.10.1.2  4420     nqn.1988-11.com.dell:powerstore:00:2a64abf1c5b81F6C4549-2  -           nvme?\n',
    );
    const p = await run(STACCTL, ['-H', 'plan'], env);
    const n = 'nqn.1988-11.com.dell:powerstore:00:2a64abf1c5b81F6C4549-';
    assert.equal(
      p.stdout,
      `ACTION      DEVICE  TID${' '.repeat(90)}REASON
keep        nvme1   (tcp, 10.10.1.1, 4420, ${n}1, enp0s8)    connected (nvme1) and listed by a discovery log page
connect     -       (tcp, 10.10.1.2, 4420, ${n}2)            ${plan[1]!['reason']}
disconnect  nvme3   (tcp, 10.10.1.3, 4420, ${n}3, enp0s8)    no longer listed
skip        -       (tcp, 10.10.1.4, 4420, ${n}4, 10.0.0.9)  excluded by exclude= (stacd.conf line 12)
`,
    );
  });
});
