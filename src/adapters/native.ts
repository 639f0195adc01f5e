// Typed loader of the native addon (native/stas_native.c): NVMe admin passthrough, kernel uevents, bound TCP connects.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorText } from '../core/log.js';

/** Environment variable naming the addon file to load instead of the build output. */
export const NATIVE_ADDON_ENV = 'STAS_NATIVE_ADDON';
/** Where node-gyp puts the addon, relative to the package root. */
const ADDON_RELATIVE = path.join('build', 'Release', 'stas_native.node');
/** Largest data transfer of {@link adminPassthru} (the kernel caps it lower, at the controller's MDTS). */
export const MAX_ADMIN_DATA_LENGTH = 16 * 1024 * 1024;

/**
 * One NVMe admin command. Omitted fields are 0. The opcode's direction bits decide which way data moves: bit 0
 * clear, `dataLength` bytes are read from the controller; bits 1:0 = 01b, the bytes of `data` are sent to it (as
 * nvme-cli does for Discovery Information Management).
 */
export interface AdminCommand {
  /** Admin opcode (0-255). */
  opcode: number;
  nsid?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
  /**
   * Bytes to read from the controller, 0 to {@link MAX_ADMIN_DATA_LENGTH} (opcode bit 0 clear). With `data`, omit
   * it or give data's length.
   */
  dataLength?: number;
  /**
   * Bytes to send to the controller (opcode bits 1:0 = 01b only), 1 to {@link MAX_ADMIN_DATA_LENGTH}; the addon
   * copies them before the call returns.
   */
  data?: Uint8Array;
  /** Command timeout; 0 (default) = the kernel's admin timeout. */
  timeoutMs?: number;
}

export interface AdminResult {
  /** The completion's Dword 0 (command specific). */
  result: number;
  /** The NVMe status field (the CQE status without the phase bit): 0 = success. */
  status: number;
  /** A read: dataLength bytes, what the controller transferred, zeros beyond it. A write: the bytes sent. */
  data: Buffer;
}

/** An open uevent watch (opaque; from {@link ueventWatch}). */
export interface UeventHandle {
  readonly __ueventHandle: unique symbol;
}

export interface TcpConnectBoundOptions {
  /** IPv4 or IPv6 address literal; an IPv6 literal may carry a %zone (name or index). No host names. */
  host: string;
  port: number;
  /** Local IP literal to bind to (same family as host). */
  localAddress?: string;
  /** Interface to bind to with SO_BINDTODEVICE (needs CAP_NET_RAW once bound; unknown name: ENODEV). */
  iface?: string;
  /** Connect timeout (ETIMEDOUT after it), 1 ms to 2^31-1 ms. */
  timeoutMs: number;
}

/** The addon's exports, as native/stas_native.c defines them. */
interface NativeAddon {
  adminPassthru(path: string, cmd: AdminCommand): Promise<AdminResult>;
  ueventOpen(rcvbufBytes: number): number;
  ueventWatch(
    fd: number,
    onMessage: (buf: Buffer) => void,
    onError: (code: string) => void,
    subsystem?: string,
  ): UeventHandle;
  ueventClose(handle: UeventHandle): void;
  ueventRef(handle: UeventHandle): void;
  ueventUnref(handle: UeventHandle): void;
  tcpConnectBound(opts: TcpConnectBoundOptions): Promise<number>;
  scanNvmeControllers(root: string, attrs: readonly string[]): Promise<NvmeScanRow[]>;
  fabricsConnect(path: string, options: string): Promise<string>;
  writeAttribute(path: string, text: string): Promise<void>;
}

/** One controller of {@link scanNvmeControllers}: its name, whether it has a namespace, then the attribute values. */
export type NvmeScanRow = [name: string, hasNamespaces: boolean, ...values: (string | null)[]];

/** The addon is missing or cannot be loaded (code ERR_STAS_NATIVE). */
export class NativeAddonError extends Error {
  readonly code = 'ERR_STAS_NATIVE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeAddonError';
  }
}

/** The addon's file name next to the bundled program (`make install`: PREFIX/lib/stas/stas_native.node). */
const ADDON_BESIDE = 'stas_native.node';

/**
 * Where the addon should be: $STAS_NATIVE_ADDON if set; else stas_native.node beside this module, where
 * `make install` puts it next to the bundled program (tools/bundle.ts: this module is then a chunk in
 * PREFIX/lib/stas/); otherwise build/Release/stas_native.node in the package root, i.e. the nearest ancestor of
 * this module with a package.json (this file runs as dist/src/adapters/native.js, as a chunk in dist/bundle/, or
 * as src/adapters/native.ts under a TypeScript loader).
 */
export function nativeAddonPath(): string {
  const fromEnv = process.env[NATIVE_ADDON_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(here, ADDON_BESIDE);
  if (fs.existsSync(beside)) return beside;
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return path.join(dir, ADDON_RELATIVE);
    if (path.dirname(dir) === dir) return path.resolve(here, '..', '..', '..', ADDON_RELATIVE);
  }
}

let addon: NativeAddon | undefined;
let loadError: NativeAddonError | undefined;

/** Loads the addon once (also a failure is remembered); throws {@link NativeAddonError}. */
function load(): NativeAddon {
  if (addon) return addon;
  if (loadError) throw loadError;
  const file = nativeAddonPath();
  try {
    // process.dlopen, as require() loads an addon, without node:module (~0.1 MiB of idle RSS, issue 14 §3).
    const m = { exports: {} as NativeAddon };
    process.dlopen(m, file);
    addon = m.exports;
    return addon;
  } catch (e) {
    const missing = !fs.existsSync(file);
    const why = missing ? `${file} does not exist` : `cannot load ${file}: ${errorText(e)}`;
    const fix = process.env[NATIVE_ADDON_ENV] ? `check ${NATIVE_ADDON_ENV}` : 'run npm ci';
    loadError = new NativeAddonError(`native addon not built: ${fix} (${why})`, { cause: e });
    throw loadError;
  }
}

