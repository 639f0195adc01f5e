import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readController, scanControllers } from '../../src/adapters/kernel/sysfs.js';

function fakeSysfs(): string {
  const root = mkdtempSync(join(tmpdir(), 'sysnvme-'));
  const ctrl = (name: string, attrs: Record<string, string>, children: string[] = []) => {
    mkdirSync(join(root, name));
    for (const [k, v] of Object.entries(attrs)) writeFileSync(join(root, name, k), `${v}\n`);
    for (const c of children) mkdirSync(join(root, name, c));
  };
  ctrl(
    'nvme10',
    {
      transport: 'tcp',
      address: 'traddr=127.0.0.1,trsvcid=4420,src_addr=127.0.0.1',
      subsysnqn: 'nqn.sub1',
      hostnqn: 'nqn.host',
      hostid: 'id',
      cntrltype: 'io',
      dctype: 'none',
      state: 'live',
    },
    ['nvme1c10n1'],
  );
  ctrl('nvme2', {
    transport: 'tcp',
    address: 'traddr=127.0.0.1,trsvcid=8009',
    subsysnqn: 'nqn.2014-08.org.nvmexpress.discovery',
    cntrltype: 'discovery',
    state: 'live',
  });
  ctrl('nvme0', { transport: 'pcie', address: '0000:00:04.0', state: 'live' }); // never touched
  ctrl('nvme3', {}); // vanished half-way: no attributes
  mkdirSync(join(root, 'not-a-controller'));
  return root;
}

test('one pass over /sys/class/nvme yields typed fabrics controllers in device order', async () => {
  const root = fakeSysfs();
  const found = await scanControllers(root);
  assert.deepEqual(
    found.map((c) => [
      c.device,
      c.transport,
      c.traddr,
      c.trsvcid,
      c.srcAddr,
      c.subsysnqn,
      c.cntrltype,
      c.hasNamespaces,
      c.state,
    ]),
    [
      [
        'nvme2',
        'tcp',
        '127.0.0.1',
        '8009',
        '',
        'nqn.2014-08.org.nvmexpress.discovery',
        'discovery',
        false,
        'live',
      ],
      ['nvme10', 'tcp', '127.0.0.1', '4420', '127.0.0.1', 'nqn.sub1', 'io', true, 'live'],
    ],
  );
  assert.equal((await readController('nvme10', root))!.hostNqn, 'nqn.host');
  assert.equal(await readController('../etc', root), undefined);
  assert.deepEqual(await scanControllers(join(root, 'absent')), []);
});

test('the scan (native addon when built) reads what per-controller reads read', async () => {
  const root = fakeSysfs();
  for (let i = 20; i < 60; i++) {
    mkdirSync(join(root, `nvme${i}`));
    writeFileSync(join(root, `nvme${i}`, 'transport'), i % 2 ? 'tcp\n' : 'rdma\n');
    writeFileSync(join(root, `nvme${i}`, 'address'), `traddr=10.0.0.${i},trsvcid=4420\n`);
    writeFileSync(join(root, `nvme${i}`, 'subsysnqn'), `nqn.sub${i}\n`);
    if (i % 3 === 0) mkdirSync(join(root, `nvme${i}`, `nvme${i}n1`));
  }
  const scanned = await scanControllers(root);
  const names = ['nvme2', 'nvme10', ...Array.from({ length: 40 }, (_, k) => `nvme${k + 20}`)];
  const one = await Promise.all(names.map((n) => readController(n, root)));
  assert.deepEqual(scanned, one);
});

test('without the native addon the scan reads the same, file by file', async () => {
  const root = fakeSysfs();
  const url = new URL('../../src/adapters/kernel/sysfs.js', import.meta.url).href;
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { scanControllers } from ${JSON.stringify(url)};
       console.log(JSON.stringify(await scanControllers(${JSON.stringify(root)})));`,
    ],
    { env: { ...process.env, STAS_NATIVE_ADDON: '/nonexistent/stas_native.node' }, encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(out), await scanControllers(root));
  assert.equal(JSON.parse(out).length, 2);
});
