import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { claim, readOwners, release } from '../../src/adapters/kernel/registry.js';
import { maskAutoconnectRule, unmaskAutoconnectRule } from '../../src/adapters/udev-rule.js';

test('udev-rule=disabled: the shadow rule is created (replacing a stale one) and removed', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'udev-')), 'rules.d', '70-nvmf-autoconnect.rules');
  maskAutoconnectRule(path);
  assert.match(readFileSync(path, 'utf8'), /^# Created by stacd/);
  writeFileSync(path, 'stale content from a crashed run\n');
  maskAutoconnectRule(path);
  assert.match(readFileSync(path, 'utf8'), /^# Created by stacd/);
  await unmaskAutoconnectRule(path);
  assert.equal(existsSync(path), false);
  await unmaskAutoconnectRule(path); // idempotent
});

test('ownership registry: claim, read, release only what stas owns', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'registry-')), 'registry');
  assert.deepEqual(await readOwners(dir), new Map());
  await claim('nvme3', 'stas', dir);
  await claim('nvme4', 'nbft', dir);
  assert.deepEqual(
    await readOwners(dir),
    new Map([
      ['nvme3', 'stas'],
      ['nvme4', 'nbft'],
    ]),
  );
  await release('nvme4', dir);
  await release('nvme3', dir);
  assert.deepEqual(await readOwners(dir), new Map([['nvme4', 'nbft']]));
  assert.equal(existsSync(join(dir, 'nvme3')), false, 'the released entry is gone');
  // An entry with more than the owner file (another tool's attributes) goes whole.
  await claim('nvme5', 'stas', dir);
  writeFileSync(join(dir, 'nvme5', 'note'), 'x');
  await release('nvme5', dir);
  assert.equal(existsSync(join(dir, 'nvme5')), false);
  await release('nvme6', dir); // no entry: nothing to do
  await assert.rejects(claim('../etc', 'stas', dir), RangeError);
});
