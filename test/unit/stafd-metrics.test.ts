// stafd --metrics end to end: the real stafd process on a private dbus-daemon, discovery controllers from the
// test double (a DDC that changes its log and sends an AEN, a CDC that takes the DIM registration, and a port
// nobody listens on), scraped over a unix socket and over 127.0.0.1 with a free port; a bad address is a usage
// error; an endpoint that cannot listen leaves stafd running without metrics.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stafClient } from '../../src/adapters/dbus/clients.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { OPENMETRICS_CONTENT_TYPE } from '../../src/core/metrics.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { userspaceDcs } from '../support/stafd-process.js';

const STAFD = fileURLToPath(new URL('../../src/cli/stafd.js', import.meta.url));
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const skip = !haveDbusDaemon()
  ? 'dbus-daemon is not installed'
  : process.geteuid?.() !== 0
    ? 'stafd needs root'
    : false;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const until = async (what: string, cond: () => Promise<boolean> | boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** GET /metrics: [content type, body]. */
function scrape(target: { socketPath: string } | { host: string; port: number }): Promise<[string, string]> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve([String(res.headers['content-type']), body])
          : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line (`name{labels}`), or undefined. */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('stafd --metrics: DCs, DLPEs, log reads, AENs, connect failures and DIM, on a unix socket and on TCP', {
  skip,
}, async () => {
  const dbus = await startDbusDaemon();
  cleanups.push(() => dbus.stop());
  const ddc = new DiscoveryTarget({ entries: [ioEntry(1), ioEntry(2)] });
  const cdc = new DiscoveryTarget({ dctype: 'cdc', entries: [ioEntry(7)] });
  await ddc.start();
  await cdc.start();
  cleanups.push(
    () => ddc.stop(),
    () => cdc.stop(),
  );
  const dead = await freePort();

  const dir = mkdtempSync(join(tmpdir(), 'stafd-metrics-'));
  const conf = join(dir, 'stafd.conf');
  const sys = join(dir, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = 5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f\n`);
  writeFileSync(
    conf,
    userspaceDcs(
      [
        '[Global]',
        'kato = 0',
        '[Service Discovery]',
        'zeroconf = disabled',
        '[Controllers]',
        `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${ddc.port}`,
        `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${cdc.port}`,
        `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${dead}`,
        '',
      ].join('\n'),
    ),
  );
  const run = (metrics: string) => {
    const p: ChildProcess = spawn(
      process.execPath,
      [STAFD, '-f', conf, '--sys-conf', sys, '--metrics', metrics],
      {
        env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address, RUNTIME_DIRECTORY: join(dir, 'run') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    p.stdout!.on('data', (d) => (output += d));
    p.stderr!.on('data', (d) => (output += d));
    cleanups.push(() => {
      if (p.exitCode === null) p.kill('SIGKILL');
    });
    return { p, output: () => output };
  };
  const stop = async (p: ChildProcess, output: () => string) => {
    p.kill('SIGTERM');
    const [code] = await once(p, 'exit');
    assert.equal(code, 0, output());
  };

  // 1. A unix socket in a temp dir.
  const sock = join(dir, 'metrics.sock');
  const a = run(sock);
  await until('the metrics socket', () => existsSync(sock));
  assert.equal(lstatSync(sock).mode & 0o777, 0o660);
  const target = { socketPath: sock };
  let text = '';
  await until('both DCs connected, logs read and the CDC registered', async () => {
    text = (await scrape(target))[1];
    return (
      value(text, 'stas_dc{state="connected",origin="configured"}') === 2 &&
      value(text, 'stas_dlpe') === 3 &&
      value(text, 'stas_dim_registrations_total{result="success"}') === 1 &&
      (value(text, 'stas_dc_connect_failures_total') ?? 0) >= 1
    );
  }).catch((e) => {
    throw new Error(`${e.message}\n${text}\n${a.output()}`);
  });
  const [type] = await scrape(target);
  assert.equal(type, OPENMETRICS_CONTENT_TYPE);
  assert.match(text, /# EOF\n$/);
  assert.match(text, /^# TYPE stas_aen counter$/m);
  assert.equal(value(text, 'stas_aen_total'), 0);
  assert.equal(value(text, 'stas_dim_registrations_total{result="failure"}'), 0);
  // The DC nobody listens on fails and waits for its retry (or is trying again).
  assert.equal(
    (value(text, 'stas_dc{state="waiting",origin="configured"}') ?? 0) +
      (value(text, 'stas_dc{state="connecting",origin="configured"}') ?? 0),
    1,
  );
  assert.equal(value(text, 'stas_dc{state="connected",origin="referral"}'), 0);
  const reads = value(text, 'stas_log_page_reads_total')!;
  assert.ok(reads >= 2, text);

  // The DDC's log changes: it sends an AEN, stafd re-reads the log.
  ddc.setEntries([ioEntry(1), ioEntry(2), ioEntry(3)]);
  await until('the AEN counted and the new log cached', async () => {
    text = (await scrape(target))[1];
    return value(text, 'stas_aen_total') === 1 && value(text, 'stas_dlpe') === 4;
  });
  assert.equal(value(text, 'stas_log_page_reads_total'), reads + 1);
  // And D-Bus agrees on what the gauge says.
  const bus = await openSystemBus({ address: dbus.address });
  cleanups.push(() => bus.disconnect());
  const staf = stafClient(bus);
  const pages = JSON.parse(await staf.getAllLogPages(false)) as { 'log-pages': unknown[] }[];
  assert.equal(
    pages.reduce((n, dc) => n + dc['log-pages'].length, 0),
    4,
  );
  await stop(a.p, a.output);
  assert.equal(existsSync(sock), false, 'the socket is removed on exit');

  // 2. TCP on 127.0.0.1 with a free port (0: the log says which); the cache is restored at start.
  const b = run('127.0.0.1:0');
  let port = 0;
  await until('the metrics address in the log', () => {
    port = Number(/Metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(b.output())?.[1] ?? 0);
    return port > 0;
  });
  text = (await scrape({ host: '127.0.0.1', port }))[1];
  assert.equal(value(text, 'stas_dlpe'), 4, 'restored from the last known config');
  assert.equal(value(text, 'stas_aen_total'), 0, 'counters start at 0 with the process');
  await until('connected again', async () => {
    text = (await scrape({ host: '127.0.0.1', port }))[1];
    return value(text, 'stas_dc{state="connected",origin="configured"}') === 2;
  });
  await stop(b.p, b.output);

  // 3. An endpoint that cannot listen: an error, and stafd does its job without metrics.
  const c = run(join(dir, 'missing', 'metrics.sock'));
  await until('stafd on the bus', async () => {
    await staf.processInfo();
    return true;
  });
  await until('the error', () =>
    /Cannot serve metrics on unix:.*does not exist.*without metrics/.test(c.output()),
  );
  assert.equal((await staf.listControllers(false)).length, 3);
  await stop(c.p, c.output);
});

test('stafd and stacd refuse a --metrics address that is not loopback (usage error)', async () => {
  for (const prog of ['stafd', 'stacd']) {
    const p = spawn(
      process.execPath,
      [STAFD.replace('stafd.js', `${prog}.js`), '--metrics', '0.0.0.0:9100'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const [code] = await once(p, 'exit');
    assert.equal(code, 2);
    assert.match(err, new RegExp(`^usage: ${prog} .*\\[--metrics LISTEN\\]`));
    assert.match(err, /error: argument --metrics: "0\.0\.0\.0:9100": 0\.0\.0\.0 is not a loopback address/);
    const help = spawn(process.execPath, [STAFD.replace('stafd.js', `${prog}.js`), '--help']);
    let out = '';
    help.stdout.on('data', (d) => (out += d));
    await once(help, 'exit');
    assert.match(out, /--metrics LISTEN +Serve OpenMetrics/);
  }
});
