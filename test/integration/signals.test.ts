// The daemons' one listener per signal (src/daemons/signals.ts): the router on an injected emitter (deterministic:
// injected timer and exit), the process-wide installation in a child process, and the real stafd stopped by
// SIGTERM at several moments: while its program's modules are still loading (held by a module loader hook),
// right after it took its bus name, and once it runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { stafClient, watchName } from '../../src/adapters/dbus/clients.js';
import { STAFD_DBUS_NAME } from '../../src/adapters/dbus/idl.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import {
  DAEMON_SIGNALS,
  type SignalCallbacks,
  SignalRouter,
  type StopSignal,
} from '../../src/daemons/signals.js';
import { CLI_DIR, exitOf, runDaemon, until } from '../support/daemon-process.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const notRoot = process.geteuid?.() !== 0 ? 'the daemons need root' : false;

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function harness() {
  const source = new EventEmitter();
  const notes: string[] = [];
  const exits: number[] = [];
  let timer: { fn: () => void; ms: number } | undefined;
  const router = new SignalRouter(source, {
    write: (t) => notes.push(t),
    exit: (code) => exits.push(code),
    schedule: (fn, ms) => {
      timer = { fn, ms };
      return () => {
        timer = undefined;
      };
    },
  });
  const calls: string[] = [];
  const callbacks: SignalCallbacks = {
    stop: (sig: StopSignal) => calls.push(`stop ${sig}`),
    reload: () => calls.push('reload'),
  };
  return { source, router, notes, exits, calls, callbacks, timer: () => timer };
}

test('one listener per signal, installed at construction and never replaced', () => {
  const h = harness();
  const counts = () => DAEMON_SIGNALS.map((s) => h.source.listenerCount(s));
  assert.deepEqual(counts(), [1, 1, 1]);
  h.router.register(h.callbacks);
  for (const s of DAEMON_SIGNALS) h.source.emit(s);
  assert.deepEqual(counts(), [1, 1, 1]);
  assert.throws(() => h.router.register(h.callbacks), /already registered/);
});

test('a stop before registration is remembered, noted once, and delivered at registration', () => {
  const h = harness();
  h.source.emit('SIGTERM');
  h.source.emit('SIGINT');
  h.source.emit('SIGTERM');
  assert.equal(h.router.stopRequested, 'SIGTERM');
  assert.deepEqual(h.notes, ['SIGTERM received while starting: stopping once started\n']);
  assert.equal(h.timer()?.ms, 5000);
  assert.deepEqual(h.calls, []);
  h.router.register(h.callbacks);
  assert.deepEqual(h.calls, ['stop SIGTERM']);
  assert.equal(h.timer(), undefined, 'the grace timer is cancelled');
  assert.equal(h.router.stopRequested, undefined);
  assert.deepEqual(h.exits, []);
});

test('a reload before registration is delivered at registration; a stop makes it moot', () => {
  const h = harness();
  h.source.emit('SIGHUP');
  h.source.emit('SIGHUP');
  assert.equal(h.timer(), undefined, 'a reload arms no exit');
  h.router.register(h.callbacks);
  assert.deepEqual(h.calls, ['reload']);

  const h2 = harness();
  h2.source.emit('SIGHUP');
  h2.source.emit('SIGINT');
  h2.router.register(h2.callbacks);
  assert.deepEqual(h2.calls, ['stop SIGINT']);
});

test('after registration every signal goes to the callbacks at once', () => {
  const h = harness();
  h.router.register(h.callbacks);
  h.source.emit('SIGHUP');
  h.source.emit('SIGHUP');
  h.source.emit('SIGINT');
  h.source.emit('SIGTERM');
  assert.deepEqual(h.calls, ['reload', 'reload', 'stop SIGINT', 'stop SIGTERM']);
  assert.deepEqual(h.notes, []);
  assert.equal(h.timer(), undefined);
});

test('a stop whose start-up does not complete within the grace time exits with status 0', () => {
  const h = harness();
  h.source.emit('SIGINT');
  h.timer()!.fn();
  assert.deepEqual(h.exits, [0]);
  assert.equal(h.notes[1], 'SIGINT: start-up did not complete within 5 s; exiting\n');
});

