/**
 * stacd's reconciler as data: the I/O controllers that should exist (controller= lines and the NVM entries of
 * stafd's log pages, minus exclusions and disabled address families) against the controllers the kernel has
 * (one sysfs scan) → a plan of connect / disconnect / keep / skip, each with its reason. Pure: the executor
 * carries the plan out, `stacctl plan` shows it.
 */
import type { ControllerEntry } from '../config/controller-line.js';
import type { StacdConfig } from '../config/service-config.js';
import type { ExcludeFields } from '../exclude.js';
import { isIoController, type KernelController } from '../kernel-controller.js';
import { classifyLog } from '../log-entry.js';
import { controllerMatchesTid, type InterfaceMap } from '../match.js';
import { type DiscoveryLogEntry, EFlags } from '../nvme/discovery-log.js';
import { exclusionOf, type RefusalRules, refusalOf } from '../refusal.js';
import { Tid, type TidOptions } from '../tid.js';

/** What stafd answered: its DCs with their cached log entries; or no answer at all (absent, starting, slow). */
export type StafdView =
  | {
      readonly answered: true;
      readonly dcs: readonly { readonly dc: Tid; readonly entries: readonly DiscoveryLogEntry[] }[];
    }
  | { readonly answered: false };

export interface DesiredIoc {
  tid: Tid;
  origin: 'configured' | 'discovered';
  /** controller= line (per-controller options and secrets). */
  entry?: ControllerEntry;
  /** Log entry that lists it (NCC flag). */
  dlpe?: DiscoveryLogEntry;
}

export type PlanAction = 'connect' | 'disconnect' | 'keep' | 'skip';

export interface PlanItem {
  action: PlanAction;
  tid: Tid;
  /** Kernel device for keep/disconnect. */
  device?: string;
  reason: string;
  /** The wanted controller behind a connect/keep/skip (its controller= options, its DLPE). */
  desired?: DesiredIoc;
}

export interface PlanInput {
  config: StacdConfig;
  tidOpts: TidOptions;
  stafd: StafdView;
  kernel: readonly KernelController[];
  ifaces: InterfaceMap;
  /** Owner recorded for each device in /run/nvme/registry (`stas`, `nbft`, …); absent = unknown. */
  owners: ReadonlyMap<string, string>;
  /** Devices this stacd made or adopted (remembered across restarts). */
  ours: ReadonlySet<string>;
  /** Failed connect attempts per TID key (for connect-attempts-on-ncc). */
  attempts: ReadonlyMap<string, number>;
  /** IOCs of the DLPEs last seen, kept while stafd does not answer (so they are not dropped). */
  previousDiscovered?: readonly DesiredIoc[];
  /** The host-wide exclusion list (/etc/nvme/exclusions.conf and its drop-ins), applicable entries. */
  hostExclusions?: readonly ExcludeFields[];
}

export interface Plan {
  items: PlanItem[];
  /** Discovered IOCs this plan was built from (the executor keeps them for a stafd outage). */
  discovered: DesiredIoc[];
  /** Wanted IOCs refused (exclude=, the host exclusion list, a disabled address family…), once each. */
  refused: { desired: DesiredIoc; reason: string }[];
}

/** TID of a `controller=` I/O controller (nqn mandatory, checked by the config loader). */
export function configuredIocTid(entry: ControllerEntry, opts: TidOptions): Tid {
  return Tid.from(entry, opts);
}

/** NVM entries of every DC's log as IOC TIDs, inheriting the DC's host-traddr, host-iface and host NQN. */
export function discoveredIocs(view: StafdView, opts: TidOptions): DesiredIoc[] {
  if (!view.answered) return [];
  const out = new Map<string, DesiredIoc>();
  for (const { dc, entries } of view.dcs)
    for (const { tid, entry } of classifyLog(dc, entries, opts).iocs)
      out.set(tid.key(), { tid, origin: 'discovered', dlpe: entry }); // last DLPE wins (NCC tracking)
  return [...out.values()];
}

const OTHER_OWNER = (owner: string | undefined) => owner !== undefined && owner !== '' && owner !== 'stas';

