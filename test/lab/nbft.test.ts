/**
 * nBFT end to end in the kernel lab: QEMU installs the NBFT of test/support/nbft-fixture.ts in the guest's ACPI
 * tables (lab/run-lab-tests.sh runs this file in a second boot, `lab/vm-run.sh --acpitable FILE`), the guest kernel
 * shows it at /sys/firmware/acpi/tables/NBFT, and the real stafd — started with an EMPTY configuration — reads it,
 * connects to the discovery controller it names (nvmet's discovery port, bound to lo through the HFI's MAC, with
 * the table's host NQN) and serves its log page; exclude= keeps it out. The hostile second entry is dropped.
 *
 * Runs inside the kernel lab guest booted with that table; skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseNbft } from '../../src/core/nbft.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { LAB_NBFT_HOST_NQN, LAB_NBFT_HOSTILE_URI, labNbft } from '../support/nbft-fixture.js';
import { freshLab, labSkipReason } from './support/host.js';
import type { Nvmet, Port } from './support/nvmet.js';
import { controllerLine, StafdRun, stafdConf, startStafd } from './support/stafd-run.js';

const TABLE = '/sys/firmware/acpi/tables/NBFT';
const skip =
  labSkipReason() ??
  (existsSync(TABLE)
    ? undefined
    : `no ${TABLE} in this guest; lab/run-lab-tests.sh boots one with it (lab/vm-run.sh --acpitable FILE)`);
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:nbft-${i}`;

function addSubsystems(nvmet: Nvmet, port: Port, ids: number[]): void {
  for (const i of ids) nvmet.addSubsystem({ nqn: NQN(i), namespaces: [], ports: [port] });
}

/** The TID of the nBFT DC as D-Bus takes it: the table's host NQN, bound to lo. */
const NBFT_TID: [string, string, string, string, string, string, string] = [
  'tcp',
  '127.0.0.1',
  '8009',
  WELL_KNOWN_DISC_NQN,
  '',
  'lo',
  LAB_NBFT_HOST_NQN,
];

test('the kernel exposes the NBFT QEMU installed, byte for byte, and it decodes', { skip }, () => {
  const bytes = readFileSync(TABLE);
  assert.deepEqual(bytes, labNbft());
  const r = parseNbft(bytes);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(r.table.host.nqn, LAB_NBFT_HOST_NQN);
  assert.deepEqual(
    r.table.discovery.map((d) => d.uri),
    ['nvme+tcp://127.0.0.1:8009/', LAB_NBFT_HOSTILE_URI],
  );
});

test('stafd with an empty configuration connects to the NBFT discovery controller and serves its log page', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  addSubsystems(nvmet, disc, [1, 2]);
  const run = await startStafd(t, { host, conf: stafdConf({}) });

  await run.until(
    'the NBFT DC with log pages',
    async () => ((await run.allLogPages())[0]?.['log-pages'] ?? []).length > 0,
  );
  const all = await run.allLogPages();
  assert.equal(all.length, 1, 'one DC: the hostile entry was dropped');
  const dc = all[0]!['discovery-controller'];
  assert.deepEqual(
    StafdRun.tidOf(dc),
    NBFT_TID,
    'host NQN from the table (configured), host-iface lo by MAC',
  );
  const nvm = all[0]!['log-pages']
    .filter((e) => e['subtype'] === 'nvme')
    .map((e) => e['subnqn'])
    .sort();
  assert.deepEqual(nvm, [NQN(1), NQN(2)], "nvmet's discovery log of port 8009");
  assert.deepEqual(await run.staf.getLogPages(...NBFT_TID), all[0]!['log-pages']);
  const info = await run.info(NBFT_TID);
  assert.deepEqual([info['origin'], info['state']], ['configured', 'connected']);

  const out = run.output();
  assert.match(out, /NBFT location\(s\): \['\/sys\/firmware\/acpi\/tables\/NBFT'\]/);
  assert.match(out, /NBFT discovery entry 2 ignored: invalid value for traddr: .*contains ','/);
  assert.equal(out.match(/NBFT location\(s\)/g)?.length, 1, 'logged once');

  // SIGHUP does not read the tables again, and the DC stays.
  run.hup();
  await run.until('the reload done', () => run.output().includes('Configuration reloaded'));
  await run.until('still one DC', async () => (await run.dcPorts()).join() === '8009');
  assert.equal(run.output().match(/NBFT location\(s\)/g)?.length, 1, 'not read again on SIGHUP');
});

test('exclude= keeps the NBFT discovery controller out; without it the DC comes in', { skip }, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  const witness = nvmet.addPort({ trsvcid: 8010 });
  addSubsystems(nvmet, disc, [1]);
  addSubsystems(nvmet, witness, [2]);
  const exclude = 'exclude = traddr=127.0.0.1;trsvcid=8009';
  const run = await startStafd(t, {
    host,
    conf: stafdConf({ controllers: [controllerLine(8010), exclude] }),
  });
  // Configured DCs (controller= lines and the NBFT's) are planned in one pass: once 8010 is there, the decision
  // about the NBFT's 8009 has been made.
  await run.until(
    '8010 with log pages',
    async () => (await run.staf.getLogPages(...run.tid(8010))).length > 0,
  );
  assert.deepEqual(await run.dcPorts(), ['8010'], 'the NBFT DC is excluded');
  assert.deepEqual(await run.staf.getLogPages(...NBFT_TID), []);

  run.writeConf(stafdConf({ controllers: [controllerLine(8010)] }));
  run.hup();
  await run.until(
    'the NBFT DC with log pages',
    async () => (await run.staf.getLogPages(...NBFT_TID)).length > 0,
  );
  assert.deepEqual(await run.dcPorts(), ['8009', '8010']);
});
