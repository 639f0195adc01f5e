/**
 * The kernel's NVMe-oF host interface: create controllers through /dev/nvme-fabrics, delete them through sysfs,
 * ask which options the kernel supports. Writes run on libuv's thread pool (never on the event loop) and at most
 * `concurrency` at a time, since one can block for seconds.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildConnectOptions,
  type ConnectRequest,
  parseConnectReply,
  parseSupportedOptions,
  type SupportedOptions,
} from '../../core/connect-options.js';
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

/** A small counting semaphore. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export interface KernelFabricsOptions {
  /** Path of the fabrics device and of the nvme class (tests point these elsewhere). */
  device?: string;
  sysClassNvme?: string;
  /** Connect writes in flight at once. */
  concurrency?: number;
}

export interface Connected {
  device: string;
  instance: number;
  cntlid: number;
}

export class KernelFabrics {
  private readonly device: string;
  private readonly sysClassNvme: string;
  private readonly limiter: Limiter;
  private supported: SupportedOptions | undefined;

  constructor(opts: KernelFabricsOptions = {}) {
    this.device = opts.device ?? FABRICS_DEVICE;
    this.sysClassNvme = opts.sysClassNvme ?? SYS_CLASS_NVME;
    this.limiter = new Limiter(opts.concurrency ?? 4);
  }

  /** Options this kernel understands (read once: the first line of /dev/nvme-fabrics). */
  async supportedOptions(): Promise<SupportedOptions> {
    if (!this.supported) this.supported = parseSupportedOptions(await readFile(this.device, 'utf8'));
    return this.supported;
  }

  /**
   * Validates the request, writes the option string and reads back `instance=N,cntlid=M` on the same file
   * descriptor. Throws OptionValueError before touching the kernel, or KernelConnectError with the errno.
   */
  async connect(req: ConnectRequest): Promise<Connected> {
    let supported: SupportedOptions | undefined;
    try {
      supported = await this.supportedOptions();
    } catch {
      supported = undefined; // kernels before 5.17 cannot be asked; build without the check
    }
    const options = buildConnectOptions(req, supported);
    return this.limiter.run(async () => {
      const fh = await open(this.device, 'r+');
      try {
        try {
          await fh.write(options);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
          throw new KernelConnectError(code, `${code}: ${ERRNO_TEXT[code] ?? (e as Error).message}`);
        }
        const buf = Buffer.alloc(128);
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        const reply = parseConnectReply(buf.subarray(0, bytesRead).toString('utf8'));
        if (!reply)
          throw new KernelConnectError(
            'EPROTO',
            `unexpected reply from ${this.device}: ${JSON.stringify(buf.subarray(0, bytesRead).toString())}`,
          );
        return { device: `nvme${reply.instance}`, ...reply };
      } finally {
        await fh.close();
      }
    });
  }

  /** Deletes a controller (`delete_controller`); returns when the kernel has removed it. */
  async disconnect(device: string): Promise<void> {
    if (!/^nvme\d+$/.test(device)) throw new RangeError(`not a controller name: ${JSON.stringify(device)}`);
    await this.limiter.run(() => writeFile(join(this.sysClassNvme, device, 'delete_controller'), '1'));
  }
}
