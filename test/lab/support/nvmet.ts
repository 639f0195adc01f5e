/**
 * Kernel NVMe target (nvmet) topologies for the lab tests.
 *
 * Runs INSIDE the lab guest (lab/vm-run.sh), as root. It drives nvmet's configfs tree
 * (/sys/kernel/config/nvmet) directly with node:fs: under TCG every exec of a coreutils binary costs
 * 70-600 ms, a mkdir/symlink/write here costs well under a millisecond.
 *
 * Facts about the 6.1 kernel target that shape this API (lab/README.md has the details):
 * - nvmet LISTENS on a port only once at least one subsystem is linked to it; a port with nothing
 *   linked (even one with referrals) refuses connections.
 * - Every port also serves the discovery subsystem. Its log lists the subsystems linked to THAT
 *   port, with that port's address, plus the port's referrals.
 * - Linking or unlinking a subsystem (or changing referrals) makes the target send a Discovery Log
 *   Change AEN to the discovery controllers connected to that port.
 * - File namespaces live in the guest's tmpfs, which has no O_DIRECT: they need buffered_io=1.
 * - In-band authentication (DH-HMAC-CHAP) is per allowed host: hosts/<hostnqn>/dhchap_key (and
 *   dhchap_ctrl_key, dhchap_hash, dhchap_dhgroup). The lab's rebuilt nvmet has these attributes; Debian's
 *   own does not (see lab/README.md). A subsystem with allow_any_host=1 never authenticates, nor does the
 *   discovery subsystem. A key cannot be cleared once written (6.1): remove the host and create it again.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** nvmet's configfs root. */
export const NVMET_ROOT = '/sys/kernel/config/nvmet';
/** null_blk's configfs root (exists once null_blk is loaded). */
export const NULLB_ROOT = '/sys/kernel/config/nullb';
/** The well-known discovery subsystem NQN every port serves. */
export { WELL_KNOWN_DISC_NQN as DISCOVERY_NQN } from '../../../src/core/tid.js';
/** Default TCP service IDs. */
export const DISCOVERY_TRSVCID = '8009';
export const IO_TRSVCID = '4420';

/** Where file-backed namespaces are created (tmpfs in the guest). */
const SCRATCH_DIR = '/tmp/stas-nvmet';
/** Prefix of the null_blk devices this module creates (the 6.1 disk name is the configfs name). */
const NULLB_PREFIX = 'stasnullb';

export type AddressFamily = 'ipv4' | 'ipv6';

export interface PortSpec {
  /**
   * Transport, default tcp. rdma needs an RDMA device (soft-RoCE: host.ts setupSoftRoce) owning traddr. loop needs
   * nvme-loop, which Debian's kernel does not build (CONFIG_NVME_TARGET_LOOP is not set); the lab builds it
   * (lab/setup.sh rebuilds drivers/nvme with it).
   */
  trtype?: 'tcp' | 'rdma' | 'loop';
  /** Target address, default 127.0.0.1. Any 127.0.0.0/8 address works on the guest's lo. */
  traddr?: string;
  /** TCP port, default 4420. */
  trsvcid?: string | number;
  /** Default: ipv6 if traddr contains ':', else ipv4. */
  adrfam?: AddressFamily;
  /** nvmet port ID (1-65534); default: the lowest free one. */
  id?: number;
}

/** A port created by {@link Nvmet.addPort}. */
export interface Port {
  id: number;
  trtype: 'tcp' | 'rdma' | 'loop';
  traddr: string;
  trsvcid: string;
  adrfam: AddressFamily;
}

export interface NamespaceSpec {
  /** Namespace ID, default 1, 2, ... in order. */
  nsid?: number;
  /** Size in bytes (default 64 MiB). null_blk rounds up to whole MiB. */
  sizeBytes?: number;
  /** 'file' (default): a sparse file in tmpfs, data reads back; 'null_blk': no memory, reads zeros. */
  backend?: 'file' | 'null_blk';
  /** Device UUID reported by Identify; default: derived from the subsystem index and nsid. */
  uuid?: string;
}

