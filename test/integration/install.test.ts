// `make install` into a scratch root: offline (npm is never run), exactly the bundled programs, the native addon and
// the files around them; then the installed programs run from there: --version, stafd on a private bus, and a
// SIGTERM while the installed stafd is still loading its program chunk (the bundle keeps the signal-first start).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stafClient } from '../../src/adapters/dbus/clients.js';
import { STAFD_DBUS_NAME, STAFD_DBUS_PATH } from '../../src/adapters/dbus/idl.js';
import { busCall, openSystemBus } from '../../src/adapters/dbus/service.js';
import { VERSION } from '../../src/version.js';
import { until } from '../support/daemon-process.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The bundles of the tree this test was compiled into (dist/bundle/ for npm run build). */
const BUNDLE = fileURLToPath(new URL('../../bundle/', import.meta.url));
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const skip = !existsSync(join(ROOT, 'build/Release/stas_native.node'))
  ? 'native addon not built'
  : !existsSync(join(BUNDLE, 'stafd.mjs'))
    ? 'no bundle (node dist/tools/bundle.js)'
    : false;
const PROGRAMS = ['stafd', 'stacd', 'stafctl', 'stacctl', 'stasadm'];

/** `make install` with an npm on PATH that fails: an install that ran npm (the registry) would fail. */
function makeInstall(root: string): void {
  const bin = join(root, 'no-npm');
  mkdirSync(bin, { recursive: true });
  for (const tool of ['npm', 'npx', 'node-gyp']) {
    writeFileSync(join(bin, tool), '#!/bin/sh\necho "make install ran $0" >&2\nexit 97\n');
    chmodSync(join(bin, tool), 0o755);
  }
  execFileSync(
    'make',
    [
      '-s',
      'install',
      `BUNDLE=${BUNDLE}`,
      `PREFIX=${root}/usr`,
      `SYSCONFDIR=${root}/etc`,
      `NODE=${process.execPath}`,
    ],
    { cwd: ROOT, stdio: 'pipe', env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` } },
  );
}

/** A scratch root, removed after the test. */
function scratch(t: { after: (fn: () => void) => void }): string {
  const root = mkdtempSync(join(tmpdir(), 'stas-install-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

function listTree(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listTree(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

test('make install is offline and installs the bundled programs, the addon and nothing else in lib/stas', {
  skip,
  timeout: 120_000,
}, (t) => {
  const root = scratch(t);
  makeInstall(root);
  for (const f of [
    'usr/sbin/stafd',
    'usr/sbin/stacd',
    'usr/bin/stafctl',
    'usr/bin/stacctl',
    'usr/bin/stasadm',
    'usr/share/dbus-1/system.d/org.nvmexpress.staf.conf',
    'usr/share/man/man8/stafd.8',
    'usr/share/man/man5/stacd.conf.5',
    'usr/share/doc/stas/THIRD-PARTY-LICENSES',
    'etc/stas/stafd.conf',
    'etc/stas/stacd.conf',
  ]) {
    assert.ok(existsSync(join(root, f)), f);
  }
  // lib/stas: one module per program, the shared chunks, the addon; no node_modules, no package.json.
  const lib = readdirSync(join(root, 'usr/lib/stas')).sort();
  assert.deepEqual(
    lib,
    readdirSync(BUNDLE)
      .filter((f) => f.endsWith('.mjs'))
      .concat('stas_native.node')
      .sort(),
  );
  for (const p of PROGRAMS) assert.ok(lib.includes(`${p}.mjs`), `${p}.mjs`);
  assert.deepEqual(
    listTree(join(root, 'usr/lib/stas')).filter((f) => !/^[\w-]+\.mjs$|^stas_native\.node$/.test(f)),
    [],
  );
  // stas has no production dependency: no package is inlined, none listed among the licenses.
  const inlined = lib.map((f) => readFileSync(join(root, 'usr/lib/stas', f), 'latin1')).join('\n');
  assert.match(inlined, /DBusConnection/);
  assert.doesNotMatch(inlined, /node_modules\//);
  const notices = readFileSync(join(root, 'usr/share/doc/stas/THIRD-PARTY-LICENSES'), 'utf8');
  assert.equal(notices, 'stas bundles no third-party package into its program files.\n');

  const unit = readFileSync(join(root, 'usr/lib/systemd/system/stafd.service'), 'utf8');
  assert.match(unit, new RegExp(`ExecStart=${root}/usr/sbin/stafd --syslog`));
  assert.match(
    readFileSync(join(root, 'usr/lib/systemd/system/stas-config@.service'), 'utf8'),
    new RegExp(`ExecStart=${root}/usr/bin/stasadm %i -f /etc/nvme/%i`),
  );
  // --version: stas and package.json's version, from every installed program.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
  for (const [dir, p] of [
    ...['stafd', 'stacd'].map((p) => ['sbin', p]),
    ...['stafctl', 'stacctl', 'stasadm'].map((p) => ['bin', p]),
  ]) {
    assert.equal(
      execFileSync(join(root, 'usr', dir!, p!), ['--version'], { encoding: 'utf8' }),
      `stas ${pkg.version}\n`,
      p,
    );
  }
  // A second install keeps an edited configuration file.
  writeFileSync(join(root, 'etc/stas/stafd.conf'), '[Global]\ntron = true\n');
  makeInstall(root);
  assert.equal(readFileSync(join(root, 'etc/stas/stafd.conf'), 'utf8'), '[Global]\ntron = true\n');
});

test('the installed stafd (bundle) runs and serves D-Bus; SIGTERM stops it with status 0', {
  skip: skip || (!haveDbusDaemon() ? 'no dbus-daemon' : false),
  timeout: 180_000,
}, async (t) => {
  const root = scratch(t);
  makeInstall(root);
  const dbus = await startDbusDaemon();
  t.after(() => dbus.stop());
  writeFileSync(join(root, 'etc/stas/sys.conf'), `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
  writeFileSync(join(root, 'etc/stas/stafd.conf'), '[Service Discovery]\nzeroconf = disabled\n');
  const p = spawn(
    join(root, 'usr/sbin/stafd'),
    ['-f', join(root, 'etc/stas/stafd.conf'), '--sys-conf', join(root, 'etc/stas/sys.conf')],
    {
      env: {
        ...process.env,
        DBUS_SYSTEM_BUS_ADDRESS: dbus.address,
        RUNTIME_DIRECTORY: join(root, 'run/stafd'),
      },
      stdio: 'ignore',
    },
  );
  t.after(() => {
    if (p.exitCode === null) p.kill('SIGKILL');
  });
  const bus = await openSystemBus({ address: dbus.address });
  t.after(() => bus.close());
  const staf = stafClient(bus);
  let info: Record<string, unknown> | undefined;
  await until('the installed stafd answering', async () => {
    try {
      info = JSON.parse(await staf.processInfo());
      return true;
    } catch {
      return false;
    }
  });
  assert.equal(info?.['hostnqn'], HOSTNQN);
  // Introspect: the parent nodes list their children (childNodesXml), the object's own reply is the IDL's.
  const introspect = async (path: string) =>
    (
      await busCall(bus, {
        destination: STAFD_DBUS_NAME,
        path,
        interface: 'org.freedesktop.DBus.Introspectable',
        member: 'Introspect',
      })
    ).body[0] as string;
  const doctype = '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" ';
  assert.equal(
    await introspect('/'),
    `${doctype}"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>\n  <node name="org"/>\n</node>`,
  );
  assert.equal(
    await introspect('/org/nvmexpress'),
    `${doctype}"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>\n  <node name="staf"/>\n</node>`,
  );
  const own = await introspect(STAFD_DBUS_PATH);
  assert.match(own, /<interface name="org\.nvmexpress\.staf">/);
  assert.match(own, /<method name="get_all_log_pages">/);
  const exited = once(p, 'exit');
  p.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
});

test('the installed stafd: SIGTERM while its program chunk is still loading is noted and ends in status 0', {
  skip: skip || (process.geteuid?.() !== 0 ? 'the daemons need root' : false),
  timeout: 120_000,
}, async (t) => {
  const root = scratch(t);
  makeInstall(root);
  const lib = join(root, 'usr/lib/stas');
  // A module loader hook holds the loading of the program chunks (main-*.mjs, what the entry's import() loads)
  // until the release file exists: a loaded machine reading and compiling the program, for as long as needed.
  const release = join(root, 'release');
  writeFileSync(
    join(root, 'hooks.mjs'),
    `import { existsSync, writeSync } from 'node:fs';
let release;
export function initialize(data) { release = data.release; }
export async function load(url, context, next) {
  if (url.startsWith(${JSON.stringify(pathToFileURL(lib).href)} + '/main-')) {
    writeSync(2, 'test hook: holding ' + url.slice(url.lastIndexOf('/') + 1) + '\\n');
    while (!existsSync(release)) await new Promise((r) => setTimeout(r, 20));
  }
  return next(url, context);
}
`,
  );
  writeFileSync(
    join(root, 'register.mjs'),
    `import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { release: ${JSON.stringify(release)} } });
`,
  );
  writeFileSync(join(root, 'sys.conf'), `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
  const p = spawn(
    join(root, 'usr/sbin/stafd'),
    ['-f', join(root, 'stafd.conf'), '--sys-conf', join(root, 'sys.conf')],
    {
      env: {
        ...process.env,
        NODE_OPTIONS: `--import=${pathToFileURL(join(root, 'register.mjs')).href}`,
        DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(root, 'no-bus')}`,
        RUNTIME_DIRECTORY: join(root, 'run'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  p.stdout!.on('data', (d) => (output += d));
  p.stderr!.on('data', (d) => (output += d));
  const closed = once(p, 'close');
  t.after(() => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });
  await until('the program chunk held', () => /test hook: holding main-\w+\.mjs/.test(output));
  p.kill('SIGTERM');
  await until('the stop noted', () => output.includes('SIGTERM received while starting'));
  writeFileSync(release, '');
  assert.deepEqual(await closed, [0, null], output);
  assert.match(output, /SIGTERM received before start-up: exiting/);
  assert.doesNotMatch(output, /running/);
});
