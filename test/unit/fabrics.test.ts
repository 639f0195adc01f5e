// KernelFabrics against a plain file standing in for /dev/nvme-fabrics (the real device is exercised in the lab).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KernelFabrics } from '../../src/adapters/kernel/fabrics.js';
import { OptionValueError } from '../../src/core/kernel-options.js';

const req = {
  transport: 'tcp',
  traddr: '127.0.0.1',
  trsvcid: '4420',
  nqn: 'nqn.2024-01.io.stas-test:subsys1',
  hostNqn: 'nqn.host',
  hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
};

test('the options list of the fabrics device is read once, not per connect', async () => {
  const device = join(mkdtempSync(join(tmpdir(), 'fabrics-')), 'nvme-fabrics');
  writeFileSync(
    device,
    'instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,hostnqn=%s,hostid=%s,kato=%d,ctrl_loss_tmo=%d\n',
  );
  const fabrics = new KernelFabrics({ device });
  // A plain file answers a write with what was written, not `instance=…`: the connect gets that far and fails.
  const proto = { name: 'KernelConnectError', code: 'EPROTO' };
  await assert.rejects(fabrics.connect(req), proto);
  // Had the list been read again, this one (supporting nothing) would refuse the request before any write.
  writeFileSync(device, 'instance=-1,cntlid=-1\n');
  await assert.rejects(fabrics.connect(req), proto);
  await Promise.all(Array.from({ length: 5 }, () => assert.rejects(fabrics.connect(req), proto)));
  // A new instance reads the list (now supporting nothing) again, and refuses before writing.
  writeFileSync(device, 'instance=-1,cntlid=-1\n');
  await assert.rejects(new KernelFabrics({ device }).connect(req), OptionValueError);
});
