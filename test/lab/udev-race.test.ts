/**
 * The udev DLP-change race, in the kernel lab: with `udev-rule=enabled` nvme-cli's autoconnect rule and stacd both
 * react to the same discovery log change. The rule's job is played exactly: a persistent kernel discovery
 * controller on the port, and on its `NVME_AEN=0x70f002` change uevent `nvme connect-all --device=<dc> …` (Debian's
 * nvme-cli) — delayed by a different amount for each change so that it lands before, during and after stacd's
 * pass. Whoever wins, every subsystem ends up with exactly one controller, stacd adopts the ones nvme-cli made
 * (owner `stas` in the registry), and stacd logs no error (a lost race is not a failure).
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REGISTRY_DIR } from '../../src/adapters/kernel/registry.js';
import { scaled } from '../support/slow.js';
import {
  connectOptions,
  ctrlAttr,
  fabricsConnect,
  GUEST_BUSYBOX,
  labSkipReason,
  waitFor,
} from './support/host.js';
import { DISCOVERY_NQN } from './support/nvmet.js';
import { controllerLine, stafdConf } from './support/stafd-run.js';
import { ioControllers, ioNqns, stasLab } from './support/stas-run.js';

const skip = labSkipReason();
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:race-${i}`;
const DELAYS_S = [0, 0.1, 0.2, 0.3, 0.5, 1.0, 1.9, 2.5];

test("nvme-cli's udev rule and stacd racing on the same AEN: one controller each, adopted, no errors", {
  skip,
  timeout: scaled(300_000),
}, async (t) => {
  const { nvmet, disc, host, run } = await stasLab(t);
  nvmet.addSubsystem({
    nqn: NQN(0),
    namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
    ports: [disc],
  });

  // A persistent kernel discovery controller, as `nvme discover -p` / `connect-all -p` leaves one.
  const dc = fabricsConnect(
    connectOptions({
      transport: 'tcp',
      traddr: disc.traddr,
      trsvcid: disc.trsvcid,
      nqn: DISCOVERY_NQN,
      hostnqn: host.hostnqn,
      hostid: host.hostid,
      keep_alive_tmo: 30,
    }),
  ).name;
  await waitFor(`${dc} live`, () => ctrlAttr(dc, 'state') === 'live');

  // The rule (70-nvmf-autoconnect.rules) as a uevent handler: same match, same command line.
  const delayFile = join(run.dir, 'rule-delay');
  const ruleLog = join(run.dir, 'rule.log');
  writeFileSync(delayFile, '0');
  // Created before the first change: stacd may connect a new subsystem before the rule has written anything.
  writeFileSync(ruleLog, '');
  const rule = join(run.dir, 'nvmf-autoconnect.sh');
  writeFileSync(
    rule,
    `#!/bin/sh
[ "$ACTION" = change ] && [ "$SUBSYSTEM" = nvme ] && [ "$NVME_AEN" = 0x70f002 ] || exit 0
sleep "$(cat ${delayFile})"
echo "$(date +%s.%N) connect-all --device=$DEVNAME" >>${ruleLog}
nvme connect-all --device="$DEVNAME" --transport="$NVME_TRTYPE" --traddr="$NVME_TRADDR" \\
  --trsvcid="$NVME_TRSVCID" --host-traddr="\${NVME_HOST_TRADDR:-none}" >>${ruleLog} 2>&1
# Read the log once more without Retain Asynchronous Event, so that the next change raises an AEN again
# (Debian 12's nvme-cli leaves the event masked after connect-all).
nvme get-log "/dev/$DEVNAME" --log-id=0x70 --log-len=4096 --raw-binary >/dev/null 2>>${ruleLog}
echo "rule done" >>${ruleLog}
`,
  );
  chmodSync(rule, 0o755);
  const udev: ChildProcess = spawn(GUEST_BUSYBOX, ['uevent', rule], { stdio: 'ignore' });
  t.after(() => udev.kill());

  run.writeStafdConf(stafdConf({ controllers: [controllerLine(8009)] }));
  run.writeStacdConf('[Global]\nudev-rule = enabled\n');
  await run.startStafd();
  await run.startStacd();
  const want = [NQN(0)];
  const sameSet = async () => JSON.stringify(await ioNqns()) === JSON.stringify([...want].sort());
  await run.until('the first IOC connected', sameSet);

  for (const [i, delay] of DELAYS_S.entries()) {
    writeFileSync(delayFile, String(delay));
    const nqn = NQN(i + 1);
    nvmet.addSubsystem({ nqn, namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports: [disc] });
    want.push(nqn);
    await run.until(`${nqn} connected`, async () => (await ioNqns()).includes(nqn), 60_000);
    // Both have acted: the rule finished, and stacd ran a pass after this change.
    await run.until(
      `the rule run for ${nqn}`,
      () => (readFileSync(ruleLog, 'utf8').match(/rule done/g)?.length ?? 0) === i + 1,
      60_000,
    );
  }
  await run.fullPass();

  assert.deepEqual(await ioNqns(), [...want].sort(), 'exactly one controller per subsystem');
  const rules = readFileSync(ruleLog, 'utf8');
  assert.equal(rules.match(/connect-all --device=/g)?.length, DELAYS_S.length, rules);
  for (const c of await ioControllers()) {
    assert.equal(
      readFileSync(join(REGISTRY_DIR, c.device, 'owner'), 'utf8').trim(),
      'stas',
      `${c.device} (${c.subsysnqn}) owned by stas`,
    );
  }
  const plan = await run.plan();
  assert.deepEqual(
    plan.map((i) => i.action),
    want.map(() => 'keep'),
  );
  assert.doesNotMatch(run.stacdOutput(), /error|Failed to connect/i);
  const raced = run.stacdOutput().match(/Connected by another program meanwhile/g)?.length ?? 0;
  t.diagnostic(
    `${DELAYS_S.length} changes: stacd lost ${raced} race(s) at the write; the rest were settled by the scan`,
  );
  assert.equal(await run.stop('stacd'), 0);
  assert.equal(await run.stop('stafd'), 0);
});