/** The DH-HMAC-CHAP hash functions of nvmet's dhchap_hash. */
export type DhchapHash = 'hmac(sha256)' | 'hmac(sha384)' | 'hmac(sha512)';
/** The DH groups of nvmet's dhchap_dhgroup ('null': no Diffie-Hellman exchange). */
export type DhchapDhGroup = 'null' | 'ffdhe2048' | 'ffdhe3072' | 'ffdhe4096' | 'ffdhe6144' | 'ffdhe8192';

/**
 * In-band authentication (DH-HMAC-CHAP) of one host NQN, as nvmet's hosts/<hostnqn>/dhchap_* attributes.
 * Applies on the subsystems that allow the host by name (allow_any_host=0), not on the discovery subsystem.
 */
export interface HostAuth {
  /**
   * The host's secret, 'DHHC-1:<hmac>:<base64>:' (e.g. from `nvme gen-dhchap-key`): the target then requires
   * the host to authenticate with it (connect option dhchap_secret).
   */
  key: string;
  /**
   * The controller's secret, for bidirectional authentication: the target answers the host's challenge with it,
   * when the host asks (connect option dhchap_ctrl_secret). Without it the host cannot authenticate the target.
   */
  ctrlKey?: string;
  /** The hash the target selects; the kernel's default is hmac(sha256). */
  hash?: DhchapHash;
  /** The DH group the target selects; the kernel's default is null. */
  dhgroup?: DhchapDhGroup;
}

export interface SubsystemSpec {
  nqn: string;
  /** Default true when allowedHosts is empty, false otherwise. */
  allowAnyHost?: boolean;
  /** Host NQNs allowed to connect (creates hosts/<nqn> and links it). */
  allowedHosts?: string[];
  /** DH-HMAC-CHAP settings by host NQN, for hosts of allowedHosts ({@link Nvmet.setHostAuth}). */
  hostAuth?: Record<string, HostAuth>;
  /** Serial number (at most 20 characters); default LAB followed by digits. */
  serial?: string;
  /** Model number; default 'stas-lab'. */
  model?: string;
  /** Default: one 64 MiB file namespace. Pass [] for a subsystem without namespaces. */
  namespaces?: NamespaceSpec[];
  /** Ports to link the subsystem to right away. */
  ports?: Port[];
}

export interface NamespaceInfo {
  nsid: number;
  sizeBytes: number;
  backend: 'file' | 'null_blk';
  /** The backing file or block device. */
  devicePath: string;
  uuid: string;
}

/** A subsystem created by {@link Nvmet.addSubsystem}. */
export interface SubsystemInfo {
  nqn: string;
  serial: string;
  model: string;
  namespaces: NamespaceInfo[];
}

export interface ReferralTarget {
  traddr: string;
  trsvcid: string | number;
  adrfam?: AddressFamily;
  /** Port ID reported in the referral entry. */
  portid: number;
}

const MIB = 1024 * 1024;
const loadedModules = new Set<string>();

/**
 * Loads a kernel module with modprobe (busybox's in the guest), at most once per process.
 * Parameters only apply if the module was not loaded yet.
 */
export function modprobe(module: string, ...params: string[]): void {
  if (loadedModules.has(module)) return;
  execFileSync('modprobe', [module, ...params], { stdio: ['ignore', 'ignore', 'pipe'] });
  loadedModules.add(module);
}

