// Unit tests of the kernel's NVMe device names (the one check every module uses).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isControllerName, isNamespaceName } from '../../src/core/kernel-controller.js';

test('controller names are nvme<N>; fabrics, namespaces and anything else are not', () => {
  for (const n of ['nvme0', 'nvme12', 'nvme4095']) assert.equal(isControllerName(n), true, n);
  for (const n of [
    'nvme',
    'nvme-fabrics',
    'nvme0n1',
    'nvme0c1n1',
    'nvme1 ',
    ' nvme1',
    'nvme1\n',
    'NVME1',
    '../nvme1',
    'nvmex',
  ]) {
    assert.equal(isControllerName(n), false, JSON.stringify(n));
  }
});

test('namespace names are nvme<N>n<M> or nvme<N>c<C>n<M>', () => {
  for (const n of ['nvme0n1', 'nvme3n12', 'nvme0c1n1']) assert.equal(isNamespaceName(n), true, n);
  for (const n of ['nvme0', 'nvme0n', 'nvme0c1', 'nvme0c1n', 'nvme-fabrics', 'nvme0n1p1', 'ng0n1']) {
    assert.equal(isNamespaceName(n), false, n);
  }
});