test('the entry module installs one listener per signal on the process, once', () => {
  const signalsUrl = pathToFileURL(join(CLI_DIR, '..', 'daemons', 'signals.js')).href;
  const entryUrl = pathToFileURL(join(CLI_DIR, 'daemon-signals.js')).href;
  const script = `
    const before = ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));
    await import(${JSON.stringify(entryUrl)});
    const { daemonSignals } = await import(${JSON.stringify(signalsUrl)});
    daemonSignals();
    daemonSignals();
    const now = ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));
    console.log(JSON.stringify({ before, now }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { before: [0, 0, 0], now: [1, 1, 1] });
});

test('--version and --help still answer (no start-up, no signal listener in the way)', () => {
  for (const prog of ['stafd', 'stacd']) {
    const v = spawnSync(process.execPath, [`${CLI_DIR}${prog}.js`, '--version'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^stas \S+\n$/);
    const h = spawnSync(process.execPath, [`${CLI_DIR}${prog}.js`, '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`^usage: ${prog} `));
  }
});

test('SIGTERM while the program modules are still loading neither kills stafd nor is lost', {
  skip: notRoot,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signals-hold-'));
  // A module loader hook holds the loading of the stafd program until the release file exists: a loaded
  // machine reading and compiling the program, stretched for as long as the test wants.
  const release = join(dir, 'release');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { existsSync, writeSync } from 'node:fs';
let release;
export function initialize(data) { release = data.release; }
export async function load(url, context, next) {
  if (url.endsWith('/daemons/stafd/main.js')) {
    writeSync(2, 'test hook: holding the program modules\\n');
    while (!existsSync(release)) await new Promise((r) => setTimeout(r, 20));
  }
  return next(url, context);
}
`,
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { release: ${JSON.stringify(release)} } });
`,
  );
  const sys = join(dir, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);
  const proc = runDaemon(
    'stafd',
    ['-f', join(dir, 'stafd.conf'), '--sys-conf', sys],
    {
      // Nothing must be reached: the stop comes first.
      DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dir, 'no-bus')}`,
      RUNTIME_DIRECTORY: join(dir, 'run'),
    },
    ['--import', pathToFileURL(join(dir, 'register.mjs')).href],
  );
  cleanups.push(proc.kill9);
  await until('the program modules held', () => proc.output().includes('holding the program modules'));
  proc.kill('SIGTERM');
  await until('the stop noted', () => proc.output().includes('SIGTERM received while starting'));
  writeFileSync(release, '');
  const [code, signal] = await exitOf(proc, 'stafd stopped while loading');
  assert.deepEqual([code, signal], [0, null], proc.output());
  assert.match(proc.output(), /SIGTERM received before start-up: exiting/);
  assert.doesNotMatch(proc.output(), /running/);
});

test('SIGTERM right after stafd took its bus name, and once it runs: orderly stop, status 0', {
  skip: !haveDbusDaemon() ? 'dbus-daemon is not installed' : notRoot,
}, async () => {
  const dbus = await startDbusDaemon();
  cleanups.push(() => dbus.stop());
  const bus = await openSystemBus({ address: dbus.address });
  cleanups.push(() => bus.close());
  const dir = mkdtempSync(join(tmpdir(), 'signals-bus-'));
  const conf = join(dir, 'stafd.conf');
  const sys = join(dir, 'sys.conf');
  writeFileSync(conf, '[Service Discovery]\nzeroconf = disabled\n');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = ${HOSTID}\n`);

  // Moments: as soon as the bus announces the name (start-up may still be finishing), as soon as stafd
  // says it runs, and once it answers calls.
  const moments = ['name taken', 'name taken', 'running line', 'answering'] as const;
  for (const [i, moment] of moments.entries()) {
    const proc = runDaemon('stafd', ['-f', conf, '--sys-conf', sys], {
      DBUS_SYSTEM_BUS_ADDRESS: dbus.address,
      RUNTIME_DIRECTORY: join(dir, `run${i}`),
    });
    cleanups.push(proc.kill9);
    let killed = false;
    const watch = await watchName(bus, STAFD_DBUS_NAME, (owner) => {
      if (owner && moment === 'name taken' && !killed) {
        killed = proc.kill('SIGTERM');
      }
    });
    if (moment === 'name taken') {
      await until('the name taken and SIGTERM sent', () => killed);
    } else if (moment === 'running line') {
      await until('stafd running', () => /stafd \S+ running/.test(proc.output()));
      killed = proc.kill('SIGTERM');
    } else if (moment === 'answering') {
      const staf = stafClient(bus);
      await until('stafd answering', async () => {
        try {
          await staf.processInfo();
          return true;
        } catch {
          return false;
        }
      });
      killed = proc.kill('SIGTERM');
    }
    const [code, signal] = await exitOf(proc, `stafd stopped at "${moment}"`);
    assert.deepEqual([code, signal], [0, null], `${moment}: ${proc.output()}`);
    assert.match(proc.output(), /SIGTERM received: stopping/, `${moment}: ${proc.output()}`);
    // The next round starts once the bus has seen the name go.
    await until('the name released', () => watch.owner === null);
    await watch.close();
  }
});
