// The installed daemons (the bundle) idle without the Node modules they were taught to avoid (issue 14 §3: idle RSS):
// each of these cost an idle daemon 0.1-2 MiB, and one stray import (a value import of node:util, a createRequire)
// would bring it back without any other test noticing. Node's own module list, taken as the daemon exits.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DAEMON_FLAGS } from '../../bench/daemon-flags.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { HOSTID, HOSTNQN } from '../support/stafd-process.js';
import { until } from '../support/until.js';

const BUNDLE = fileURLToPath(new URL('../../bundle/', import.meta.url));
const skip = !haveDbusDaemon()
  ? 'no /usr/bin/dbus-daemon'
  : !existsSync(join(BUNDLE, 'stafd.mjs'))
    ? 'no bundle (npm run build)'
    : false;

/** Node's internal modules an idle daemon must not load, and what stands in for each. */
const AVOIDED: Record<string, string> = {
  'NativeModule perf_hooks': 'performance.now → src/adapters/monotonic-clock.ts',
  'NativeModule internal/util/parse_args/parse_args': 'util.parseArgs → src/core/argv.ts',
  'NativeModule module': 'createRequire → process.getBuiltinModule / process.dlopen',
  'NativeModule fs/promises': 'node:fs/promises → src/adapters/fs-async.ts',
  'NativeModule crypto': 'node:crypto on first use (src/core/node-crypto.ts)',
  'NativeModule child_process': 'node:child_process on first use (modprobe)',
  'NativeModule assert': 'dbus-next → src/core/dbus',
};

for (const prog of ['stafd', 'stacd'] as const) {
  test(`an idle ${prog} (zeroconf off, no controller) does not load ${Object.keys(AVOIDED).length} avoided modules`, {
    skip,
    timeout: 60_000,
  }, async (t) => {
    const dbus = await startDbusDaemon();
    const dir = mkdtempSync(join(tmpdir(), 'stas-idle-'));
    t.after(async () => {
      await dbus.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    writeFileSync(join(dir, 'sys.conf'), `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
    writeFileSync(join(dir, `${prog}.conf`), '[Service Discovery]\nzeroconf = disabled\n');
    const list = join(dir, 'modules');
    // Loaded before the program, with what the program loads anyway (node:fs): writes the list at exit.
    const hook = join(dir, 'hook.mjs');
    writeFileSync(
      hook,
      `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));\n`,
    );
    const child = spawn(
      process.execPath,
      [
        ...DAEMON_FLAGS,
        '--import',
        hook,
        join(BUNDLE, `${prog}.mjs`),
        '-f',
        join(dir, `${prog}.conf`),
        '--sys-conf',
        join(dir, 'sys.conf'),
      ],
      {
        env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address, RUNTIME_DIRECTORY: join(dir, 'run') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = once(child, 'exit');
    await until(`${prog} running`, () => {
      if (child.exitCode !== null) throw new Error(`${prog} exited with ${child.exitCode}: ${out}`);
      return / running \(config /.test(out);
    });
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null], out);
    const loaded = new Set(readFileSync(list, 'utf8').split('\n'));
    assert.ok(loaded.has('NativeModule net'), 'the list is the daemon’s (it has a socket)');
    const found = Object.keys(AVOIDED).filter((m) => loaded.has(m));
    assert.deepEqual(
      found.map((m) => `${m} (${AVOIDED[m]})`),
      [],
      `${prog} loaded modules it should not`,
    );
  });
}
