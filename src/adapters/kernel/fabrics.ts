/**
 * The kernel's NVMe-oF host interface: create controllers through /dev/nvme-fabrics, delete them through sysfs,
 * ask which options the kernel supports. Writes run on libuv's thread pool (never on the event loop), since one
 * can block for seconds.
 *
 * The kernel creates controllers one at a time: every write to /dev/nvme-fabrics, and every read of it, takes one
 * global mutex (nvmf_dev_mutex) for the whole connect. Parallel writes therefore cannot make connects faster;
 * what keeps the kernel busy is having the next write already waiting when one finishes. So `concurrency` (2)
 * connects are in flight. With the native addon each is one thread-pool job (open, write, read the reply
 * `instance=…`, close): one round trip through the pool instead of four, which is what the main thread pays per
 * connect. Without it, node:fs: each write on a descriptor opened beforehand, the reply read outside the limit.
 */
import { close as fsClose, open as fsOpen, read as fsRead, write as fsWrite } from 'node:fs';
import { join } from 'node:path';
import {
  buildConnectOptions,
  type ConnectRequest,
  parseConnectReply,
  parseSupportedOptions,
  type SupportedOptions,
} from '../../core/connect-options.js';
import { isControllerName } from '../../core/kernel-controller.js';
import { errorText } from '../../core/log.js';
import { readFile } from '../fs-async.js';
import { fabricsConnect, nativeAvailable, writeAttribute } from '../native.js';
import { SYS_CLASS_NVME } from './sysfs.js';

export const FABRICS_DEVICE = '/dev/nvme-fabrics';

export class KernelConnectError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'KernelConnectError';
  }
}

/** What each errno of the connect write means (drivers/nvme/host/fabrics.c and the transports). */
const ERRNO_TEXT: Record<string, string> = {
  EALREADY: 'already connected (the kernel has a controller with the same address, subsystem and host NQN)',
  ECONNREFUSED: 'connection refused by the target',
  ETIMEDOUT: 'timed out connecting to the target',
  EINVAL: 'invalid or unsupported connect options',
  EIO: 'the target rejected the connection (unknown subsystem, host not allowed or authentication failed: see the kernel log)',
  ENODEV: 'transport not available (is the nvme-tcp/nvme-rdma/nvme-fc module loaded?)',
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'source address not available on this host',
  EHOSTUNREACH: 'no route to the target',
  ENETUNREACH: 'network unreachable',
  EOPNOTSUPP: 'operation not supported by this kernel',
  ENOMEM: 'out of memory',
  EPROTONOSUPPORT: 'protocol not supported',
};

const fdOpen = (path: string, flags = 'r+') =>
  new Promise<number>((resolve, reject) => fsOpen(path, flags, (e, fd) => (e ? reject(e) : resolve(fd))));
const fdWrite = (fd: number, text: string) =>
  new Promise<void>((resolve, reject) => fsWrite(fd, text, (e) => (e ? reject(e) : resolve())));
/** Reads up to `max` bytes at offset 0 (the fabrics device's reply), as text. */
const fdReadText = (fd: number, max: number) =>
  new Promise<string>((resolve, reject) => {
    const buf = Buffer.alloc(max);
    fsRead(fd, buf, 0, max, 0, (e, n) => (e ? reject(e) : resolve(buf.toString('utf8', 0, n))));
  });

/** A small counting semaphore. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    // A finishing call hands its slot straight to the first waiter, so a newcomer cannot slip in between.
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export interface KernelFabricsOptions {
  /** Path of the fabrics device and of the nvme class (tests point these elsewhere). */
  device?: string;
  sysClassNvme?: string;
  /** Connect writes in flight at once (the kernel runs one; the others wait for it). Default 2. */
  concurrency?: number;
  /**
   * Loads the kernel's NVMe over Fabrics host when the fabrics device does not exist (stafd: `modprobe
   * nvme-fabrics`). Tried once per instance; a later connect finds a device an administrator loaded meanwhile.
   */
  loadModule?: () => Promise<void>;
  /** Controller deletes at once (default 4). */
  deleteConcurrency?: number;
  /**
   * Connect and delete through the native addon, one thread-pool job each (default: when the addon loads), or
   * through node:fs.
   */
  native?: boolean;
}

/** The fabrics device does not exist: the kernel has no NVMe over Fabrics host (code ENOENT). */
export class NoFabricsError extends KernelConnectError {
  constructor(device: string, loadError?: string) {
    super(
      'ENOENT',
      `${device} does not exist: this kernel has no NVMe over Fabrics host loaded ` +
        `(${loadError ? `loading nvme-fabrics failed: ${loadError}` : 'load nvme-fabrics and the transport module, e.g. modprobe nvme-tcp'})`,
    );
    this.name = 'NoFabricsError';
  }
}

export interface Connected {
  device: string;
  instance: number;
  cntlid: number;
}

/** A failed connect write as the kernel meant it: KernelConnectError with the errno and what it means. */
function connectError(e: NodeJS.ErrnoException): KernelConnectError {
  const code = e.code ?? 'EIO';
  return new KernelConnectError(code, `${code}: ${ERRNO_TEXT[code] ?? errorText(e)}`);
}