export function planIoControllers(input: PlanInput): Plan {
  const { config, tidOpts } = input;
  const rules: RefusalRules = {
    excludes: config.excludes.map((e) => e.fields),
    hostExclusions: input.hostExclusions,
    ipFamily: config.ipFamily,
  };
  const discovered = input.stafd.answered
    ? discoveredIocs(input.stafd, tidOpts)
    : [...(input.previousDiscovered ?? [])];
  const items: PlanItem[] = [];

  // Desired set: configured first (their options win), then discovered.
  const desired = new Map<string, DesiredIoc>();
  const refused = new Map<string, { desired: DesiredIoc; reason: string }>();
  const consider = (d: DesiredIoc) => {
    const key = d.tid.key();
    const refusal = refusalOf(d.tid, rules);
    if (refusal) {
      refused.set(key, { desired: d, reason: refusal });
      return;
    }
    const prev = desired.get(key);
    if (!prev) desired.set(key, d);
    else if (d.dlpe && !prev.dlpe) prev.dlpe = d.dlpe;
  };
  for (const entry of config.controllers)
    consider({ tid: configuredIocTid(entry, tidOpts), origin: 'configured', entry });
  for (const d of discovered) consider(d);

  const iocs = input.kernel.filter(isIoController);
  const matched = new Set<string>();
  const nccMax = config.connectAttemptsOnNcc;
  for (const d of desired.values()) {
    const c = iocs.find((k) => !matched.has(k.device) && controllerMatchesTid(d.tid, k, input.ifaces));
    if (c) {
      matched.add(c.device);
      items.push({
        action: 'keep',
        tid: d.tid,
        device: c.device,
        reason: `${d.origin}; connected as ${c.device}`,
        desired: d,
      });
      continue;
    }
    const ncc = d.dlpe ? (d.dlpe.eflags & EFlags.NCC) !== 0 : false;
    const attempts = input.attempts.get(d.tid.key()) ?? 0;
    if (ncc && nccMax > 0 && attempts >= nccMax) {
      items.push({
        action: 'skip',
        tid: d.tid,
        reason: `not connected to the CDC (NCC) and ${attempts} attempts failed`,
        desired: d,
      });
      continue;
    }
    items.push({
      action: 'connect',
      tid: d.tid,
      reason: d.origin === 'configured' ? 'configured (controller=)' : 'listed in a discovery log page',
      desired: d,
    });
  }

  // Kernel controllers nobody wants.
  const scope = config.disconnectScope;
  for (const c of iocs) {
    if (matched.has(c.device)) continue;
    const tid = Tid.from(
      {
        transport: c.transport,
        traddr: c.traddr,
        trsvcid: c.trsvcid,
        subsysnqn: c.subsysnqn,
        hostTraddr: c.hostTraddr,
        hostIface: c.hostIface,
        hostNqn: c.hostNqn,
      },
      tidOpts,
    );
    const owner = input.owners.get(c.device);
    const why = refused.get(tid.key())?.reason ?? exclusionOf(tid, rules);
    const keep = (reason: string) => items.push({ action: 'keep', tid, device: c.device, reason });
    const drop = (reason: string) => items.push({ action: 'disconnect', tid, device: c.device, reason });
    if (OTHER_OWNER(owner)) keep(`owned by ${owner}`);
    else if (scope === 'no-disconnect') keep('disconnect-scope=no-disconnect');
    else if (!input.stafd.answered && !why) keep('stafd is not answering: discovery information unknown');
    else if (scope === 'only-stas-connections') {
      if (owner === 'stas' || input.ours.has(c.device))
        drop(why ?? 'no longer configured or listed in a discovery log page');
      else keep('not made by stas');
    } else if ((config.disconnectTrtypes as readonly string[]).includes(c.transport)) {
      drop(why ?? `not configured nor listed, and ${c.transport} is audited (disconnect-trtypes)`);
    } else keep(`${c.transport} is not in disconnect-trtypes`);
  }
  return { items, discovered, refused: [...refused.values()] };
}

/** The plan as JSON for `stacctl plan` (and the org.nvmexpress.stac.plan D-Bus method). */
export function planToJson(plan: Plan): string {
  return JSON.stringify(
    plan.items.map((i) => ({
      action: i.action,
      ...i.tid.idDict(),
      ...(i.device ? { device: i.device } : {}),
      reason: i.reason,
    })),
  );
}
