/**
 * Test helper: the userspace NVMe/TCP session against test doubles on loopback. `target()` starts a double (stopped
 * after the file's tests), `connect()` opens a session to it with the test host identity and short timeouts.
 */
import { after } from 'node:test';
import { DiscoverySession, type SessionOptions } from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { DiscoveryTarget, type TargetOptions } from './discovery-target.js';
import { TEST_IDENTITY } from './stafd-service.js';

export function sessionHarness(o: { targetDefaults?: TargetOptions; timeoutMs?: number } = {}) {
  const targets: DiscoveryTarget[] = [];
  after(async () => {
    for (const t of targets) await t.stop();
  });
  return {
    async target(opts: TargetOptions = {}): Promise<DiscoveryTarget> {
      const t = new DiscoveryTarget({ ...o.targetDefaults, ...opts });
      await t.start();
      targets.push(t);
      return t;
    },
    connect(t: DiscoveryTarget, over: Partial<SessionOptions> = {}): Promise<DiscoverySession> {
      return DiscoverySession.connect({
        traddr: '127.0.0.1',
        trsvcid: t.port,
        hostNqn: TEST_IDENTITY.hostNqn,
        hostId: TEST_IDENTITY.hostId,
        subsysnqn: WELL_KNOWN_DISC_NQN,
        katoMs: 0,
        commandTimeoutMs: o.timeoutMs ?? 2000,
        connectTimeoutMs: o.timeoutMs ?? 2000,
        ...over,
      });
    },
  };
}
