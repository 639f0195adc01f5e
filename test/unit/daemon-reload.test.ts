// runUntilStopped (src/daemons/program.ts) driven by a signal router on an injected emitter: SIGHUP reloads read
// the file asynchronously, one at a time (SIGHUPs during a reload are served by one more reload), a stop is
// acted on at once even while a reload is in progress (whose result is then dropped), and what was asked for
// before the program registered is acted on at registration.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfigFile } from '../../src/adapters/config-file.js';
import { parseStafdConfig, type StafdConfig } from '../../src/core/config/service-config.js';
import { createLogger } from '../../src/daemons/logger.js';
import { type DaemonSpec, runUntilStopped } from '../../src/daemons/program.js';
import { SignalRouter } from '../../src/daemons/signals.js';
import { until } from '../support/daemon-process.js';

const dir = mkdtempSync(join(tmpdir(), 'stas-reload-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SPEC: DaemonSpec<StafdConfig> = { prog: 'stafd', help: '', idl: () => '', parse: parseStafdConfig };
let n = 0;

function daemon(text: string, opts: { pending?: 'SIGTERM' | 'SIGHUP' } = {}) {
  const conf = join(dir, `stafd-${++n}.conf`);
  writeFileSync(conf, text);
  const lines: string[] = [];
  const log = createLogger({ syslog: false, tron: false, write: (l) => lines.push(l) });
  const source = new EventEmitter();
  const router = new SignalRouter(source, {
    write: () => {},
    exit: () => assert.fail('no early exit expected'),
    schedule: () => () => {},
  });
  if (opts.pending) source.emit(opts.pending);
  const reloads: number[] = [];
  let stops = 0;
  const hooks: { onReload?: (kato: number) => void } = {};
  const done = runUntilStopped(
    SPEC,
    {
      confFile: conf,
      config: parseStafdConfig(text, conf).config,
      log,
      identity: { hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:x', hostId: 'x' },
      tronFlag: false,
    },
    (c) => {
      reloads.push(Number(c.connect.kato));
      hooks.onReload?.(Number(c.connect.kato));
    },
    async () => {
      stops++;
    },
    router,
  );
  return { conf, lines, source, reloads, stops: () => stops, hooks, done };
}

test('SIGHUPs during a reload are served by one more reload, after it, with the file as it is then', async () => {
  const d = daemon('[Global]\nkato = 11\n');
  d.hooks.onReload = (kato) => {
    if (kato !== 11) return;
    // While the first reload applies: the file changes and two SIGHUPs arrive.
    writeFileSync(d.conf, '[Global]\nkato = 22\n');
    d.source.emit('SIGHUP');
    d.source.emit('SIGHUP');
  };
  d.source.emit('SIGHUP');
  await until('two reloads', () => d.reloads.length === 2);
  d.source.emit('SIGTERM');
  assert.equal(await d.done, 0);
  assert.deepEqual(d.reloads, [11, 22]);
  assert.equal(d.lines.filter((l) => l.includes('Configuration reloaded')).length, 2);
});

test('SIGTERM during a reload stops at once; the reload in progress is dropped', async () => {
  const d = daemon('[Global]\nkato = 11\n');
  d.source.emit('SIGHUP');
  d.source.emit('SIGTERM');
  assert.equal(d.stops(), 1, 'stop runs without waiting for the reload');
  assert.equal(await d.done, 0);
  // A read of the same file started after the reload's has completed: the reload's result has been dropped.
  await loadConfigFile(d.conf, parseStafdConfig);
  d.source.emit('SIGHUP');
  d.source.emit('SIGTERM');
  await loadConfigFile(d.conf, parseStafdConfig);
  assert.deepEqual(d.reloads, []);
  assert.equal(d.stops(), 1, 'stop runs once');
  assert.ok(d.lines.some((l) => l.includes('SIGTERM received: stopping')));
});

test('a stop asked for before registration is acted on at registration; so is a reload', async () => {
  const stopped = daemon('[Global]\nkato = 11\n', { pending: 'SIGTERM' });
  assert.equal(stopped.stops(), 1);
  assert.equal(await stopped.done, 0);

  const reloaded = daemon('[Global]\nkato = 12\n', { pending: 'SIGHUP' });
  await until('the pending reload', () => reloaded.reloads.length === 1);
  assert.deepEqual(reloaded.reloads, [12]);
  reloaded.source.emit('SIGINT');
  assert.equal(await reloaded.done, 0);
  assert.ok(reloaded.lines.some((l) => l.includes('SIGINT received: stopping')));
});

test('a reload whose file has errors keeps the last good configuration', async () => {
  const d = daemon('[Global]\nkato = 11\n');
  writeFileSync(d.conf, '[Global]\nkato = 11\n[Bogus]\n');
  d.source.emit('SIGHUP');
  await until('the refusal', () => d.lines.some((l) => l.includes('keeping the last good configuration')));
  assert.deepEqual(d.reloads, []);
  d.source.emit('SIGTERM');
  assert.equal(await d.done, 0);
});
