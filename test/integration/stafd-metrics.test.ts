// stafd --metrics end to end: the real stafd process on a private dbus-daemon, discovery controllers from the
// test double (a DDC that changes its log and sends an AEN, a CDC that takes the DIM registration, and a port
// nobody listens on), scraped over a unix socket and over 127.0.0.1 with a free port; a bad address is a usage
// error; an endpoint that cannot listen leaves stafd running without metrics.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { OPENMETRICS_CONTENT_TYPE } from '../../src/core/metrics.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { STAFD_JS as STAFD, type StafdProcess, startStafd, until } from '../support/stafd-process.js';

const skip = !haveDbusDaemon()
  ? 'dbus-daemon is not installed'
  : process.geteuid?.() !== 0
    ? 'stafd needs root'
    : false;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

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

  // The three runs share the bus and the directory (the second restores the first one's last-known config).
  const dir = mkdtempSync(join(tmpdir(), 'stafd-metrics-'));
  const conf = [
    '[Global]',
    'kato = 0',
    '[Controllers]',
    `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${ddc.port}`,
    `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${cdc.port}`,
    `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${dead}`,
    '',
  ].join('\n');
  const run = async (metrics: string) => {
    const p = await startStafd({ conf, metrics, dbus, dir });
    cleanups.push(() => p.cleanup());
    return p;
  };
  const stop = async (p: StafdProcess) => {
    const { code } = await p.stop();
    assert.equal(code, 0, p.output());
  };

  // 1. A unix socket in a temp dir.
  const sock = join(dir, 'metrics.sock');
  const a = await run(sock);
  assert.ok(existsSync(sock), a.output());
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
  const pages = JSON.parse(await a.staf.getAllLogPages(false)) as { 'log-pages': unknown[] }[];
  assert.equal(
    pages.reduce((n, dc) => n + dc['log-pages'].length, 0),
    4,
  );
  await stop(a);
  assert.equal(existsSync(sock), false, 'the socket is removed on exit');

  // 2. TCP on 127.0.0.1 with a free port (0: the log says which); the cache is restored at start.
  const b = await run('127.0.0.1:0');
  assert.ok(b.metricsPort > 0, b.output());
  text = (await scrape({ host: '127.0.0.1', port: b.metricsPort }))[1];
  assert.equal(value(text, 'stas_dlpe'), 4, 'restored from the last known config');
  assert.equal(value(text, 'stas_aen_total'), 0, 'counters start at 0 with the process');
  await until('connected again', async () => {
    text = (await scrape({ host: '127.0.0.1', port: b.metricsPort }))[1];
    return value(text, 'stas_dc{state="connected",origin="configured"}') === 2;
  });
  await stop(b);

  // 3. An endpoint that cannot listen: an error, and stafd does its job without metrics.
  const c = await run(join(dir, 'missing', 'metrics.sock'));
  assert.match(c.output(), /Cannot serve metrics on unix:.*does not exist.*without metrics/);
  assert.equal(c.metricsPort, 0);
  assert.equal((await c.staf.listControllers(false)).length, 3);
  await stop(c);
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
