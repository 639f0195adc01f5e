// Configuration and identity files are read only when they are regular files, without ever waiting for a FIFO's
// writer: the loaders (sync and async) on a FIFO, a symbolic link to one, a device, a directory and a regular
// file; the identity's file:// values; and the real stafd with a FIFO as its configuration, at start and on
// SIGHUP (the daemon keeps its last good configuration and still answers SIGTERM).
//
// Reading a FIFO the old way blocks for ever, so the cases that open one run in a child process with a
// (generous) deadline: a regression fails the test instead of hanging it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stafClient } from '../../src/adapters/dbus/clients.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { HostIdentityError } from '../../src/core/host-identity.js';
import { exitOf, runDaemon, until } from '../support/daemon-process.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const notRoot = process.geteuid?.() !== 0 ? 'the daemons need root' : false;

const dir = mkdtempSync(join(tmpdir(), 'stas-nonblocking-'));
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mkfifo ${path}: ${r.stderr}`);
}

/** Runs an ES module script in a child process; its stdout parsed as JSON. Killed and failed after `ms`. */
async function inChild(script: string, ms = 60_000): Promise<unknown> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the reader did not return within ${ms / 1000} s (blocked on a FIFO?)`));
    }, ms);
  });
  try {
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c))),
      late,
    ]);
    assert.equal(code, 0, err);
    return JSON.parse(out);
  } finally {
    clearTimeout(timer);
  }
}

const mod = (p: string) => JSON.stringify(pathToFileURL(join(SRC, p)).href);

test('loaders refuse a FIFO (sync and async) at once, with the defaults and an error naming the file', async () => {
  const fifo = join(dir, 'stafd.conf');
  mkfifo(fifo);
  const link = join(dir, 'link.conf');
  symlinkSync(fifo, link);
  const result = await inChild(`
    const { loadConfigFile, loadConfigFileSync, readRegularFile, readRegularFileSync } = await import(${mod('adapters/config-file.js')});
    const { parseStafdConfig, defaultStafdConfig } = await import(${mod('core/config/service-config.js')});
    const out = {};
    for (const path of ${JSON.stringify([fifo, link])}) {
      const s = loadConfigFileSync(path, parseStafdConfig);
      const a = await loadConfigFile(path, parseStafdConfig);
      let syncError, asyncError;
      try { readRegularFileSync(path); } catch (e) { syncError = [e.name, e.code, e.message]; }
      try { await readRegularFile(path); } catch (e) { asyncError = [e.name, e.code, e.message]; }
      const defaults = JSON.stringify(defaultStafdConfig());
      out[path] = {
        sync: [s.hasErrors, JSON.stringify(s.config) === defaults, s.diagnostics],
        async: [a.hasErrors, JSON.stringify(a.config) === defaults, a.diagnostics],
        syncError, asyncError,
      };
    }
    console.log(JSON.stringify(out));`);
  for (const path of [fifo, link]) {
    const diags = [
      {
        level: 'error',
        file: path,
        message: `File:${path} is not a regular file (fifo). Defaults will be used`,
      },
    ];
    const error = ['NotRegularFileError', 'ENOTREG', `${path} is not a regular file (fifo)`];
    assert.deepEqual((result as Record<string, unknown>)[path], {
      sync: [true, true, diags],
      async: [true, true, diags],
      syncError: error,
      asyncError: error,
    });
  }
});

test('loaders: a device and a directory are refused, a regular file is read', async () => {
  const { loadConfigFile, loadConfigFileSync, readRegularFile, readRegularFileSync } = await import(
    '../../src/adapters/config-file.js'
  );
  const { parseStafdConfig } = await import('../../src/core/config/service-config.js');
  for (const [path, kind] of [
    ['/dev/null', 'character device'],
    [dir, 'directory'],
  ] as const) {
    const message = `File:${path} is not a regular file (${kind}). Defaults will be used`;
    assert.deepEqual(loadConfigFileSync(path, parseStafdConfig).diagnostics, [
      { level: 'error', file: path, message },
    ]);
    assert.deepEqual((await loadConfigFile(path, parseStafdConfig)).diagnostics, [
      { level: 'error', file: path, message },
    ]);
    assert.throws(() => readRegularFileSync(path), { code: 'ENOTREG' });
    await assert.rejects(readRegularFile(path), { code: 'ENOTREG' });
  }
  const file = join(dir, 'regular.conf');
  writeFileSync(file, '[Global]\nkato = 17\n');
  const s = loadConfigFileSync(file, parseStafdConfig);
  const a = await loadConfigFile(file, parseStafdConfig);
  assert.equal(s.config.connect.kato, 17);
  assert.equal(a.config.connect.kato, 17);
  assert.deepEqual([s.hasErrors, s.diagnostics, a.hasErrors, a.diagnostics], [false, [], false, []]);
  assert.equal(readRegularFileSync(file), '[Global]\nkato = 17\n');
  assert.equal(await readRegularFile(file), '[Global]\nkato = 17\n');
  await assert.rejects(readRegularFile(join(dir, 'absent')), { code: 'ENOENT' });
});

