/**
 * The kernel NVMe-oF host side for the lab tests: lab detection, host identity, connecting through
 * /dev/nvme-fabrics, controller and namespace sysfs, deleting controllers, nvme-cli discovery, and
 * kernel uevents.
 *
 * Runs INSIDE the lab guest (lab/vm-run.sh), as root. {@link labSkipReason} tells a test file whether
 * it is there; outside the lab every lab test must be skipped with that reason.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { scaled } from '../../support/slow.js';
import { modprobe, NVMET_ROOT, type Nvmet, Nvmet as NvmetClass, type Port } from './nvmet.js';

export const FABRICS_DEVICE = '/dev/nvme-fabrics';
export const SYS_NVME = '/sys/class/nvme';
export const SYS_NVME_SUBSYSTEM = '/sys/class/nvme-subsystem';
/** The static busybox lab/init puts into the guest (fast to exec; has `uevent`). */
export const GUEST_BUSYBOX = '/usr/local/libexec/vmrun/busybox';

let skipReason: string | undefined | null = null;

/**
 * Why the lab tests cannot run here, or undefined inside the lab guest (then the NVMe host and target
 * modules are loaded). The guest is recognized by VMRUN=1, which lab/vm-run.sh sets: the tests
 * reconfigure the kernel's NVMe target and host, which must never happen on a real machine.
 */
export function labSkipReason(): string | undefined {
  if (skipReason !== null) return skipReason;
  skipReason = computeSkipReason();
  return skipReason;
}

function computeSkipReason(): string | undefined {
  const howTo = 'these tests run inside the kernel lab guest: npm run test:lab';
  if (process.env['VMRUN'] !== '1') {
    const why = fs.existsSync(FABRICS_DEVICE) ? 'VMRUN=1 is not set' : `no ${FABRICS_DEVICE}`;
    return `not in the kernel lab (${why}); ${howTo}`;
  }
  if (process.getuid?.() !== 0) return `the kernel lab tests need root; ${howTo}`;
  try {
    modprobe('nvme-tcp');
    modprobe('nvmet');
    modprobe('nvmet-tcp');
  } catch (e) {
    return `cannot load the NVMe modules (${(e as Error).message.split('\n')[0]}); ${howTo}`;
  }
  if (!fs.existsSync(FABRICS_DEVICE)) return `no ${FABRICS_DEVICE} after modprobe nvme-tcp; ${howTo}`;
  if (!fs.existsSync(NVMET_ROOT)) return `no ${NVMET_ROOT} after modprobe nvmet; ${howTo}`;
  return undefined;
}

export interface HostIdentity {
  hostnqn: string;
  hostid: string;
}

/** A fresh UUID-based host identity (nqn.2014-08.org.nvmexpress:uuid:<hostid>). */
/**
 * Before a test installs a package with dpkg in the guest (whose root is thrown away at power-off): stop man-db's
 * trigger from rebuilding its index, which takes minutes in an emulated guest on a loaded host and says nothing
 * about stas (as Debian's container images do).
 */
export function skipManDbTrigger(): void {
  fs.rmSync('/var/lib/man-db/auto-update', { force: true });
}

export function newHostIdentity(): HostIdentity {
  const hostid = randomUUID();
  return { hostnqn: `nqn.2014-08.org.nvmexpress:uuid:${hostid}`, hostid };
}

/** Writes /etc/nvme/hostnqn and hostid (what nvme-cli uses); the guest's /etc is a throwaway overlay. */
export function writeHostIdentity(id: HostIdentity, dir = '/etc/nvme'): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(`${dir}/hostnqn`, `${id.hostnqn}\n`);
  fs.writeFileSync(`${dir}/hostid`, `${id.hostid}\n`);
}

/** Joins connect options: {a: 'x', flag: true, skipped: undefined} -> 'a=x,flag'. */
export function connectOptions(options: Record<string, string | number | boolean | undefined>): string {
  return Object.entries(options)
    .filter(([, v]) => v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? k : `${k}=${v}`))
    .join(',');
}

export interface ConnectReply {
  instance: number;
  cntlid: number;
  /** The controller's name, nvme<instance>. */
  name: string;
  /** The kernel's raw reply, e.g. 'instance=0,cntlid=1'. */
  reply: string;
}

/**
 * Connects a controller the way nvme-cli does: write the options to /dev/nvme-fabrics and read the
 * reply on the SAME open file. A failure is thrown by the write, with the kernel's errno as `code`
 * (EALREADY for a duplicate, EIO when the target rejects the Connect, EINVAL for bad options).
 */
export function fabricsConnect(options: string): ConnectReply {
  const fd = fs.openSync(FABRICS_DEVICE, 'r+');
  try {
    fs.writeSync(fd, options);
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    const reply = buf.subarray(0, n).toString().trim();
    const m = /^instance=(\d+),cntlid=(\d+)/.exec(reply);
    if (!m) throw new Error(`unexpected reply from ${FABRICS_DEVICE}: ${JSON.stringify(reply)}`);
    const instance = Number(m[1]);
    return { instance, cntlid: Number(m[2]), name: `nvme${instance}`, reply };
  } finally {
    fs.closeSync(fd);
  }
}

