// Discovery controller sessions against controllers that break protocol limits: an ICResp MAXH2CDATA below the
// minimum (userspace NVMe/TCP host), and a discovery log header whose NUMREC promises entries the controller never
// returns (userspace host, and the kernel host through passthrough, which cannot see how much arrived).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { KernelDcHost, type KernelDcPorts } from '../../src/adapters/kernel/kernel-dc-session.js';
import { PeerProtocolError } from '../../src/adapters/nvme-tcp/errors.js';
import { LogPage } from '../../src/core/nvme/commands.js';
import { encodeDiscoveryLog } from '../../src/core/nvme/discovery-log.js';
import { DiscoveryLogNumrecError, type LogPageRead } from '../../src/core/nvme/discovery-log-read.js';
import { encodeIdentifyController, parseIdentifyController } from '../../src/core/nvme/identify.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry } from '../support/discovery-target.js';
import { sessionHarness } from '../support/session-harness.js';

const { target, connect } = sessionHarness({ timeoutMs: 5000 });

test('an ICResp MAXH2CDATA below 4096 fails the connection before Fabrics Connect; 4096 is accepted', async () => {
  const low = await target({ maxh2cdata: 512 });
  await assert.rejects(
    connect(low),
    (e: unknown) =>
      e instanceof PeerProtocolError && /ICResp MAXH2CDATA 512 is below the minimum of 4096/.test(e.message),
  );
  assert.equal(low.connectsAccepted, 0);

  const odd = await target({ maxh2cdata: 4098 });
  await assert.rejects(connect(odd), /ICResp MAXH2CDATA 4098 is not a multiple of 4/);

  const min = await target({ maxh2cdata: 4096, entries: [ioEntry(1)] });
  const s = await connect(min);
  assert.equal((await s.readDiscoveryLog()).entries.length, 1);
  await s.close();
});

for (const short of [true, false]) {
  test(`a NUMREC lie (${short ? 'short transfers' : 'zero-filled transfers'}) closes the session after one chunk`, async () => {
    const t = await target({ entries: [ioEntry(1), ioEntry(2)], numrecLie: 60000, shortLogTransfers: short });
    const s = await connect(t);
    // getLogPage hands out what arrived: a short transfer is as long as the log (header and 2 entries).
    const raw = await s.getLogPage(0x70, { offset: 0, length: 8192, lsp: 0, rae: false });
    assert.equal(raw.length, short ? 3 * 1024 : 8192);
    const before = t.logPageReads;
    const closed = once(s, 'close');
    await assert.rejects(
      s.readDiscoveryLog(),
      (e: unknown) =>
        e instanceof PeerProtocolError &&
        e.cause instanceof DiscoveryLogNumrecError &&
        e.message ===
          'protocol violation by the controller: discovery log header says 60000 entries but the controller returned 2',
    );
    // Header, one chunk, header again: not the 469 chunks NUMREC asks for.
    assert.equal(t.logPageReads - before, 3);
    // A violation by the peer, like a bad PDU: the session closes with that error.
    const [why] = await closed;
    assert.ok(why instanceof PeerProtocolError);
    assert.equal(s.isClosed, true);
  });
}

test('a NUMREC lie through a kernel discovery controller (zero-filled passthrough buffers) stops after one chunk', async () => {
  const log = encodeDiscoveryLog({ genctr: 4n, numrec: 60000n, recfmt: 0 }, [ioEntry(1), ioEntry(2)]);
  const reads: LogPageRead[] = [];
  const ports: KernelDcPorts = {
    scan: async () => [],
    controller: async () => undefined,
    connect: async () => ({ device: 'nvme7', instance: 7, cntlid: 1 }),
    disconnect: async () => {},
    owners: async () => new Map(),
    claim: async () => {},
    release: async () => {},
    identify: async () => parseIdentifyController(encodeIdentifyController({ mdts: 5 })),
    dim: async () => {},
    getLogPage: async (_device, lid, read) => {
      assert.equal(lid, LogPage.Discovery);
      reads.push(read);
      // The passthrough buffer is as long as asked; what the controller did not send stays zero.
      const out = Buffer.alloc(read.length);
      log.copy(out, 0, Math.min(read.offset, log.length), Math.min(log.length, read.offset + read.length));
      return out;
    },
    watch: () => () => {},
    ifaces: () => new Map(),
  };
  const s = await new KernelDcHost(ports).connect({
    transport: 'rdma',
    traddr: '10.0.0.1',
    trsvcid: '4420',
    subsysnqn: WELL_KNOWN_DISC_NQN,
    hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
    hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
    katoMs: 30_000,
  });
  await assert.rejects(
    s.readDiscoveryLog(),
    /discovery log header says 60000 entries but the controller returned 2/,
  );
  assert.deepEqual(
    reads.map((r) => [r.offset, r.length]),
    [
      [0, 1024],
      [1024, 128 * 1024],
      [0, 1024],
    ],
  );
  await s.release();
});
