// The real stafd and stacd services behind their D-Bus wiring on a private dbus-daemon: no reply to any caller
// (this process, root when the suite runs as root) carries a DH-HMAC-CHAP secret, configured or from sys.conf.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type StafClient, stacClient, stafClient, type TidArgs } from '../../src/adapters/dbus/clients.js';
import type { DBusConnection } from '../../src/adapters/dbus/service.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { parseStacdConfig } from '../../src/core/config/service-config.js';
import { formatDhchapSecret } from '../../src/core/nvme/auth-crypto.js';
import { exportStacdApi, exportStafdApi } from '../../src/daemons/dbus-api.js';
import type { Logger } from '../../src/daemons/logger.js';
import { StacdService } from '../../src/daemons/stacd/service.js';
import { StafdService } from '../../src/daemons/stafd/service.js';
import { type DbusDaemon, haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { fakeKernel } from '../support/kernel-records.js';
import { TEST_IDENTITY, testStafdOptions } from '../support/stafd-service.js';
import { until } from '../support/until.js';

const HOST_KEY = formatDhchapSecret(Buffer.alloc(32, 0x11), 0);
const LINE_KEY = formatDhchapSecret(Buffer.alloc(32, 0x22), 1);
const CTRL_KEY = formatDhchapSecret(Buffer.alloc(48, 0x33), 2);
/** The base64 body of each secret: none may appear in any reply, in any form. */
const BODIES = [HOST_KEY, LINE_KEY, CTRL_KEY].map((k) => k.split(':')[2]!);

function assertNoSecret(what: string, reply: unknown): void {
  const text = typeof reply === 'string' ? reply : JSON.stringify(reply);
  assert.doesNotMatch(text, /DHHC-1/, what);
  for (const b of BODIES) assert.ok(!text.includes(b), `${what} carries a secret: ${text}`);
}

const quietLog = (): Logger => Object.assign(() => {}, { tron: false });

/** Polls `cond` (no fixed wait): the service's first pass is asynchronous. */

const tidOf = (c: Record<string, string>): TidArgs => [
  c['transport'] ?? '',
  c['traddr'] ?? '',
  c['trsvcid'] ?? '',
  c['subsysnqn'] ?? '',
  c['host-traddr'] ?? '',
  c['host-iface'] ?? '',
  c['host-nqn'] ?? '',
];

describe('secrets never go over D-Bus, to any caller', {
  skip: !haveDbusDaemon() && 'no /usr/bin/dbus-daemon',
}, () => {
  let daemon: DbusDaemon;
  let sbus: DBusConnection;
  let cbus: DBusConnection;
  const dir = mkdtempSync(join(tmpdir(), 'stas-dbus-secrets-'));
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    daemon = await startDbusDaemon();
    sbus = await openSystemBus({ address: daemon.address });
    cbus = await openSystemBus({ address: daemon.address });
  });

  after(async () => {
    for (const stop of stops) await stop();
    sbus?.close();
    cbus?.close();
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('stafd: a DC with dhchap-secret and dhchap-ctrl-secret, a sys.conf key; every method', async () => {
    // Nothing listens on port 1: the DC stays unconnected, retried, listed with its configuration.
    const conf =
      '[Controllers]\n' +
      `controller = transport=tcp;traddr=127.0.0.1;trsvcid=1;dhchap-secret=${LINE_KEY};dhchap-ctrl-secret=${CTRL_KEY}\n`;
    const service = new StafdService({
      ...testStafdOptions(conf),
      identity: { ...TEST_IDENTITY, hostKey: HOST_KEY },
      signals: { logPagesChanged: () => {}, dcRemoved: () => {} },
    });
    stops.push(() => service.stop());
    service.start();
    const api = await exportStafdApi(sbus, service, quietLog());
    stops.push(() => api.close());
    const c: StafClient = stafClient(cbus, { timeoutMs: 10_000 });
    await until('the configured DC', async () => (await c.listControllers(false)).length === 1);
    const [dc] = await c.listControllers(true);
    // The service knows the secrets (the listing says so) and never shows them.
    assert.equal(dc!['dhchap-secret'], '<redacted>');
    assert.equal(dc!['dhchap-ctrl-secret'], '<redacted>');
    assert.equal(JSON.parse(await c.processInfo()).hostkey, '<redacted>');
    const tid = tidOf(dc!);
    const replies: [string, unknown][] = [
      ['list_controllers', await c.listControllers(false)],
      ['list_controllers -d', await c.listControllers(true)],
      ['get_log_pages', await c.getLogPages(...tid)],
      ['get_all_log_pages', await c.getAllLogPages(false)],
      ['get_all_log_pages -d', await c.getAllLogPages(true)],
      ['process_info', await c.processInfo()],
      ['controller_info', await c.controllerInfo(...tid)],
      ['events', await c.events()],
      ['log_level', await c.logLevel()],
    ];
    for (const [what, reply] of replies) assertNoSecret(`stafd ${what}`, reply);
  });

  test('stacd: an I/O controller connected with both secrets, a sys.conf key; every method', async () => {
    const conf =
      '[Controllers]\n' +
      `controller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn=nqn.2024-01.io.stas-test:auth;dhchap-secret=${LINE_KEY};dhchap-ctrl-secret=${CTRL_KEY}\n`;
    const k = fakeKernel();
    const service = new StacdService({
      config: parseStacdConfig(conf).config,
      identity: { hostNqn: 'nqn.host', hostId: TEST_IDENTITY.hostId, hostKey: HOST_KEY },
      stafd: async () => ({ answered: true, dcs: [] }),
      kernel: k.port,
      ifaces: () => new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: [] }]]),
      log: () => {},
      lkcPath: join(dir, 'stacd-lkc.json'),
      minPassIntervalMs: 10,
    });
    stops.push(() => service.stop());
    await service.reconcile();
    // The kernel got the secrets: stacd has them at hand.
    assert.equal(k.requests[0]?.dhchapSecret, LINE_KEY);
    assert.equal(k.requests[0]?.dhchapCtrlSecret, CTRL_KEY);
    const api = await exportStacdApi(sbus, service, quietLog());
    stops.push(() => api.close());
    const c = stacClient(cbus, { timeoutMs: 10_000 });
    const list = await c.listControllers(true);
    assert.equal(list.length, 1);
    const tid = tidOf(list[0]!);
    const replies: [string, unknown][] = [
      ['list_controllers', await c.listControllers(false)],
      ['list_controllers -d', list],
      ['process_info', await c.processInfo()],
      ['controller_info', await c.controllerInfo(...tid)],
      ['plan', await c.plan()],
      ['events', await c.events()],
    ];
    assert.equal(JSON.parse(await c.processInfo()).hostkey, '<redacted>');
    for (const [what, reply] of replies) assertNoSecret(`stacd ${what}`, reply);
  });
});