/** Whether the native addon loads (builds with `npm ci`, or set STAS_NATIVE_ADDON). */
export function nativeAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** Why the addon cannot be loaded, or undefined if it loads. */
export function nativeUnavailableReason(): string | undefined {
  try {
    load();
    return undefined;
  } catch (e) {
    return errorText(e);
  }
}

/**
 * One NVMe admin command on a controller's char device (e.g. /dev/nvme3), through
 * ioctl(NVME_IOCTL_ADMIN_CMD), on libuv's thread pool. Resolves also on an NVMe error status (see
 * `status`); rejects with a NodeJS.ErrnoException (code ENOENT, EACCES, ENOTTY, EINVAL, EIO, ...; syscall
 * 'open' or 'ioctl'; path) when the call itself fails, and with a TypeError/RangeError on bad arguments.
 */
export async function adminPassthru(devicePath: string, cmd: AdminCommand): Promise<AdminResult> {
  return load().adminPassthru(devicePath, cmd);
}

/**
 * Opens a NETLINK_KOBJECT_UEVENT socket on the kernel's multicast group with a receive buffer of
 * rcvbufBytes (0 = the default), non-blocking and close-on-exec. Returns the fd: pass it to
 * {@link ueventWatch}, which takes it over. Throws a NodeJS.ErrnoException.
 */
export function ueventOpen(rcvbufBytes: number): number {
  return load().ueventOpen(rcvbufBytes);
}

/**
 * Watches a {@link ueventOpen} fd in the event loop: onMessage gets each kernel uevent datagram, raw
 * ("add@/devices/...\0ACTION=add\0DEVPATH=...\0SUBSYSTEM=nvme\0..."); datagrams not sent by the kernel are
 * dropped. onError('ENOBUFS') means events were lost (the watch goes on; resynchronize); any other code
 * means the watch stopped (close it). An exception thrown by a callback becomes an 'uncaughtException'.
 * With `subsystem` (e.g. 'nvme'), only datagrams with that SUBSYSTEM= property are delivered; the others are
 * dropped in the addon, at no JavaScript cost.
 * On success the watch owns the fd; on a throw the caller does (and closes it).
 */
export function ueventWatch(
  fd: number,
  onMessage: (buf: Buffer) => void,
  onError: (code: string) => void,
  subsystem?: string,
): UeventHandle {
  return subsystem === undefined
    ? load().ueventWatch(fd, onMessage, onError)
    : load().ueventWatch(fd, onMessage, onError, subsystem);
}

/** Stops a watch and closes its fd; idempotent. A closed watch does not keep the process alive. */
export function ueventClose(handle: UeventHandle): void {
  load().ueventClose(handle);
}

/** Lets the event loop exit although the watch is open (like timer.unref()). */
export function ueventUnref(handle: UeventHandle): void {
  load().ueventUnref(handle);
}

/** Undoes {@link ueventUnref}: an open watch keeps the event loop alive (the default). */
export function ueventRef(handle: UeventHandle): void {
  load().ueventRef(handle);
}

/**
 * Connects a TCP socket on libuv's thread pool, optionally bound to an interface (SO_BINDTODEVICE) and a
 * local address, within timeoutMs. Resolves with the connected fd (non-blocking, close-on-exec), which the
 * caller owns: `new net.Socket({ fd, readable: true, writable: true })`. Rejects with a
 * NodeJS.ErrnoException (ECONNREFUSED, ETIMEDOUT, ENODEV for an unknown interface, EPERM, EADDRNOTAVAIL,
 * ...; syscall, address, port) or a TypeError/RangeError on bad options.
 */
export async function tcpConnectBound(opts: TcpConnectBoundOptions): Promise<number> {
  return load().tcpConnectBound(opts);
}

/**
 * A whole scan of an nvme class directory (/sys/class/nvme) in one thread-pool job: every `nvme<N>` entry, the
 * text of each of `attrs` (1 to 32 plain file names; null where a file cannot be read) and whether it has a
 * namespace entry. Controllers that vanish during the scan are left out. Rejects with the errno error of the
 * directory listing (e.g. ENOENT when no NVMe module is loaded).
 */
export async function scanNvmeControllers(root: string, attrs: readonly string[]): Promise<NvmeScanRow[]> {
  return load().scanNvmeControllers(root, attrs);
}

/**
 * One connect through the NVMe over Fabrics device in one thread-pool job: open `devicePath` read-write, write
 * `options`, read the reply at offset 0 on the same descriptor (`instance=N,cntlid=M`, up to 128 bytes), close.
 * Rejects with a NodeJS.ErrnoException whose `syscall` (open, write or read) names the failing call.
 */
export async function fabricsConnect(devicePath: string, options: string): Promise<string> {
  return load().fabricsConnect(devicePath, options);
}

/**
 * Writes `text` to a sysfs attribute (or any file: open write-only, write it all, close) in one thread-pool job.
 * Rejects with a NodeJS.ErrnoException whose `syscall` (open or write) names the failing call.
 */
export async function writeAttribute(filePath: string, text: string): Promise<void> {
  return load().writeAttribute(filePath, text);
}
