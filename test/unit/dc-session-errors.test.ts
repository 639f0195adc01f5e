// One error family for both DC hosts: the userspace session's typed errors and the kernel session's failures are
// DcSessionErrors whose `kind` says what happened, so callers never read message text.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { asDcSessionError, DcSessionError, logReadError } from '../../src/adapters/dc-session.js';
import { KernelConnectError, NoFabricsError } from '../../src/adapters/kernel/fabrics.js';
import {
  KernelDcHost,
  type KernelDcPorts,
  kernelConnectError,
} from '../../src/adapters/kernel/kernel-dc-session.js';
import { PassthroughStatusError } from '../../src/adapters/kernel/passthrough.js';
import {
  AuthenticationError,
  CommandTimeoutError,
  ConnectError,
  NvmeStatusError,
  PeerProtocolError,
  SessionClosedError,
} from '../../src/adapters/nvme-tcp/errors.js';
import type { KernelController } from '../../src/core/kernel-controller.js';
import { LogPage } from '../../src/core/nvme/commands.js';
import {
  DiscoveryLogChangingError,
  DiscoveryLogNumrecError,
  DiscoveryLogTooLargeError,
} from '../../src/core/nvme/discovery-log-read.js';
import { DcType, encodeIdentifyController, parseIdentifyController } from '../../src/core/nvme/identify.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { controllerFor } from '../support/kernel-records.js';

test('the userspace errors are DcSessionErrors of their kind', () => {
  const status = { sc: 0x2, sct: 0, crd: 0, more: false, dnr: true };
  const cases: [DcSessionError, string][] = [
    [new ConnectError('ECONNREFUSED', 'refused'), 'connect'],
    [new CommandTimeoutError('slow'), 'timeout'],
    [new NvmeStatusError('Identify', status), 'status'],
    [new PeerProtocolError('bad PDU'), 'protocol'],
    [new AuthenticationError('no secret'), 'authentication'],
    [new SessionClosedError('gone'), 'closed'],
  ];
  for (const [e, kind] of cases) {
    assert.ok(e instanceof DcSessionError, e.name);
    assert.equal(e.kind, kind, e.name);
    assert.equal(e.name, e.constructor.name);
  }
  assert.equal(new ConnectError('ECONNREFUSED', 'refused').code, 'ECONNREFUSED');
  assert.equal(new SessionClosedError('session closed', { requested: true }).requested, true);
  assert.equal(new SessionClosedError('session closed').requested, false, 'only a close on request says so');
});

test('asDcSessionError keeps a family member, wraps anything else with its text, errno and cause', () => {
  const own = new PeerProtocolError('bad');
  assert.equal(asDcSessionError(own, 'io'), own);
  const errno = Object.assign(new Error('EIO: input/output error'), { code: 'EIO' });
  const wrapped = asDcSessionError(errno, 'io');
  assert.equal(wrapped.kind, 'io');
  assert.equal(wrapped.message, 'EIO: input/output error');
  assert.equal(wrapped.code, 'EIO');
  assert.equal(wrapped.cause, errno);
  assert.equal(asDcSessionError('text', 'connect').message, 'text');
});

test('a failed log read: changing, protocol (format or size), or the session error as it is', () => {
  assert.equal(logReadError(new DiscoveryLogChangingError(6)).kind, 'changing');
  assert.equal(logReadError(new DiscoveryLogNumrecError(3n, 1)).kind, 'protocol');
  assert.equal(logReadError(new DiscoveryLogTooLargeError(5000n, 1024)).kind, 'protocol');
  const timeout = new CommandTimeoutError('Get Log Page 0x70 got no response');
  assert.equal(logReadError(timeout), timeout);
});

test('a kernel connect failure: auth errnos are authentication, the rest connect (errno kept), no fabrics explained', () => {
  const rejected = kernelConnectError(
    new KernelConnectError('EKEYREJECTED', 'EKEYREJECTED: key rejected'),
    'tcp',
  );
  assert.equal(rejected.kind, 'authentication');
  assert.equal(rejected.code, 'EKEYREJECTED');
  const refused = kernelConnectError(new KernelConnectError('ECONNREFUSED', 'ECONNREFUSED: refused'), 'rdma');
  assert.equal(refused.kind, 'connect');
  assert.equal(refused.code, 'ECONNREFUSED');
  assert.equal(refused.message, 'ECONNREFUSED: refused');
  const none = new NoFabricsError('/dev/nvme-fabrics');
  const tcp = kernelConnectError(none, 'tcp');
  assert.equal(tcp.kind, 'connect');
  assert.match(tcp.message, /set kernel-discovery = false/);
  assert.equal(tcp.cause, none);
  assert.doesNotMatch(kernelConnectError(none, 'fc').message, /kernel-discovery/);
});

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001';