/** A controller's sysfs attribute (trimmed), e.g. ctrlAttr('nvme0', 'state'). Throws if missing. */
export function ctrlAttr(ctrl: string, attr: string): string {
  return fs.readFileSync(`${SYS_NVME}/${ctrl}/${attr}`, 'utf8').trim();
}

/** Parses a sysfs `address` ('traddr=127.0.0.1,trsvcid=4420,src_addr=127.0.0.1'): the project's own parser. */
export { parseSysfsAddress as parseAddress } from '../../../src/core/kernel-controller.js';

/** The names of the existing controllers (nvme0, nvme1, ...). */
export function controllers(): string[] {
  return listDir(SYS_NVME).filter((n) => /^nvme\d+$/.test(n));
}

/**
 * The namespace disks (e.g. nvme0n1) reachable through a controller. With native multipath (Debian's
 * CONFIG_NVME_MULTIPATH=y) the disk belongs to the SUBSYSTEM (/sys/class/nvme-subsystem/nvme-subsysK/
 * nvmeKn1) and its number need not match the controller's; without multipath it sits in the
 * controller's own sysfs directory.
 */
export function namespaceDisks(ctrl: string): string[] {
  const isDisk = (n: string) => /^nvme\d+n\d+$/.test(n);
  for (const subsys of listDir(SYS_NVME_SUBSYSTEM)) {
    const names = listDir(`${SYS_NVME_SUBSYSTEM}/${subsys}`);
    if (names.includes(ctrl)) return names.filter(isDisk).sort();
  }
  return listDir(`${SYS_NVME}/${ctrl}`).filter(isDisk).sort();
}

/**
 * The namespace paths through `ctrl` itself (`nvme0c1n1`: the hidden per-path disks of native multipath). The
 * shared disk (`nvme0n1`) is listed under the subsystem as soon as any path has it; a controller's own path only
 * once its namespace scan has run.
 */
export function namespacePaths(ctrl: string): string[] {
  return listDir(`${SYS_NVME}/${ctrl}`)
    .filter((n) => /^nvme\d+c\d+n\d+$/.test(n))
    .sort();
}

/** The controllers linked under the same nvme-subsystem as `ctrl` (the paths of a multipath disk). */
export function subsystemControllers(ctrl: string): string[] {
  for (const subsys of listDir(SYS_NVME_SUBSYSTEM)) {
    const names = listDir(`${SYS_NVME_SUBSYSTEM}/${subsys}`);
    if (names.includes(ctrl)) return names.filter((n) => /^nvme\d+$/.test(n)).sort();
  }
  return [];
}

/** A block device's size in bytes (/sys/block/<disk>/size counts 512-byte sectors). */
export function diskSizeBytes(disk: string): number {
  return Number(fs.readFileSync(`/sys/block/${disk}/size`, 'utf8').trim()) * 512;
}

/**
 * Polls `probe` every `intervalMs` until it returns a truthy value, and returns that value. Throws
 * after `timeoutMs` (scaled by STAS_LAB_SLOW), naming `what`. (Node cannot open netlink sockets; sysfs is
 * polled instead.)
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false,
  { timeoutMs = 15_000, intervalMs = 10 } = {},
): Promise<T> {
  const limit = scaled(timeoutMs);
  const deadline = Date.now() + limit;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${limit} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Deletes a controller through delete_controller and waits until its sysfs directory is gone. */
