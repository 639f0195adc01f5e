/**
 * The host-wide exclusion list (/etc/nvme/exclusions.conf and exclusions.conf.d/*.conf, shared with nvme-cli and
 * other orchestrators) with stafd, stacd and the kernel target in the kernel lab:
 * - an IOC the list names is not connected; removing the entry (no SIGHUP) connects it;
 * - a drop-in list naming an IOC stacd made disconnects it, with the list as the reason in the plan's place
 *   (the event history);
 * - a drop-in naming the discovery controller makes stafd drop it.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { labSkipReason } from './support/host.js';
import { controllerLine, stafdConf } from './support/stafd-run.js';
import { ioNqns, stasLab } from './support/stas-run.js';

const skip = labSkipReason();
const NQN = (name: string) => `nqn.2024-01.io.stas-lab:excl-${name}`;
const LIST = '/etc/nvme/exclusions.conf';
const DROPIN_DIR = '/etc/nvme/exclusions.conf.d';

test('the host exclusion list keeps IOCs and DCs out, and edits apply without a reload', {
  skip,
}, async (t) => {
  const { nvmet, disc, run } = await stasLab(t);
  t.after(() => {
    rmSync(LIST, { force: true });
    rmSync(DROPIN_DIR, { recursive: true, force: true });
  });
  const V = [NQN('1'), NQN('2'), NQN('3')];
  for (const nqn of V)
    nvmet.addSubsystem({ nqn, namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports: [disc] });
  mkdirSync('/etc/nvme', { recursive: true });
  writeFileSync(LIST, `# maintenance\n[exclusions]\nexclusion = transport=tcp;nqn=${V[1]}\n`);
  run.writeStafdConf(stafdConf({ controllers: [controllerLine(8009)] }));
  run.writeStacdConf('[Global]\n');
  await run.startStafd();
  await run.until('stafd has the log page', async () =>
    (await Promise.all(V.map((n) => run.stafdLists(n)))).every(Boolean),
  );
  await run.startStacd();

  const sameSet = async (want: string[]) =>
    JSON.stringify(await ioNqns()) === JSON.stringify([...want].sort());
  await run.until('the IOCs not excluded connected', () => sameSet([V[0]!, V[2]!]));
  assert.equal(
    (await run.plan()).find((i) => i.subsysnqn === V[1]),
    undefined,
    'the excluded IOC is not planned',
  );

  // The admin takes the entry out: no SIGHUP, the file watch starts a pass.
  writeFileSync(LIST, '# maintenance over\n[exclusions]\n');
  await run.until('the IOC connected once its exclusion is removed', () => sameSet(V));

  // A named drop-in list takes a stacd-made IOC out of service: it is disconnected, with the list as the reason.
  mkdirSync(DROPIN_DIR, { recursive: true });
  writeFileSync(`${DROPIN_DIR}/maint.conf`, `[exclusions]\nexclusion = nqn=${V[2]};trsvcid=8009\n`);
  await run.until('the IOC of the drop-in list disconnected', () => sameSet([V[0]!, V[1]!]));
  // The device vanishes while stacd's disconnect is still returning: wait for its event.
  type Ev = { kind: string; controller: string; detail: string };
  const disconnectEvent = async () =>
    (JSON.parse(await run.stac.events()) as Ev[]).find(
      (e) => e.kind === 'disconnected' && e.controller.includes(V[2]!),
    );
  await run.until(`a disconnect event for ${V[2]}`, async () => (await disconnectEvent()) !== undefined);
  const gone = (await disconnectEvent())!;
  assert.match(gone.detail, /host exclusion list/);

  // stafd: a drop-in naming the discovery controller drops it (and with it its log page).
  writeFileSync(
    `${DROPIN_DIR}/dc.conf`,
    '[exclusions]\nexclusion = traddr=127.0.0.1;trsvcid=8009;nqn=nqn.2014-08.org.nvmexpress.discovery\n',
  );
  await run.until(
    'stafd dropped the excluded DC',
    async () => JSON.parse(await run.staf.getAllLogPages(false)).length === 0,
  );
  assert.match(run.output(), /Removing discovery controller: excluded by the host exclusion list/);

  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
});
