// `make install` into a scratch root, then the installed programs run from there (stafd against a private bus).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stafClient } from '../../src/adapters/dbus/clients.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const skip = !existsSync(join(ROOT, 'build/Release/stas_native.node'))
  ? 'native addon not built'
  : !haveDbusDaemon()
    ? 'no dbus-daemon'
    : false;

test('make install PREFIX/SYSCONFDIR into a scratch root; the installed stafd runs and serves D-Bus', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'stas-install-'));
  execFileSync(
    'make',
    ['-s', 'install', `PREFIX=${root}/usr`, `SYSCONFDIR=${root}/etc`, `NODE=${process.execPath}`],
    { cwd: ROOT, stdio: 'pipe' },
  );
  for (const f of [
    'usr/sbin/stafd',
    'usr/sbin/stacd',
    'usr/bin/stafctl',
    'usr/bin/stacctl',
    'usr/bin/stasadm',
    'usr/lib/stas/build/Release/stas_native.node',
    'usr/lib/stas/node_modules/dbus-next/package.json',
    'usr/share/dbus-1/system.d/org.nvmexpress.staf.conf',
    'usr/share/man/man8/stafd.8',
    'usr/share/man/man5/stacd.conf.5',
    'etc/stas/stafd.conf',
    'etc/stas/stacd.conf',
  ]) {
    assert.ok(existsSync(join(root, f)), f);
  }
  const unit = readFileSync(join(root, 'usr/lib/systemd/system/stafd.service'), 'utf8');
  assert.match(unit, new RegExp(`ExecStart=${root}/usr/sbin/stafd --syslog`));
  assert.match(
    readFileSync(join(root, 'usr/lib/systemd/system/stas-config@.service'), 'utf8'),
    new RegExp(`ExecStart=${root}/usr/bin/stasadm host%i -f /etc/nvme/host%i`),
  );
  assert.match(
    execFileSync(join(root, 'usr/sbin/stafd'), ['--version'], { encoding: 'utf8' }),
    /^nvme-stas \d/,
  );
  // A second install keeps an edited configuration file.
  writeFileSync(join(root, 'etc/stas/stafd.conf'), '[Global]\ntron = true\n');
  execFileSync(
    'make',
    ['-s', 'install', `PREFIX=${root}/usr`, `SYSCONFDIR=${root}/etc`, `NODE=${process.execPath}`],
    { cwd: ROOT, stdio: 'pipe' },
  );
  assert.equal(readFileSync(join(root, 'etc/stas/stafd.conf'), 'utf8'), '[Global]\ntron = true\n');

  const dbus = await startDbusDaemon();
  t.after(() => dbus.stop());
  writeFileSync(
    join(root, 'etc/stas/sys.conf'),
    '[Host]\nnqn = nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f\nid = 5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f\n',
  );
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
  t.after(() => bus.disconnect());
  const staf = stafClient(bus);
  let info: Record<string, unknown> | undefined;
  for (let i = 0; i < 100 && !info; i++) {
    try {
      info = JSON.parse(await staf.processInfo());
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.equal(info?.['hostnqn'], 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f');
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  assert.equal(p.exitCode, 0);
});
