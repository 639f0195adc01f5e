import assert from 'node:assert/strict';
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
