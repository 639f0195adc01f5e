/**
 * stafd with nBFT discovery controllers (the service, a real userspace NVMe/TCP session, the test double): they are
 * configured DCs like controller= lines — connected with the table's host NQN, exclude= applies, a controller=
 * line for the same DC wins, SIGHUP keeps them.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseStafdConfig } from '../../src/core/config/service-config.js';
import type { NbftDc } from '../../src/core/stafd/nbft-dcs.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { StafdService } from '../../src/daemons/stafd/service.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { passesSettled, TEST_IDENTITY, testStafdOptions } from '../support/stafd-service.js';
import { until } from '../support/until.js';

const identity = TEST_IDENTITY;
const NBFT_HOST_NQN = 'nqn.1988-11.com.example:boot-host';
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function target() {
  const t = new DiscoveryTarget({ entries: [ioEntry(1), ioEntry(2)] });
  await t.start();
  cleanups.push(() => t.stop());
  return t;
}

const nbftDc = (port: number, hostNqn?: string): NbftDc => ({
  source: '/sys/firmware/acpi/tables/NBFT discovery entry 1',
  tid: {
    transport: 'tcp',
    traddr: '127.0.0.1',
    trsvcid: String(port),
    subsysnqn: WELL_KNOWN_DISC_NQN,
    ...(hostNqn ? { hostNqn } : {}),
  },
});

/** The service; `runners` counts the DC runners it creates (a DC removed and added again is a new one). */
function service(confText: string, nbft: NbftDc[]) {
  const counts = { runners: 0 };
  const s = new StafdService({
    ...testStafdOptions(confText),
    signals: { logPagesChanged: () => {}, dcRemoved: () => {} },
    nbft,
    onRunner: () => counts.runners++,
  });
  cleanups.push(() => s.stop());
  return Object.assign(s, { counts });
}

test('an nBFT DC with an empty configuration: connected with the table host NQN, log served, origin configured', async () => {
  const t = await target();
  const s = service('', [nbftDc(t.port, NBFT_HOST_NQN)]);
  s.start();
  await until('log read', () => s.snapshot()[0]?.pages === 2);
  const [dc] = s.listControllers(true);
  assert.deepEqual(
    [dc!['trsvcid'], dc!['subsysnqn'], dc!['host-nqn'], dc!['origin'], dc!['connected']],
    [String(t.port), WELL_KNOWN_DISC_NQN, NBFT_HOST_NQN, 'configured', 'True'],
  );
  assert.deepEqual(t.connectHostNqns, [NBFT_HOST_NQN], 'the Fabrics Connect carried the NBFT host NQN');
  const all = JSON.parse(s.getAllLogPages(false));
  assert.deepEqual(
    all[0]['log-pages'].map((e: Record<string, string>) => e['subnqn']),
    ['nqn.2024-01.io.stas-test:subsys1', 'nqn.2024-01.io.stas-test:subsys2'],
  );
  // SIGHUP (a new configuration) keeps the nBFT DC: the tables are not read again and still apply. Once the
  // pass the reload starts is over, the DC is the same runner (a removed and re-added DC is a new one).
  const passes = s.changePasses;
  s.reload(parseStafdConfig('[Global]\nkato=20\n', 'stafd.conf').config);
  await passesSettled(s, passes);
  assert.equal(s.snapshot().length, 1);
  assert.equal(s.counts.runners, 1, 'the same DC runner');
  assert.equal(s.snapshot()[0]!.state, 'connected');
  assert.equal(t.connectsAccepted, 1, 'no reconnect');
});

test('exclude= keeps an nBFT DC out, at start and after SIGHUP', async () => {
  const t = await target();
  const s = service(`[Controllers]\nexclude = trsvcid=${t.port}\n`, [nbftDc(t.port)]);
  s.start();
  await passesSettled(s, 0);
  await s.reconcile();
  assert.deepEqual(s.snapshot(), []);
  assert.equal(s.counts.runners, 0, 'never started');
  assert.equal(t.connectsAccepted, 0);
  s.reload(parseStafdConfig('', 'stafd.conf').config);
  await until('added once the exclusion goes', () => s.snapshot()[0]?.pages === 2);
  s.reload(parseStafdConfig(`[Controllers]\nexclude = traddr=127.0.0.1\n`, 'stafd.conf').config);
  await until('removed when excluded again', () => s.snapshot().length === 0);
});

test('a controller= line for the same DC wins (one DC, with the line options); the system host NQN applies', async () => {
  const t = await target();
  const line = `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${t.port};kato=17`;
  const s = service(`[Controllers]\n${line}\n`, [nbftDc(t.port)]);
  s.start();
  await until('log read', () => s.snapshot()[0]?.pages === 2);
  assert.equal(s.snapshot().length, 1);
  const [dc] = s.listControllers(false);
  assert.deepEqual([dc!['kato'], dc!['host-nqn']], ['17', identity.hostNqn]);
  assert.deepEqual(t.connectHostNqns, [identity.hostNqn]);
});
