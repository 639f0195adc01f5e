/**
 * Admin commands to a kernel-connected controller (/dev/nvmeN) through the NVMe passthrough ioctl (native addon,
 * thread pool): Identify, the consistent Discovery Log Page read and Discovery Information Management (data
 * host-to-controller), for the discovery controllers the kernel carries.
 */
import { isControllerName } from '../../core/kernel-controller.js';
import {
  type DimTask,
  describeStatus,
  getLogPageCommand,
  IDENTIFY_DATA_LENGTH,
  LogPage,
  Opcode,
} from '../../core/nvme/commands.js';
import {
  type DiscoveryLog,
  type DiscoveryLogReadOptions,
  type LogPageRead,
  readDiscoveryLog,
} from '../../core/nvme/discovery-log-read.js';
import { type IdentifyController, parseIdentifyController } from '../../core/nvme/identify.js';
import { adminPassthru } from '../native.js';

export class PassthroughStatusError extends Error {
  constructor(
    readonly command: string,
    readonly status: number,
  ) {
    const sc = status & 0xff;
    const sct = (status >> 8) & 0x7;
    const dnr = (status & 0x4000) !== 0;
    super(`${command} failed: ${describeStatus({ sc, sct, crd: 0, more: false, dnr })}`);
    this.name = 'PassthroughStatusError';
  }
}

function devicePath(device: string): string {
  if (!isControllerName(device)) throw new RangeError(`not a controller name: ${JSON.stringify(device)}`);
  return `/dev/${device}`;
}

export async function identifyController(device: string, timeoutMs = 10_000): Promise<IdentifyController> {
  const r = await adminPassthru(devicePath(device), {
    opcode: Opcode.Identify,
    nsid: 0,
    cdw10: 1,
    cdw11: 0,
    cdw12: 0,
    cdw13: 0,
    cdw14: 0,
    cdw15: 0,
    dataLength: IDENTIFY_DATA_LENGTH,
    timeoutMs,
  });
  if (r.status !== 0) throw new PassthroughStatusError('Identify', r.status);
  return parseIdentifyController(r.data);
}

/** One Get Log Page transfer on a kernel controller (data controller-to-host only). */
export async function kernelGetLogPage(
  device: string,
  lid: number,
  read: LogPageRead,
  timeoutMs = 10_000,
): Promise<Uint8Array> {
  // Reuse the SQE builder so the dword layout is defined in one place.
  const sqe = getLogPageCommand(0, {
    lid,
    lsp: read.lsp,
    length: read.length,
    offset: read.offset,
    rae: read.rae,
  });
  const r = await adminPassthru(devicePath(device), {
    opcode: Opcode.GetLogPage,
    nsid: sqe.readUInt32LE(4),
    cdw10: sqe.readUInt32LE(40),
    cdw11: sqe.readUInt32LE(44),
    cdw12: sqe.readUInt32LE(48),
    cdw13: sqe.readUInt32LE(52),
    cdw14: 0,
    cdw15: 0,
    dataLength: read.length,
    timeoutMs,
  });
  if (r.status !== 0) throw new PassthroughStatusError(`Get Log Page 0x${lid.toString(16)}`, r.status);
  return r.data;
}

/**
 * Discovery Information Management (TP8010) through a kernel discovery controller: the registration payload goes
 * host-to-controller (opcode 0x21), CDW10 holds the task, as nvme-cli's `nvme dim` sends it.
 */
export async function kernelDim(
  device: string,
  task: (typeof DimTask)[keyof typeof DimTask],
  payload: Uint8Array,
  timeoutMs = 10_000,
): Promise<void> {
  const r = await adminPassthru(devicePath(device), {
    opcode: Opcode.DiscoveryInfoMgmt,
    nsid: 0,
    cdw10: task & 0xf,
    data: payload,
    timeoutMs,
  });
  if (r.status !== 0) throw new PassthroughStatusError('Discovery Information Management', r.status);
}

/** The discovery log of a kernel discovery controller, with the same consistent-read algorithm as userspace. */
export function kernelDiscoveryLog(
  device: string,
  opts: DiscoveryLogReadOptions = {},
  timeoutMs = 10_000,
): Promise<DiscoveryLog> {
  devicePath(device); // refuse a bad name before the first command
  return readDiscoveryLog((read) => kernelGetLogPage(device, LogPage.Discovery, read, timeoutMs), opts);
}