/** A kernel with one discovery controller nvme1 whose passthrough fails as told. */
function kernel(fail: { identify?: unknown; log?: unknown; connect?: unknown } = {}) {
  let ctrls: KernelController[] = [];
  let handlers: Parameters<KernelDcPorts['watch']>[0] | undefined;
  const ports: KernelDcPorts = {
    scan: async () => ctrls,
    controller: async (d) => ctrls.find((c) => c.device === d),
    connect: async (r) => {
      if (fail.connect) throw fail.connect;
      ctrls.push({
        ...controllerFor(r, 'nvme1'),
        cntrltype: 'discovery',
        dctype: 'ddc',
        hasNamespaces: false,
      });
      return { device: 'nvme1', instance: 1, cntlid: 1 };
    },
    disconnect: async (d) => {
      ctrls = ctrls.filter((c) => c.device !== d);
    },
    owners: async () => new Map(),
    claim: async () => {},
    release: async () => {},
    identify: async () => {
      if (fail.identify) throw fail.identify;
      return parseIdentifyController(encodeIdentifyController({ model: 'm', dctype: DcType.ddc }));
    },
    getLogPage: async (_d, lid) => {
      if (fail.log && lid === LogPage.Discovery) throw fail.log;
      return new Uint8Array(4096);
    },
    dim: async () => {},
    watch: (h) => {
      handlers = h;
      return () => {
        handlers = undefined;
      };
    },
    ifaces: () => new Map(),
  };
  const opts = {
    transport: 'rdma',
    traddr: '10.0.0.1',
    trsvcid: '4420',
    subsysnqn: WELL_KNOWN_DISC_NQN,
    hostNqn: HOST,
    hostId: '00000000-0000-0000-0000-000000000001',
    katoMs: 30_000,
  };
  return {
    host: new KernelDcHost(ports),
    opts,
    remove: () => handlers?.event({ kind: 'remove', device: 'nvme1' }),
  };
}

test('the kernel session throws the family: connect, status, io, closed; a removed controller closes with `closed`', async () => {
  const refused = kernel({ connect: new KernelConnectError('EIO', 'EIO: rejected by the target') });
  await assert.rejects(
    refused.host.connect(refused.opts),
    (e: unknown) => e instanceof DcSessionError && e.kind === 'connect' && e.code === 'EIO',
  );

  const status = kernel({ identify: new PassthroughStatusError('Identify', 0x4002) });
  await assert.rejects(
    status.host.connect(status.opts),
    (e: unknown) =>
      e instanceof DcSessionError && e.kind === 'status' && /^Identify through nvme1 failed/.test(e.message),
  );

  const ioctl = kernel({ log: Object.assign(new Error('EINTR'), { code: 'EINTR' }) });
  const s = await ioctl.host.connect(ioctl.opts);
  await assert.rejects(s.readDiscoveryLog(), (e: unknown) => e instanceof DcSessionError && e.kind === 'io');
  const closed = once(s, 'close');
  ioctl.remove();
  const [why] = (await closed) as [unknown];
  assert.ok(why instanceof DcSessionError && why.kind === 'closed', String(why));
  await assert.rejects(
    s.readDiscoveryLog(),
    (e: unknown) => e instanceof DcSessionError && e.kind === 'closed',
  );
  await assert.rejects(
    s.dim(1, { hostNqn: HOST, hostId: Buffer.alloc(16), symname: '', ename: '', ever: '' } as never),
    (e: unknown) => e instanceof DcSessionError && e.kind === 'closed',
  );

  const unwatched = kernel();
  const noEvents = new KernelDcHost({
    ...(unwatched.host.ports as KernelDcPorts),
    watch: () => {
      throw new Error('EPERM');
    },
  });
  await assert.rejects(
    noEvents.connect(unwatched.opts),
    (e: unknown) =>
      e instanceof DcSessionError && e.kind === 'connect' && /uevents unavailable/.test(e.message),
  );
});
