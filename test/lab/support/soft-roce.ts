/**
 * NVMe/RDMA in the lab guest without RDMA hardware: soft-RoCE (rdma_rxe) on a dummy interface. nvmet-rdma listens on
 * the interface's address and nvme-rdma connects to it; rxe loops the traffic back inside the kernel. This is the
 * lab's non-tcp transport (Debian's kernel builds neither nvme-loop nor fcloop).
 *
 * Runs INSIDE the lab guest (lab/vm-run.sh), as root; the modules are in the guest image (lab/setup.sh).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { modprobe } from './nvmet.js';

/** The address nvmet-rdma listens on (the dummy interface's). */
export const RDMA_TRADDR = '10.77.0.1';
const NETDEV = 'stasrdma0';
const RXE = 'stasrxe0';

let state: string | undefined | null = null;

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Sets up soft-RoCE once per boot (idempotent). Returns undefined when RDMA works, else why not (a skip reason).
 */
export function setupSoftRoce(): string | undefined {
  if (state !== null) return state;
  try {
    for (const m of ['crc32_generic', 'rdma_rxe', 'nvme-rdma', 'nvmet-rdma', 'dummy']) modprobe(m);
    if (!fs.existsSync(`/sys/class/net/${NETDEV}`)) {
      run('ip', ['link', 'add', NETDEV, 'type', 'dummy']);
      run('ip', ['addr', 'add', `${RDMA_TRADDR}/24`, 'dev', NETDEV]);
      run('ip', ['link', 'set', NETDEV, 'up']);
    }
    if (!fs.existsSync(`/sys/class/infiniband/${RXE}`))
      run('rdma', ['link', 'add', RXE, 'type', 'rxe', 'netdev', NETDEV]);
    state = undefined;
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    state = `soft-RoCE unavailable: ${err.stderr?.toString().trim() || err.message}`;
  }
  return state;
}