test('identity: sys.conf and file:// values that are FIFOs are refused without blocking', async () => {
  const d = mkdtempSync(join(dir, 'id-'));
  for (const name of ['hostnqn', 'hostkey', 'symname', 'sys-fifo.conf']) mkfifo(join(d, name));
  writeFileSync(join(d, 'hostid'), `${HOSTID}\n`);
  writeFileSync(
    join(d, 'nqn-fifo.conf'),
    `[Host]\nnqn = file://${join(d, 'hostnqn')}\nid = file://${join(d, 'hostid')}\n`,
  );
  writeFileSync(
    join(d, 'optional-fifos.conf'),
    `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\nkey = file://${join(d, 'hostkey')}\nsymname = file://${join(d, 'symname')}\n`,
  );
  const result = (await inChild(`
    const { loadHostIdentity } = await import(${mod('adapters/host-identity.js')});
    const { loadSysConfigSync } = await import(${mod('adapters/config-file.js')});
    const out = {};
    try { loadHostIdentity(${JSON.stringify(join(d, 'nqn-fifo.conf'))}); } catch (e) { out.nqn = [e.name, e.message]; }
    const o = loadHostIdentity(${JSON.stringify(join(d, 'optional-fifos.conf'))});
    out.optional = [o.identity, o.diagnostics.map((x) => x.message)];
    out.sys = loadSysConfigSync(${JSON.stringify(join(d, 'sys-fifo.conf'))}).diagnostics.map((x) => x.message);
    console.log(JSON.stringify(out));`)) as Record<string, unknown>;
  assert.deepEqual(result['nqn'], [
    HostIdentityError.name,
    `Error reading mandatory Host NQN (see stasadm --help): ${join(d, 'hostnqn')} is not a regular file (fifo)`,
  ]);
  assert.deepEqual(result['optional'], [
    { hostNqn: HOSTNQN, hostId: HOSTID },
    [
      `Error reading host key (will remain undefined): ${join(d, 'hostkey')} is not a regular file (fifo)`,
      `Error reading host symbolic name (will remain undefined): ${join(d, 'symname')} is not a regular file (fifo)`,
    ],
  ]);
  assert.deepEqual(result['sys'], [
    `File:${join(d, 'sys-fifo.conf')} is not a regular file (fifo). Defaults will be used`,
  ]);
});

test('stafd with a FIFO as its configuration starts with the defaults, says why, and stops on SIGTERM', {
  skip: !haveDbusDaemon() ? 'dbus-daemon is not installed' : notRoot,
}, async () => {
  const dbus = await startDbusDaemon();
  cleanups.push(() => dbus.stop());
  const d = mkdtempSync(join(dir, 'fifo-start-'));
  const conf = join(d, 'stafd.conf');
  mkfifo(conf);
  const sys = join(d, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
  const proc = runDaemon('stafd', ['-f', conf, '--sys-conf', sys], {
    DBUS_SYSTEM_BUS_ADDRESS: dbus.address,
    RUNTIME_DIRECTORY: join(d, 'run'),
  });
  cleanups.push(proc.kill9);
  await until('stafd running', () => /stafd \S+ running/.test(proc.output()));
  assert.match(
    proc.output(),
    new RegExp(`^File:${conf} is not a regular file \\(fifo\\)\\. Defaults will be used$`, 'm'),
  );
  proc.kill('SIGTERM');
  const [code, signal] = await exitOf(proc, 'stafd with a FIFO configuration');
  assert.deepEqual([code, signal], [0, null], proc.output());
  assert.match(proc.output(), /SIGTERM received: stopping/);
});

test('SIGHUP with the configuration replaced by a FIFO keeps the last good one; SIGTERM still stops stafd', {
  skip: !haveDbusDaemon() ? 'dbus-daemon is not installed' : notRoot,
}, async () => {
  const dbus = await startDbusDaemon();
  cleanups.push(() => dbus.stop());
  const d = mkdtempSync(join(dir, 'fifo-hup-'));
  const conf = join(d, 'stafd.conf');
  // tron = true is the configuration's visible mark (log level DEBUG over D-Bus; the defaults say INFO).
  writeFileSync(conf, '[Global]\ntron = true\n[Service Discovery]\nzeroconf = disabled\n');
  const sys = join(d, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
  const proc = runDaemon('stafd', ['-f', conf, '--sys-conf', sys], {
    DBUS_SYSTEM_BUS_ADDRESS: dbus.address,
    RUNTIME_DIRECTORY: join(d, 'run'),
  });
  cleanups.push(proc.kill9);
  const bus = await openSystemBus({ address: dbus.address });
  cleanups.push(() => bus.close());
  const staf = stafClient(bus);
  await until('stafd answering', async () => {
    try {
      await staf.processInfo();
      return true;
    } catch {
      return false;
    }
  });
  assert.equal(await staf.logLevel(), 'DEBUG');

  const fifo = join(d, 'fifo');
  mkfifo(fifo);
  renameSync(fifo, conf);
  proc.kill('SIGHUP');
  await until('the reload refused', () => proc.output().includes('keeping the last good configuration'));
  assert.match(
    proc.output(),
    new RegExp(`^File:${conf} is not a regular file \\(fifo\\)\\. Defaults will be used$`, 'm'),
  );
  assert.doesNotMatch(proc.output(), /Configuration reloaded/);
  // Still serving, with the last good configuration.
  assert.equal(await staf.logLevel(), 'DEBUG');

  proc.kill('SIGTERM');
  const [code, signal] = await exitOf(proc, 'stafd after a refused reload');
  assert.deepEqual([code, signal], [0, null], proc.output());
  assert.match(proc.output(), /SIGTERM received: stopping/);
});
