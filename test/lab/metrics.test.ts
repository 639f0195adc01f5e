/**
 * --metrics in the kernel lab: stafd and stacd with their endpoints on unix sockets, against the kernel nvmet
 * target. stacd's connect and disconnect counters follow the controllers the kernel really has, its pass histogram
 * fills; stafd counts the AEN nvmet sends when a subsystem is added to the discovery port.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { labSkipReason } from './support/host.js';
import type { Nvmet, Port } from './support/nvmet.js';
import { controllerLine, stafdConf } from './support/stafd-run.js';
import { ioNqns, stasLab } from './support/stas-run.js';

const skip = labSkipReason();
const NQN = (name: string) => `nqn.2024-01.io.stas-lab:metrics-${name}`;

function subsystem(nvmet: Nvmet, nqn: string, ports: Port[]): void {
  nvmet.addSubsystem({ nqn, namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports });
}

/** GET /metrics on a unix socket: sample line → value. */
function scrape(socketPath: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200 || !body.endsWith('# EOF\n')) reject(new Error(`bad scrape: ${body}`));
        const m = new Map<string, number>();
        for (const l of body.split('\n'))
          if (l && !l.startsWith('#'))
            m.set(l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1)));
        resolve(m);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('stacd and stafd --metrics follow real kernel connects, disconnects and AENs', { skip }, async (t) => {
  const { nvmet, disc, run } = await stasLab(t);
  const [A, B, C] = [NQN('a'), NQN('b'), NQN('c')];
  subsystem(nvmet, A, [disc]);
  subsystem(nvmet, B, [disc]);
  const stafSock = join(run.dir, 'stafd-metrics.sock');
  const stacSock = join(run.dir, 'stacd-metrics.sock');
  run.args.stafd.push('--metrics', stafSock);
  run.args.stacd.push('--metrics', stacSock);
  run.writeStafdConf(stafdConf({ controllers: [controllerLine(8009)] }));
  run.writeStacdConf('');
  await run.startStafd();
  await run.until('stafd has the log page', () => run.stafdLists(B));
  await run.startStacd();
  await run.until('A and B connected', async () => JSON.stringify(await ioNqns()) === JSON.stringify([A, B]));

  let s = new Map<string, number>();
  await run.until('stacd counted both connects and a finished pass', async () => {
    s = await scrape(stacSock);
    return s.get('stas_connects_total') === 2 && (s.get('stas_reconcile_duration_seconds_count') ?? 0) >= 1;
  });
  assert.equal(s.get('stas_connect_failures_total'), 0);
  assert.equal(s.get('stas_disconnects_total'), 0);
  const passes = s.get('stas_reconcile_passes_total')!;
  const observed = s.get('stas_reconcile_duration_seconds_count')!;
  assert.ok(
    observed === passes || observed === passes - 1,
    `${observed} passes observed of ${passes} started`,
  );
  assert.equal(s.get('stas_reconcile_duration_seconds_bucket{le="+Inf"}'), observed);
  assert.ok(s.get('stas_reconcile_duration_seconds_sum')! > 0, 'the connecting pass took time');
  assert.ok(s.get('stas_sysfs_scans_total')! >= passes);

  // A subsystem added to the discovery port: nvmet sends an AEN, stafd re-reads, stacd connects it.
  const before = await scrape(stafSock);
  const aens = before.get('stas_aen_total')!;
  subsystem(nvmet, C, [disc]);
  await run.until('C connected', async () => (await ioNqns()).includes(C));
  await run.until(
    'the third connect counted',
    async () => (await scrape(stacSock)).get('stas_connects_total') === 3,
  );
  const f = await scrape(stafSock);
  assert.ok(f.get('stas_aen_total')! > aens, 'stafd counted the AEN');
  assert.equal(f.get('stas_dlpe'), before.get('stas_dlpe')! + 1, 'one more entry cached');
  const cached = JSON.parse(await run.staf.getAllLogPages(false)) as { 'log-pages': unknown[] }[];
  assert.equal(f.get('stas_dlpe'), cached[0]!['log-pages'].length, 'as many as stafd serves on D-Bus');
  assert.equal(f.get('stas_dc{state="connected",origin="configured"}'), 1);

  // A leaves the port: stacd disconnects what it made.
  nvmet.unlink(A, disc);
  await run.until('A disconnected', async () => !(await ioNqns()).includes(A));
  await run.until(
    'the disconnect counted',
    async () => (await scrape(stacSock)).get('stas_disconnects_total') === 1,
  );
  await run.until('stas_ioc: B and C connected', async () => {
    s = await scrape(stacSock);
    return s.get('stas_ioc{state="connected"}') === 2;
  });
  assert.equal(s.get('stas_connects_total'), 3);

  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
  assert.equal(existsSync(stacSock) || existsSync(stafSock), false, 'the sockets are removed on exit');
});
