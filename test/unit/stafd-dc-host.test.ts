import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DcConnectOptions, DcSession } from '../../src/adapters/dc-session.js';
import { dcSessionFactory } from '../../src/daemons/stafd/dc-host.js';

const opts = (transport: string): DcConnectOptions => ({
  transport,
  traddr: '10.0.0.1',
  trsvcid: '8009',
  subsysnqn: 'nqn.2014-08.org.nvmexpress.discovery',
  hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001',
  hostId: '00000000-0000-0000-0000-000000000001',
  katoMs: 30_000,
});

test('the kernel carries every DC unless kernel-discovery = false puts tcp on the userspace host; read per connect', async () => {
  const asked: string[] = [];
  const session = (host: string) => async (o: DcConnectOptions) => {
    asked.push(`${host} ${o.transport}`);
    return {} as DcSession;
  };
  let kernelDiscovery = true;
  const connect = dcSessionFactory(
    { kernel: session('kernel'), userspace: session('userspace') },
    () => kernelDiscovery,
  );
  await connect(opts('tcp'));
  await connect(opts('rdma'));
  kernelDiscovery = false; // a reload: the next connect follows it
  await connect(opts('tcp'));
  await connect(opts('rdma'));
  await connect(opts('fc'));
  await connect(opts('loop'));
  assert.deepEqual(asked, [
    'kernel tcp',
    'kernel rdma',
    'userspace tcp',
    'kernel rdma',
    'kernel fc',
    'kernel loop',
  ]);
});

test("a host's failure reaches the caller as it is", async () => {
  const refused = new Error('refused');
  const connect = dcSessionFactory(
    { kernel: () => Promise.reject(refused), userspace: () => Promise.reject(new Error('not this one')) },
    () => true,
  );
  await assert.rejects(connect(opts('tcp')), (e: unknown) => e === refused);
});
