/**
 * Kernel uevents for NVMe controllers from a netlink socket (native addon): add/remove, discovery-log-change AENs
 * (NVME_AEN) and NVME_EVENT changes, without polling. The stream is lossy by nature: on a receive overflow the
 * monitor emits `overflow`, and the consumer must resynchronise from a full sysfs scan.
 */
import { EventEmitter } from 'node:events';
import { type NvmeEvent, nvmeEventOf } from '../../core/uevent.js';
import { ueventClose, ueventOpen, ueventWatch } from '../native.js';

export interface UeventMonitorEvents {
  nvme: [NvmeEvent];
  /** Events were lost (receive buffer overflow): resynchronise. */
  overflow: [];
  error: [Error];
}

/** 8 MiB: enough for bursts of hundreds of controllers coming and going (nvme-stas issue #380). */
const RCVBUF_BYTES = 8 * 1024 * 1024;

export class UeventMonitor extends EventEmitter<UeventMonitorEvents> {
  private handle: ReturnType<typeof ueventWatch> | undefined;

  /** Opens the socket and starts listening. Throws if the addon is missing or netlink is refused. */
  start(): void {
    if (this.handle) return;
    const fd = ueventOpen(RCVBUF_BYTES);
    this.handle = ueventWatch(
      fd,
      (buf) => {
        const ev = nvmeEventOf(buf);
        if (ev) this.emit('nvme', ev);
      },
      (code) => {
        if (code === 'ENOBUFS') this.emit('overflow');
        else this.emit('error', Object.assign(new Error(`uevent socket: ${code}`), { code }));
      },
      'nvme', // controllers only: a burst of connects also brings block, bdi, queue… uevents
    );
  }

  stop(): void {
    if (!this.handle) return;
    ueventClose(this.handle);
    this.handle = undefined;
  }
}
