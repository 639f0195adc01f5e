#!/usr/bin/env node
// stafctl: STorage Appliance Finder control tool — queries and controls stafd over D-Bus (nvme-stas compatible).
import { loadConfigFileSync, readRegularFileSync } from '../adapters/config-file.js';
import { type StafClient, stafClient } from '../adapters/dbus/clients.js';
import { UsageError } from '../core/argv.js';
import { parseSysConfig } from '../core/config/sys-config.js';
import { resolveValue } from '../core/host-identity.js';
import { errorText } from '../core/log.js';
import type { PyValue } from '../core/pprint.js';
import { WELL_KNOWN_DISC_NQN } from '../core/tid.js';
import { isTransport, TRANSPORT_NAMES } from '../core/transport.js';
import {
  buildStatus,
  type CommandSpec,
  CtlError,
  type CtlProgram,
  commonCommands,
  ctlMain,
  dictTable,
  eventsCommand,
  humanStatus,
  isRecord,
  parseDaemonJson,
  runCli,
  tidText,
} from './ctl.js';

const DEFAULT_SYS_CONF = '/etc/stas/sys.conf';
const DLPE_COLUMNS = [
  'trtype',
  'adrfam',
  'traddr',
  'trsvcid',
  'subtype',
  'treq',
  'portid',
  'cntlid',
  'subnqn',
];

/** The host NQN of sys.conf (literal or file://), needed only by `dlp` without -q. */
function systemHostNqn(sysConf: string): string {
  const { config } = loadConfigFileSync(sysConf, parseSysConfig);
  let nqn: string | undefined;
  try {
    nqn = resolveValue(config.nqn, (p) => readRegularFileSync(p));
  } catch (e) {
    throw new CtlError(`cannot read the host NQN (${sysConf}: ${errorText(e)}); give it with -q/--host-nqn`);
  }
  if (!nqn) throw new CtlError(`no host NQN in ${sysConf}; give it with -q/--host-nqn`);
  return nqn;
}

function humanDlp(entries: readonly PyValue[]): string {
  return dictTable(DLPE_COLUMNS, entries);
}

function humanAdlp(all: PyValue): string {
  if (!Array.isArray(all)) return '';
  return all
    .map((x) => {
      const dc = isRecord(x) ? x['discovery-controller'] : undefined;
      const pages = isRecord(x) && Array.isArray(x['log-pages']) ? x['log-pages'] : [];
      const device = isRecord(dc) && typeof dc['device'] === 'string' ? ` ${dc['device']}` : '';
      return `${tidText(dc)}${device}\n${pages.length ? humanDlp(pages) : '(no log page entries)\n'}`;
    })
    .join('\n');
}

const dlp: CommandSpec<StafClient> = {
  name: 'dlp',
  summary: 'Show discovery log pages',
  usage: '[-t <trtype>] -a <traddr> -s <trsvcid> [-w <traddr>] [-f <iface>] [-q <nqn>] [-n <nqn>]',
  options: {
    transport: { type: 'string', short: 't' },
    traddr: { type: 'string', short: 'a' },
    trsvcid: { type: 'string', short: 's' },
    'host-traddr': { type: 'string', short: 'w' },
    'host-iface': { type: 'string', short: 'f' },
    'host-nqn': { type: 'string', short: 'q' },
    nqn: { type: 'string', short: 'n' },
  },
  optionsHelp: `  -t <trtype>, --transport <trtype>
                        NVMe-over-Fabrics fabric type (default: "tcp")
  -a <traddr>, --traddr <traddr>
                        Discovery Controller's network address
  -s <trsvcid>, --trsvcid <trsvcid>
                        Transport service id (for IP addressing, e.g. tcp, rdma, this field is the port number)
  -w <traddr>, --host-traddr <traddr>
                        Network address used on the host to connect to the Controller (default: "")
  -f <iface>, --host-iface <iface>
                        This field specifies the network interface used on the host to connect to the Controller
                        (default: "")
  -q <nqn>, --host-nqn <nqn>
                        This field specifies the host NQN (default: the host NQN of sys.conf)
  -n <nqn>, --nqn <nqn>
                        This field specifies the discovery controller's NQN. When not specified this option defaults
                        to "${WELL_KNOWN_DISC_NQN}"
`,
  prepare(v, global) {
    const transport = (v['transport'] as string | undefined) ?? 'tcp';
    if (!isTransport(transport)) {
      throw new UsageError(
        `argument -t/--transport: invalid choice: '${transport}' (choose from ${TRANSPORT_NAMES.map((t) => `'${t}'`).join(', ')})`,
      );
    }
    const missing = [
      ['traddr', '-a/--traddr'],
      ['trsvcid', '-s/--trsvcid'],
    ]
      .filter(([k]) => v[k!] === undefined)
      .map(([, flag]) => flag);
    if (missing.length) throw new UsageError(`the following arguments are required: ${missing.join(', ')}`);
    v['transport'] = transport;
    v['host-traddr'] ??= '';
    v['host-iface'] ??= '';
    v['nqn'] ??= WELL_KNOWN_DISC_NQN;
    v['host-nqn'] ??= systemHostNqn((global['sys-conf'] as string | undefined) ?? DEFAULT_SYS_CONF);
  },
  async run(c, v) {
    const s = (k: string) => v[k] as string;
    const entries = await c.getLogPages(
      s('transport'),
      s('traddr'),
      s('trsvcid'),
      s('nqn'),
      s('host-traddr'),
      s('host-iface'),
      s('host-nqn'),
    );
    return { data: entries, human: () => humanDlp(entries) };
  },
};

const adlp: CommandSpec<StafClient> = {
  name: 'adlp',
  summary: 'Show all discovery log pages',
  usage: '[-d]',
  options: { detailed: { type: 'boolean', short: 'd' } },
  optionsHelp: '  -d, --detailed        Print detailed info (default: "False")\n',
  async run(c, v) {
    const all = parseDaemonJson('stafd', 'get_all_log_pages', await c.getAllLogPages(!!v['detailed']));
    return { data: all, human: () => humanAdlp(all) };
  },
};

/** -H of status: controllers get a column with the number of entries of their log pages. */
function humanStafStatus(info: Record<string, PyValue>): string {
  const controllers = Array.isArray(info['controllers']) ? info['controllers'] : [];
  const rows = controllers.map((c) =>
    isRecord(c)
      ? { ...c, 'log entries': Array.isArray(c['log_pages']) ? String(c['log_pages'].length) : '' }
      : c,
  );
  return humanStatus({ ...info, controllers: rows }, ['log entries']);
}

const STAFCTL: CtlProgram<StafClient> = {
  prog: 'stafctl',
  daemon: 'stafd',
  description: 'STorage Appliance Finder (STAF)',
  globalOptions: {
    options: { 'sys-conf': { type: 'string' } },
    usage: '[--sys-conf FILE]',
    help: `  --sys-conf FILE       Host identity file for the default of dlp -q (default: ${DEFAULT_SYS_CONF})\n`,
  },
  commands: [
    ...commonCommands<StafClient>(
      'stafd',
      'discovery controllers',
      (c) => buildStatus('stafd', c, (...tid) => c.getLogPages(...tid)),
      humanStafStatus,
    ),
    dlp,
    adlp,
    eventsCommand<StafClient>('stafd'),
  ],
  client: (bus) => stafClient(bus),
};

runCli(ctlMain(STAFCTL, process.argv.slice(2)));