export class KernelFabrics {
  private readonly device: string;
  private readonly sysClassNvme: string;
  /** Connect writes in flight. */
  private readonly limiter: Limiter;
  /** Connects between open and close (descriptors of the fabrics device held). */
  private readonly holding: Limiter;
  private readonly deleting: Limiter;
  private readonly native: boolean;
  private checked: Promise<SupportedOptions | undefined> | undefined;
  private readonly loadModule: (() => Promise<void>) | undefined;
  /** The one attempt to load the module: undefined when it succeeded, else why it failed. */
  private loading: Promise<string | undefined> | undefined;

  constructor(opts: KernelFabricsOptions = {}) {
    this.device = opts.device ?? FABRICS_DEVICE;
    this.sysClassNvme = opts.sysClassNvme ?? SYS_CLASS_NVME;
    this.loadModule = opts.loadModule;
    this.native = opts.native ?? nativeAvailable();
    const n = Math.max(1, opts.concurrency ?? 2);
    this.limiter = new Limiter(n);
    this.holding = new Limiter(2 * n);
    this.deleting = new Limiter(Math.max(1, opts.deleteConcurrency ?? 4));
  }

  /** Options this kernel understands: the first line of /dev/nvme-fabrics (kernels before 5.17: EINVAL). */
  async supportedOptions(): Promise<SupportedOptions> {
    return parseSupportedOptions(await readFile(this.device, 'utf8'));
  }

  /**
   * The options to check requests against, read once: reading takes the kernel's fabrics mutex, the one every
   * connect holds, so it must not be repeated per connect. Undefined (requests go unchecked) on kernels that
   * cannot be asked, for good; after another failure, the next connect asks again.
   */
  private checkedOptions(): Promise<SupportedOptions | undefined> {
    this.checked ??= this.supportedOptions().catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EINVAL') this.checked = undefined;
      return undefined;
    });
    return this.checked;
  }

  /**
   * Validates the request, writes the option string and reads back `instance=N,cntlid=M` on the same file
   * descriptor. Throws OptionValueError before touching the kernel, or KernelConnectError with the errno.
   */
  async connect(req: ConnectRequest): Promise<Connected> {
    const options = buildConnectOptions(req, await this.checkedOptions());
    const text = this.native ? await this.connectNative(options) : await this.connectFs(options);
    const reply = parseConnectReply(text);
    if (!reply)
      throw new KernelConnectError('EPROTO', `unexpected reply from ${this.device}: ${JSON.stringify(text)}`);
    return { device: `nvme${reply.instance}`, ...reply };
  }

  /** One addon job per connect; a missing device is loaded (see {@link withDevice}) and tried once more. */
  private connectNative(options: string): Promise<string> {
    return this.withDevice(
      () =>
        this.limiter.run(() =>
          fabricsConnect(this.device, options).catch((e: NodeJS.ErrnoException) => {
            throw e.syscall === 'write' ? connectError(e) : e;
          }),
        ),
      (e) => e.syscall === 'open',
    );
  }

  /**
   * node:fs: a descriptor opened beforehand, the write under the limit, the reply read after it (plain descriptors
   * and callbacks, not FileHandles: cheaper per connect).
   */
  private connectFs(options: string): Promise<string> {
    return this.holding.run(async () => {
      const fd = await this.openDevice();
      try {
        try {
          await this.limiter.run(() => fdWrite(fd, options));
        } catch (e) {
          throw connectError(e as NodeJS.ErrnoException);
        }
        return await fdReadText(fd, 128);
      } finally {
        fsClose(fd, () => {});
      }
    });
  }

  /**
   * Runs `attempt`; when it fails because the fabrics device does not exist (ENOENT, and `isOpen` says the error came
   * from opening it), loads the module (once per instance, if a loader was given; the options list is read again
   * afterwards) and runs it once more; still missing: {@link NoFabricsError}.
   */
  private async withDevice<T>(
    attempt: () => Promise<T>,
    isOpen: (e: NodeJS.ErrnoException) => boolean = () => true,
  ): Promise<T> {
    const missing = (e: unknown) =>
      (e as NodeJS.ErrnoException).code === 'ENOENT' && isOpen(e as NodeJS.ErrnoException);
    try {
      return await attempt();
    } catch (e) {
      if (!missing(e)) throw e;
    }
    let why: string | undefined;
    if (this.loadModule) {
      const load = this.loadModule;
      this.loading ??= load().then(
        () => undefined,
        (e: Error) => e.message,
      );
      why = await this.loading;
    }
    this.checked = undefined;
    try {
      return await attempt();
    } catch (e) {
      if (!missing(e)) throw e;
      throw new NoFabricsError(this.device, why);
    }
  }

  /** Opens the fabrics device (see {@link withDevice}). */
  private openDevice(): Promise<number> {
    return this.withDevice(() => fdOpen(this.device));
  }

  /**
   * Deletes a controller (`delete_controller`); returns when the kernel has removed it. Deletes do not take the
   * fabrics mutex: up to 4 run at once, apart from the connect writes.
   */
  async disconnect(device: string): Promise<void> {
    if (!isControllerName(device)) throw new RangeError(`not a controller name: ${JSON.stringify(device)}`);
    const attribute = join(this.sysClassNvme, device, 'delete_controller');
    await this.deleting.run(async () => {
      if (this.native) return writeAttribute(attribute, '1');
      const fd = await fdOpen(attribute, 'w');
      try {
        await fdWrite(fd, '1');
      } finally {
        fsClose(fd, () => {});
      }
    });
  }
}