export async function deleteController(ctrl: string): Promise<void> {
  try {
    fs.writeFileSync(`${SYS_NVME}/${ctrl}/delete_controller`, '1');
  } catch (e) {
    // already being deleted (or gone)
    if (!['ENOENT', 'EBUSY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
  await waitFor(`${ctrl} to disappear`, () => !fs.existsSync(`${SYS_NVME}/${ctrl}`));
}

/** Deletes every NVMe controller of the guest. */
export async function disconnectAll(): Promise<void> {
  for (const ctrl of controllers()) await deleteController(ctrl);
}

/** A clean slate for a test: deletes every host controller, then everything configured in nvmet. */
export async function resetLab(nvmet: Nvmet): Promise<void> {
  await disconnectAll();
  nvmet.teardown();
}

/**
 * The usual start of a lab test: no controllers, an empty nvmet (reset again when the test ends), a new host
 * identity written to /etc/nvme, a discovery port on 8009 and an I/O port on 4420.
 */
export async function freshLab(t: { after: (fn: () => unknown) => void }): Promise<{
  nvmet: Nvmet;
  host: HostIdentity;
  disc: Port;
  io: Port;
}> {
  const nvmet = new NvmetClass();
  await resetLab(nvmet);
  t.after(() => resetLab(nvmet));
  const host = newHostIdentity();
  writeHostIdentity(host);
  return { nvmet, host, disc: nvmet.addDiscoveryPort(), io: nvmet.addPort({ trsvcid: 4420 }) };
}

/** One record of `nvme discover -o json` (nvme-cli 2.3). */
export interface DiscoveryRecord {
  trtype: string;
  adrfam: string;
  /** 'current discovery subsystem', 'nvme subsystem' or 'discovery subsystem referral'. */
  subtype: string;
  portid: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  [key: string]: unknown;
}

export interface DiscoveryLog {
  genctr: number;
  records: DiscoveryRecord[];
}

/**
 * Reads a discovery log page with nvme-cli (`nvme discover -o json`), which connects a discovery
 * controller, reads the log and deletes the controller again. Needs /etc/nvme/hostnqn
 * ({@link writeHostIdentity}).
 */
export function nvmeDiscover(traddr: string, trsvcid: string | number): DiscoveryLog {
  const out = execFileSync(
    'nvme',
    ['discover', '-t', 'tcp', '-a', traddr, '-s', String(trsvcid), '-o', 'json'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const log = JSON.parse(out) as Partial<DiscoveryLog>;
  return { genctr: Number(log.genctr), records: log.records ?? [] };
}

/** Subtype names as nvme-cli prints them, by the discovery log entry's SUBTYPE byte. */
const SUBTYPES: Record<number, string> = {
  1: 'discovery subsystem referral',
  2: 'nvme subsystem',
  3: 'current discovery subsystem',
};
const TRTYPES: Record<number, string> = { 1: 'rdma', 2: 'fc', 3: 'tcp', 254: 'loop' };
const ADRFAMS: Record<number, string> = { 1: 'ipv4', 2: 'ipv6', 3: 'ib', 4: 'fc', 254: 'loop' };

/**
 * Reads the discovery log page (0x70) through an EXISTING discovery controller (e.g. a persistent one)
 * with `nvme get-log`, Retain Asynchronous Event cleared. That read is what re-arms the target's
 * Discovery Log Change AEN: nvmet sends the next one only after the host has read the log.
 * Parsed here from the raw bytes (header: GENCTR u64 @0, NUMREC u64 @8; 1024-byte entries from 1024).
 */
export function readDiscoveryLog(ctrl: string): DiscoveryLog {
  const getLog = (len: number) =>
    execFileSync('nvme', ['get-log', `/dev/${ctrl}`, '--log-id=0x70', `--log-len=${len}`, '--raw-binary'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const numrec = Number(getLog(1024).readBigUInt64LE(8));
  const page = getLog(1024 * (numrec + 1));
  const text = (b: Buffer) => b.toString('latin1').replace(/[\0 ]+$/, '');
  const records: DiscoveryRecord[] = [];
  for (let i = 0; i < Number(page.readBigUInt64LE(8)); i++) {
    const e = page.subarray(1024 * (i + 1), 1024 * (i + 2));
    records.push({
      trtype: TRTYPES[e[0]!] ?? String(e[0]),
      adrfam: ADRFAMS[e[1]!] ?? String(e[1]),
      subtype: SUBTYPES[e[2]!] ?? String(e[2]),
      portid: e.readUInt16LE(4),
      trsvcid: text(e.subarray(32, 64)),
      subnqn: text(e.subarray(256, 512)),
      traddr: text(e.subarray(512, 768)),
    });
  }
  return { genctr: Number(page.readBigUInt64LE(0)), records };
}

/** A kernel uevent: ACTION, DEVPATH, SUBSYSTEM and the NVME_* variables. */
export type Uevent = Record<string, string>;

const UEVENT_KEYS = ['ACTION', 'DEVPATH', 'SUBSYSTEM', 'DEVNAME', 'NVME_AEN', 'NVME_EVENT', 'NVME_TRTYPE'];

/**
 * Kernel uevents, read by `busybox uevent` (node has no AF_NETLINK sockets): it runs a tiny busybox
 * shell per event that prints the interesting variables as one tab-separated line.
 */
export class UeventMonitor {
  readonly events: Uevent[] = [];
  private child: ChildProcess | undefined;
  private buffered = '';

  /** Starts the monitor and returns once it provably receives events. */
  async start(): Promise<void> {
    const line = UEVENT_KEYS.map((k) => `${k}=\${${k}:-}`).join('\t');
    this.child = spawn(GUEST_BUSYBOX, ['uevent', GUEST_BUSYBOX, 'sh', '-c', `echo "${line}"`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => {
      this.buffered += chunk;
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop() ?? '';
      for (const l of lines)
        this.events.push(Object.fromEntries(l.split('\t').map((kv) => kv.split(/=(.*)/s, 2))));
    });
    // the netlink socket is bound some time after spawn: poke a synthetic uevent until one arrives
    await waitFor(
      'the uevent monitor to start',
      () => {
        fs.writeFileSync('/sys/devices/virtual/mem/null/uevent', 'change');
        return this.events.some((e) => e['DEVPATH'] === '/devices/virtual/mem/null');
      },
      { intervalMs: 100, timeoutMs: 10_000 },
    );
  }

  /** Waits for an event (already received or future) that matches. */
  next(what: string, match: (e: Uevent) => boolean, timeoutMs = 10_000): Promise<Uevent> {
    return waitFor(what, () => this.events.find(match), { timeoutMs });
  }

  /** Forgets the events received so far. */
  clear(): void {
    this.events.length = 0;
  }

  stop(): void {
    this.child?.kill();
    this.child = undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
