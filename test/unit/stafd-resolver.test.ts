// stafd resolves `controller=` host names through its injected resolver (no DNS in unit tests): the first address
// is the DC's traddr; a name that does not resolve is one error naming file:line, and no DC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DcConnectOptions, DcSession } from '../../src/adapters/dc-session.js';
import type { Resolver } from '../../src/adapters/resolver.js';
import { systemResolver } from '../../src/adapters/resolver.js';
import { StafdService } from '../../src/daemons/stafd/service.js';
import { testStafdOptions } from '../support/stafd-service.js';

const CONF = '[Controllers]\ncontroller = transport=tcp;traddr=dc.example.test;trsvcid=8009\n';

function stafd(conf: string, resolver: Resolver, log: (level: string, message: string) => void = () => {}) {
  const connects: DcConnectOptions[] = [];
  let connected: (o: DcConnectOptions) => void = () => {};
  const firstConnect = new Promise<DcConnectOptions>((r) => {
    connected = r;
  });
  const s = new StafdService({
    ...testStafdOptions(conf),
    signals: { logPagesChanged: () => {}, dcRemoved: () => {} },
    resolver,
    log,
    connect: async (o) => {
      connects.push(o);
      connected(o);
      return new Promise<DcSession>(() => {}); // never connects: the test looks at what was asked
    },
  });
  return { s, connects, firstConnect };
}

test('a controller= host name is resolved by the injected resolver (family from ip-family) and connected by address', async () => {
  const asked: [string, number | undefined][] = [];
  const resolver: Resolver = {
    resolve: async (host, family) => {
      asked.push([host, family]);
      return ['192.0.2.7', '192.0.2.8'];
    },
  };
  const { s, firstConnect } = stafd(CONF, resolver);
  s.start();
  const o = await firstConnect;
  assert.equal(o.traddr, '192.0.2.7');
  assert.deepEqual(asked[0], ['dc.example.test', 4]);
  await s.stop();
});

test('a host name that does not resolve: one error naming the line, no connect', async () => {
  const errors: string[] = [];
  let logged: () => void = () => {};
  const seen = new Promise<void>((r) => {
    logged = r;
  });
  const resolver: Resolver = {
    resolve: async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND dc.example.test'), { code: 'ENOTFOUND' });
    },
  };
  const { s, connects } = stafd(CONF, resolver, (level, message) => {
    if (level !== 'error') return;
    errors.push(message);
    logged();
  });
  s.start();
  await seen;
  assert.deepEqual(errors, [
    'Cannot resolve "dc.example.test" (stafd.conf:2): getaddrinfo ENOTFOUND dc.example.test',
  ]);
  assert.equal(connects.length, 0);
  await s.stop();
});

test('the system resolver answers for localhost with addresses', async () => {
  const v4 = await systemResolver.resolve('localhost', 4);
  assert.ok(v4.length > 0);
  assert.ok(
    v4.every((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)),
    v4.join(),
  );
});
