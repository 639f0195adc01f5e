#!/usr/bin/env node
// stacctl: STorage Appliance Connector control tool — queries and controls stacd over D-Bus (nvme-stas compatible, plus `plan`).
import { type StacClient, stacClient } from '../adapters/dbus/clients.js';
import type { PyValue } from '../core/pprint.js';
import {
  buildStatus,
  type CommandSpec,
  type CtlProgram,
  cell,
  commonCommands,
  ctlMain,
  eventsCommand,
  isRecord,
  parseDaemonJson,
  runCli,
  table,
  tidText,
} from './ctl.js';

/** -H of plan: one row per item: action, device, TID, reason. */
function humanPlan(items: PyValue): string {
  const rows = (Array.isArray(items) ? items : []).map((i) =>
    isRecord(i)
      ? [cell(i['action']), cell(i['device']), tidText(i), cell(i['reason'])]
      : [cell(i), '-', '-', '-'],
  );
  return table(['action', 'device', 'tid', 'reason'], rows);
}

const plan: CommandSpec<StacClient> = {
  name: 'plan',
  summary: 'Show the reconciler plan: what the next pass would connect, disconnect, keep or skip, and why',
  usage: '',
  options: {},
  optionsHelp: '',
  async run(c) {
    const items = parseDaemonJson('stacd', 'plan', await c.plan());
    return { data: items, human: () => humanPlan(items) };
  },
};

const STACCTL: CtlProgram<StacClient> = {
  prog: 'stacctl',
  daemon: 'stacd',
  description: 'STorage Appliance Connector (STAC)',
  commands: [
    ...commonCommands<StacClient>('stacd', 'I/O controllers', (c) => buildStatus('stacd', c)),
    plan,
    eventsCommand<StacClient>('stacd'),
  ],
  client: (bus) => stacClient(bus),
};

runCli(ctlMain(STACCTL, process.argv.slice(2)));