function write(file: string, value: string | number): void {
  fs.writeFileSync(file, String(value));
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * The kernel target's configuration. Create one per test (or share one) and call
 * {@link Nvmet.teardown} afterwards: it removes EVERYTHING from nvmet's configfs tree, also what
 * another instance or a shell script created, so every test starts from a clean target.
 */
export class Nvmet {
  private subsystemCount = 0;

  /** Loads nvmet and nvmet-tcp and checks that configfs is there. */
  constructor() {
    modprobe('nvmet');
    modprobe('nvmet-tcp');
    if (!fs.existsSync(NVMET_ROOT)) throw new Error(`${NVMET_ROOT} missing after modprobe nvmet`);
  }

  /** Creates a port (TCP unless spec.trtype). It starts listening once a subsystem is linked to it. */
  addPort(spec: PortSpec = {}): Port {
    const traddr = spec.traddr ?? '127.0.0.1';
    const trtype = spec.trtype ?? 'tcp';
    if (trtype === 'rdma') modprobe('nvmet-rdma');
    if (trtype === 'loop') modprobe('nvme-loop');
    const port: Port = {
      id: spec.id ?? this.freePortId(),
      trtype,
      traddr,
      trsvcid: String(spec.trsvcid ?? IO_TRSVCID),
      adrfam: spec.adrfam ?? (traddr.includes(':') ? 'ipv6' : 'ipv4'),
    };
    const dir = this.portDir(port);
    fs.mkdirSync(dir);
    write(`${dir}/addr_trtype`, trtype);
    if (trtype !== 'loop') {
      write(`${dir}/addr_adrfam`, port.adrfam);
      write(`${dir}/addr_traddr`, port.traddr);
      write(`${dir}/addr_trsvcid`, port.trsvcid);
    }
    // addr_treq stays "not specified": with "not required", nvme-cli 2.3 (libnvme 1.3) connect-all
    // adds a 'tls' option that the 6.1 kernel rejects.
    return port;
  }

  /** A port on traddr:8009, meant for discovery (link at least one subsystem so it listens). */
  addDiscoveryPort(traddr = '127.0.0.1'): Port {
    return this.addPort({ traddr, trsvcid: DISCOVERY_TRSVCID });
  }

  /** Creates a subsystem with its namespaces and allowed hosts, and links it to spec.ports. */
  addSubsystem(spec: SubsystemSpec): SubsystemInfo {
    const index = ++this.subsystemCount;
    const dir = this.subsystemDir(spec.nqn);
    const allowedHosts = spec.allowedHosts ?? [];
    const serial = spec.serial ?? `LAB${String(index).padStart(17, '0')}`;
    const model = spec.model ?? 'stas-lab';
    fs.mkdirSync(dir);
    write(`${dir}/attr_allow_any_host`, (spec.allowAnyHost ?? allowedHosts.length === 0) ? 1 : 0);
    write(`${dir}/attr_serial`, serial);
    write(`${dir}/attr_model`, model);
    for (const host of allowedHosts) this.allowHost(spec.nqn, host, spec.hostAuth?.[host]);

    const namespaces: NamespaceInfo[] = [];
    const specs = spec.namespaces ?? [{}];
    specs.forEach((ns, i) => {
      namespaces.push(this.addNamespace(spec.nqn, index, ns.nsid ?? i + 1, ns));
    });
    for (const port of spec.ports ?? []) this.link(spec.nqn, port);
    return { nqn: spec.nqn, serial, model, namespaces };
  }

  /** Creates hosts/<hostnqn> (if needed), sets its authentication (if given) and allows it on the subsystem. */
  allowHost(subnqn: string, hostnqn: string, auth?: HostAuth): void {
    const host = `${NVMET_ROOT}/hosts/${hostnqn}`;
    if (!fs.existsSync(host)) fs.mkdirSync(host);
    if (auth) this.setHostAuth(hostnqn, auth);
    fs.symlinkSync(host, `${this.subsystemDir(subnqn)}/allowed_hosts/${hostnqn}`);
  }

  /**
   * Sets a host's DH-HMAC-CHAP attributes (creates hosts/<hostnqn> if needed). It takes effect at the host's
   * next connect (or re-authentication). Attributes left out keep their value: 6.1 cannot clear a key once set
   * (remove the host from every subsystem, then the hosts/ entry, to start over). The kernel refuses (EINVAL)
   * a malformed key, an unknown hash and a DH group it has no algorithm for.
   */
  setHostAuth(hostnqn: string, auth: HostAuth): void {
    const host = `${NVMET_ROOT}/hosts/${hostnqn}`;
    if (!fs.existsSync(host)) fs.mkdirSync(host);
    if (!fs.existsSync(`${host}/dhchap_key`))
      throw new Error('nvmet has no in-band authentication (CONFIG_NVME_TARGET_AUTH); see lab/README.md');
    if (auth.hash !== undefined) write(`${host}/dhchap_hash`, auth.hash);
    if (auth.dhgroup !== undefined) write(`${host}/dhchap_dhgroup`, auth.dhgroup);
    write(`${host}/dhchap_key`, auth.key);
    if (auth.ctrlKey !== undefined) write(`${host}/dhchap_ctrl_key`, auth.ctrlKey);
  }

  /** A host's DH-HMAC-CHAP attributes as nvmet reports them (undefined: no such host, or no key set). */
  hostAuth(hostnqn: string): (HostAuth & { hash: DhchapHash; dhgroup: DhchapDhGroup }) | undefined {
    const host = `${NVMET_ROOT}/hosts/${hostnqn}`;
    const read = (attr: string) => {
      try {
        return fs.readFileSync(`${host}/${attr}`, 'utf8').trim();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    };
    const key = read('dhchap_key');
    if (!key) return undefined;
    const ctrlKey = read('dhchap_ctrl_key');
    return {
      key,
      hash: read('dhchap_hash') as DhchapHash,
      dhgroup: read('dhchap_dhgroup') as DhchapDhGroup,
      ...(ctrlKey ? { ctrlKey } : {}),
    };
  }

  /** Removes a host from the subsystem's allowed hosts. */
  disallowHost(subnqn: string, hostnqn: string): void {
    fs.unlinkSync(`${this.subsystemDir(subnqn)}/allowed_hosts/${hostnqn}`);
  }

  /** Links a subsystem to a port: the port serves it (and lists it in its discovery log). */
  link(subnqn: string, port: Port): void {
    fs.symlinkSync(this.subsystemDir(subnqn), `${this.portDir(port)}/subsystems/${subnqn}`);
  }

  /** Unlinks a subsystem from a port; the kernel drops the controllers of that subsystem on it. */
  unlink(subnqn: string, port: Port): void {
    fs.unlinkSync(`${this.portDir(port)}/subsystems/${subnqn}`);
  }

  /** Adds a referral entry named `name` to port's discovery log, pointing at `to`. */
  addReferral(port: Port, name: string, to: Port | ReferralTarget): void {
    const dir = `${this.portDir(port)}/referrals/${name}`;
    const portid = 'id' in to ? to.id : to.portid;
    fs.mkdirSync(dir);
    write(`${dir}/addr_trtype`, 'tcp');
    write(`${dir}/addr_adrfam`, to.adrfam ?? (to.traddr.includes(':') ? 'ipv6' : 'ipv4'));
    write(`${dir}/addr_traddr`, to.traddr);
    write(`${dir}/addr_trsvcid`, String(to.trsvcid));
    write(`${dir}/addr_portid`, portid);
    write(`${dir}/enable`, 1);
  }

  /** Removes a referral from the port's discovery log. */
  removeReferral(port: Port, name: string): void {
    const dir = `${this.portDir(port)}/referrals/${name}`;
    write(`${dir}/enable`, 0);
    fs.rmdirSync(dir);
  }

  /** What is configured right now (for assertions and debugging). */
  snapshot(): { ports: Record<string, string[]>; subsystems: string[]; hosts: string[] } {
    const ports: Record<string, string[]> = {};
    for (const id of entries(`${NVMET_ROOT}/ports`))
      ports[id] = entries(`${NVMET_ROOT}/ports/${id}/subsystems`);
    return {
      ports,
      subsystems: entries(`${NVMET_ROOT}/subsystems`),
      hosts: entries(`${NVMET_ROOT}/hosts`),
    };
  }

  /**
   * Removes everything from nvmet's configfs tree (ports, referrals, links, namespaces, subsystems,
   * hosts), the null_blk devices made here and the namespace files. Disconnect the kernel host's
   * controllers first (host.ts disconnectAll), or they go on trying to reconnect.
   */
  teardown(): void {
    for (const id of entries(`${NVMET_ROOT}/ports`)) {
      const port = `${NVMET_ROOT}/ports/${id}`;
      for (const s of entries(`${port}/subsystems`)) fs.unlinkSync(`${port}/subsystems/${s}`);
      for (const r of entries(`${port}/referrals`)) {
        write(`${port}/referrals/${r}/enable`, 0);
        fs.rmdirSync(`${port}/referrals/${r}`);
      }
      // ANA group 1 is built in; others were created by someone
      for (const g of entries(`${port}/ana_groups`)) if (g !== '1') fs.rmdirSync(`${port}/ana_groups/${g}`);
      fs.rmdirSync(port);
    }
    for (const nqn of entries(`${NVMET_ROOT}/subsystems`)) {
      const dir = this.subsystemDir(nqn);
      for (const ns of entries(`${dir}/namespaces`)) {
        write(`${dir}/namespaces/${ns}/enable`, 0);
        fs.rmdirSync(`${dir}/namespaces/${ns}`);
      }
      for (const h of entries(`${dir}/allowed_hosts`)) fs.unlinkSync(`${dir}/allowed_hosts/${h}`);
      fs.rmdirSync(dir);
    }
    for (const h of entries(`${NVMET_ROOT}/hosts`)) fs.rmdirSync(`${NVMET_ROOT}/hosts/${h}`);
    for (const dev of entries(NULLB_ROOT)) {
      if (!dev.startsWith(NULLB_PREFIX)) continue;
      write(`${NULLB_ROOT}/${dev}/power`, 0);
      fs.rmdirSync(`${NULLB_ROOT}/${dev}`);
    }
    fs.rmSync(SCRATCH_DIR, { recursive: true, force: true });
    this.subsystemCount = 0;
  }

  private addNamespace(subnqn: string, index: number, nsid: number, spec: NamespaceSpec): NamespaceInfo {
    const backend = spec.backend ?? 'file';
    const sizeBytes = spec.sizeBytes ?? 64 * MIB;
    const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
    const uuid = spec.uuid ?? `${hex(index, 8)}-${hex(nsid, 4)}-4000-8000-${hex(index, 12)}`;
    const devicePath =
      backend === 'file' ? this.makeFile(index, nsid, sizeBytes) : this.makeNullBlk(index, nsid, sizeBytes);
    const dir = `${this.subsystemDir(subnqn)}/namespaces/${nsid}`;
    fs.mkdirSync(dir);
    write(`${dir}/device_path`, devicePath);
    // tmpfs has no O_DIRECT: without buffered I/O, enable fails with EINVAL
    if (backend === 'file') write(`${dir}/buffered_io`, 1);
    write(`${dir}/device_uuid`, uuid);
    write(`${dir}/enable`, 1);
    return {
      nsid,
      sizeBytes: backend === 'file' ? sizeBytes : Math.ceil(sizeBytes / MIB) * MIB,
      backend,
      devicePath,
      uuid,
    };
  }

  private makeFile(index: number, nsid: number, sizeBytes: number): string {
    fs.mkdirSync(SCRATCH_DIR, { recursive: true });
    const file = path.join(SCRATCH_DIR, `subsys${index}-ns${nsid}.img`);
    fs.writeFileSync(file, '');
    fs.truncateSync(file, sizeBytes);
    return file;
  }

  /** A null_blk device made through null_blk's configfs (size in MiB, 4 KiB blocks, no memory). */
  private makeNullBlk(index: number, nsid: number, sizeBytes: number): string {
    modprobe('null_blk', 'nr_devices=0'); // no default /dev/nullb0: only configfs-made devices
    const name = `${NULLB_PREFIX}${index}n${nsid}`;
    const dir = `${NULLB_ROOT}/${name}`;
    fs.mkdirSync(dir);
    write(`${dir}/size`, Math.ceil(sizeBytes / MIB));
    write(`${dir}/blocksize`, 4096);
    write(`${dir}/power`, 1);
    // 6.1 names the disk after the configfs directory; older kernels used nullb<index>
    const disk = fs.existsSync(`/sys/block/${name}`)
      ? name
      : `nullb${fs.readFileSync(`${dir}/index`, 'utf8').trim()}`;
    return `/dev/${disk}`;
  }

  private freePortId(): number {
    const used = new Set(entries(`${NVMET_ROOT}/ports`).map(Number));
    let id = 1;
    while (used.has(id)) id++;
    return id;
  }

  private portDir(port: Port): string {
    return `${NVMET_ROOT}/ports/${port.id}`;
  }

  private subsystemDir(nqn: string): string {
    return `${NVMET_ROOT}/subsystems/${nqn}`;
  }
}
