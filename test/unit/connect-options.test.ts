import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildConnectOptions,
  type ConnectRequest,
  parseConnectReply,
  parseSupportedOptions,
  redactConnectOptions,
} from '../../src/core/connect-options.js';
import { OptionValueError } from '../../src/core/kernel-options.js';

const base: ConnectRequest = {
  transport: 'tcp',
  traddr: '127.0.0.1',
  trsvcid: '4420',
  nqn: 'nqn.2024-01.io.test:subsys1',
  hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
};
const KERNEL_61 = parseSupportedOptions(
  'instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,queue_size=%d,nr_io_queues=%d,reconnect_delay=%d,ctrl_loss_tmo=%d,keep_alive_tmo=%d,hostnqn=%s,host_traddr=%s,host_iface=%s,hostid=%s,duplicate_connect,disable_sqflow,hdr_digest,data_digest,nr_write_queues=%d,nr_poll_queues=%d,tos=%d,fast_io_fail_tmo=%d,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s\n',
);

test('I/O controller option string in libnvme order', () => {
  assert.equal(
    buildConnectOptions(
      {
        ...base,
        hostIface: 'eth0',
        hostTraddr: '10.0.0.2',
        kato: 120,
        ctrlLossTmo: -1,
        reconnectDelay: 10,
        nrIoQueues: 4,
        queueSize: 128,
        hdrDigest: true,
        dataDigest: true,
        disableSqflow: true,
      },
      KERNEL_61,
    ),
    'nqn=nqn.2024-01.io.test:subsys1,transport=tcp,traddr=127.0.0.1,host_traddr=10.0.0.2,host_iface=eth0,trsvcid=4420,' +
      'hostnqn=nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f,hostid=5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f,' +
      'nr_io_queues=4,queue_size=128,keep_alive_tmo=120,reconnect_delay=10,ctrl_loss_tmo=-1,disable_sqflow,hdr_digest,data_digest',
  );
});

test('discovery controllers: no queue options; `discovery` only for a unique NQN', () => {
  const dc = {
    ...base,
    nqn: 'nqn.2014-08.org.nvmexpress.discovery',
    trsvcid: '8009',
    discovery: true,
    kato: 30,
    nrIoQueues: 4,
    queueSize: 64,
  };
  assert.equal(
    buildConnectOptions(dc, KERNEL_61),
    `nqn=nqn.2014-08.org.nvmexpress.discovery,transport=tcp,traddr=127.0.0.1,trsvcid=8009,hostnqn=${base.hostNqn},hostid=${base.hostId},keep_alive_tmo=30`,
  );
  assert.match(
    buildConnectOptions({ ...dc, nqn: 'nqn.2024-01.io.test:dc' }, KERNEL_61),
    /hostid=[^,]+,discovery,keep_alive_tmo=30$/,
  );
  // A kernel without `discovery` still connects (only the flag is dropped).
  const old = new Set([...KERNEL_61].filter((o) => o !== 'discovery'));
  assert.doesNotMatch(buildConnectOptions({ ...dc, nqn: 'nqn.2024-01.io.test:dc' }, old), /discovery,/);
});

test('an option the kernel lacks is an error, not silently dropped', () => {
  const noIface = new Set([...KERNEL_61].filter((o) => o !== 'host_iface'));
  assert.throws(
    () => buildConnectOptions({ ...base, hostIface: 'eth0' }, noIface),
    /host_iface: not supported by this kernel/,
  );
  assert.throws(() => buildConnectOptions({ ...base, tls: true }, KERNEL_61), /tls: not supported/);
  assert.match(
    buildConnectOptions({ ...base, tls: true, keyring: '0x1234', tlsKey: '5678' }),
    /,tls,keyring=0x1234,tls_key=5678$/,
  );
});

test('hostile log page entries never reach the kernel', () => {
  const hostile: Partial<ConnectRequest>[] = [
    { traddr: '127.0.0.1,hostnqn=evil' },
    { nqn: 'nqn.2024-01.io.test:a\nhostnqn=evil' },
    { nqn: 'nqn.a,duplicate_connect' },
    { trsvcid: '4420,ctrl_loss_tmo=1' },
    { hostIface: 'eth0,host_traddr=1.2.3.4' },
    { hostNqn: 'nqn.x=y' },
    { hostId: 'not-a-uuid' },
    { transport: 'pcie' },
    { traddr: 'target.example.com' },
    { queueSize: 4096 },
    { kato: -5 },
    { dhchapSecret: 'DHHC-1:00:abc,keyring=1:' },
    { keyring: 'secret-name' },
    { transport: 'rdma', hostIface: 'ib0' },
  ];
  for (const h of hostile) {
    assert.throws(
      () => buildConnectOptions({ ...base, ...h }, KERNEL_61),
      (e: unknown) => e instanceof OptionValueError,
      JSON.stringify(h),
    );
  }
});

test('digests only for tcp; ctrl_loss_tmo not for loop; loop takes no address', () => {
  assert.doesNotMatch(buildConnectOptions({ ...base, transport: 'rdma', hdrDigest: true }), /digest/);
  assert.equal(
    buildConnectOptions({
      transport: 'loop',
      traddr: '',
      nqn: 'nqn.l',
      hostNqn: base.hostNqn,
      hostId: base.hostId,
      ctrlLossTmo: 5,
    }),
    `nqn=nqn.l,transport=loop,hostnqn=${base.hostNqn},hostid=${base.hostId}`,
  );
  assert.match(
    buildConnectOptions({
      ...base,
      transport: 'fc',
      traddr: 'nn-0x204600a098cbcac6:pn-0x204700a098cbcac6',
      trsvcid: 'x',
    }),
    /transport=fc,traddr=nn-0x204600a098cbcac6:pn-0x204700a098cbcac6,hostnqn=/,
  );
});

test('secrets: validated, passed through, redacted for logs', () => {
  const secret = `DHHC-1:01:${'Q'.repeat(48)}:`;
  const s = buildConnectOptions({ ...base, dhchapSecret: secret, dhchapCtrlSecret: secret }, KERNEL_61);
  assert.match(s, /,dhchap_secret=DHHC-1:01:Q+:,dhchap_ctrl_secret=DHHC-1:01:Q+:/);
  assert.equal(redactConnectOptions(s).includes('QQQQ'), false);
  assert.match(redactConnectOptions(s), /dhchap_secret=<redacted>,dhchap_ctrl_secret=<redacted>/);
});

test('kernel replies and capability lists', () => {
  assert.deepEqual(parseConnectReply('instance=3,cntlid=1\n'), { instance: 3, cntlid: 1 });
  assert.equal(parseConnectReply('garbage'), null);
  assert.ok(KERNEL_61.has('host_iface') && KERNEL_61.has('discovery') && KERNEL_61.has('dhchap_ctrl_secret'));
  assert.ok(!KERNEL_61.has('tls'));
  assert.equal(parseSupportedOptions('').size, 0);
});
