// KernelFabrics against a plain file standing in for /dev/nvme-fabrics (the real device is exercised in the lab).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KernelFabrics } from '../../src/adapters/kernel/fabrics.js';
import { nativeUnavailableReason } from '../../src/adapters/native.js';
import { OptionValueError } from '../../src/core/kernel-options.js';

const req = {
  transport: 'tcp',
  traddr: '127.0.0.1',
  trsvcid: '4420',
  nqn: 'nqn.2024-01.io.stas-test:subsys1',
  hostNqn: 'nqn.host',
  hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
};

/** The first line of /dev/nvme-fabrics: the options the kernel supports. */
const OPTIONS =
  'instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,hostnqn=%s,hostid=%s,kato=%d,ctrl_loss_tmo=%d\n';

// Both ways to the device: the addon's one-job connect and node:fs.
for (const native of [true, false]) {
  const path = native ? 'addon' : 'node:fs';
  const skip = native ? nativeUnavailableReason() : undefined;
  test(`${path}: the options list of the fabrics device is read once, not per connect`, {
    skip,
  }, async () => {
    const device = join(mkdtempSync(join(tmpdir(), 'fabrics-')), 'nvme-fabrics');
    writeFileSync(device, OPTIONS);
    const fabrics = new KernelFabrics({ native, device });
    // A plain file answers a write with what was written, not `instance=…`: the connect gets that far and fails.
    const proto = { name: 'KernelConnectError', code: 'EPROTO' };
    await assert.rejects(fabrics.connect(req), proto);
    // Had the list been read again, this one (supporting nothing) would refuse the request before any write.
    writeFileSync(device, 'instance=-1,cntlid=-1\n');
    await assert.rejects(fabrics.connect(req), proto);
    await Promise.all(Array.from({ length: 5 }, () => assert.rejects(fabrics.connect(req), proto)));
    // A new instance reads the list (now supporting nothing) again, and refuses before writing.
    writeFileSync(device, 'instance=-1,cntlid=-1\n');
    await assert.rejects(new KernelFabrics({ native, device }).connect(req), OptionValueError);
  });

  test(`${path}: no fabrics device: the module is loaded once, then a clear error per connect; a device that appears is used`, {
    skip,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fabrics-'));
    const device = join(dir, 'nvme-fabrics');
    let loads = 0;
    const failing = new KernelFabrics({
      native,
      device,
      loadModule: async () => {
        loads++;
        throw new Error('modprobe: FATAL: Module nvme-fabrics not found');
      },
    });
    const missing = {
      name: 'NoFabricsError',
      code: 'ENOENT',
      message: `${device} does not exist: this kernel has no NVMe over Fabrics host loaded (loading nvme-fabrics failed: modprobe: FATAL: Module nvme-fabrics not found)`,
    };
    await assert.rejects(failing.connect(req), missing);
    await Promise.all([1, 2, 3].map(() => assert.rejects(failing.connect(req), missing)));
    assert.equal(loads, 1, 'one attempt to load the module');
    // Without a loader the error says what to load.
    await assert.rejects(new KernelFabrics({ native, device }).connect(req), {
      name: 'NoFabricsError',
      message: /does not exist: .*load nvme-fabrics and the transport module, e\.g\. modprobe nvme-tcp/,
    });
    // The administrator loads it later: the next connect gets through to the device (a plain file: EPROTO).
    writeFileSync(device, OPTIONS);
    await assert.rejects(failing.connect(req), { name: 'KernelConnectError', code: 'EPROTO' });
    assert.equal(loads, 1);

    // A loader that makes the device appear: the same connect goes on.
    const device2 = join(dir, 'nvme-fabrics-2');
    const loading = new KernelFabrics({
      native,
      device: device2,
      loadModule: async () => {
        loads++;
        writeFileSync(device2, OPTIONS);
      },
    });
    await assert.rejects(loading.connect(req), { name: 'KernelConnectError', code: 'EPROTO' });
    assert.equal(loads, 2);
  });

  test(`${path}: a delete writes 1 to the controller's delete_controller; a bad name never reaches sysfs`, {
    skip,
  }, async () => {
    const sys = mkdtempSync(join(tmpdir(), 'sys-class-nvme-'));
    mkdirSync(join(sys, 'nvme3'));
    writeFileSync(join(sys, 'nvme3', 'delete_controller'), '');
    const fabrics = new KernelFabrics({ native, sysClassNvme: sys });
    await fabrics.disconnect('nvme3');
    assert.equal(readFileSync(join(sys, 'nvme3', 'delete_controller'), 'utf8'), '1');
    await assert.rejects(fabrics.disconnect('nvme4'), { code: 'ENOENT' });
    await assert.rejects(fabrics.disconnect('../nvme3'), RangeError);
  });
}
