// What the bundle gives dbus-next for `crypto` (tools/bundle.ts alias): the calls of its cookie authentication.
import assert from 'node:assert/strict';
import { createHash as realCreateHash } from 'node:crypto';
import { test } from 'node:test';
import { createHash, randomBytes } from '../../src/adapters/dbus/lazy-crypto.js';
import { nodeCrypto } from '../../src/core/node-crypto.js';

test("dbus-next's crypto stand-in hashes and draws random bytes as node:crypto does", () => {
  const data = 'cookie-context:challenge:cookie';
  assert.equal(
    createHash('sha1').update(data).digest('hex'),
    realCreateHash('sha1').update(data).digest('hex'),
  );
  const r = randomBytes(16);
  assert.ok(Buffer.isBuffer(r));
  assert.equal(r.length, 16);
  assert.notDeepEqual(randomBytes(16), r);
  assert.equal(nodeCrypto(), nodeCrypto(), 'loaded once');
});
