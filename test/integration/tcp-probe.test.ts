// The reachability probe on its own (no mDNS involved): a bare TCP open/close, rdma and fc never probed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { isReachable } from '../../src/adapters/tcp-probe.js';

test('node:net probe: an open port is reachable, a closed one is not, with why', async (t) => {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const target = { transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(port), hostIface: '' } as const;
  assert.deepEqual(await isReachable(target, 5000, false), { reachable: true });
  assert.deepEqual(await isReachable({ ...target, hostIface: 'lo' }, 5000, false), { reachable: true });

  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await isReachable({ ...target, trsvcid: String(closedPort) }, 5000, false);
  assert.equal(refused.reachable, false);
  assert.match(refused.error ?? '', /ECONNREFUSED/);

  assert.deepEqual(await isReachable({ ...target, hostIface: 'nosuchif0' }, 5000, false), {
    reachable: false,
    error: 'interface nosuchif0 has no address to reach 127.0.0.1 from',
  });
  for (const transport of ['rdma', 'fc'] as const)
    assert.deepEqual(await isReachable({ ...target, transport, trsvcid: '1' }, 5000, false), {
      reachable: true,
    });
});
