/** Test helper: StafdService options for unit tests (the test double's userspace sessions, short timers). */
import { DiscoverySession } from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { parseStafdConfig } from '../../src/core/config/service-config.js';
import type { StafdService, StafdServiceOptions } from '../../src/daemons/stafd/service.js';
import { until } from './until.js';

export const TEST_IDENTITY = {
  hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
};

/** Everything but the signals: a parsed stafd.conf text, quiet logs, passes at most 20 ms apart and fast retries. */
export function testStafdOptions(confText: string): Omit<StafdServiceOptions, 'signals'> {
  return {
    config: parseStafdConfig(confText, 'stafd.conf').config,
    confFile: 'stafd.conf',
    identity: TEST_IDENTITY,
    connect: (o) => DiscoverySession.connect({ ...o, connectTimeoutMs: 1000, commandTimeoutMs: 2000 }),
    log: () => {},
    minPassIntervalMs: 20,
    timing: { fastRetryMs: 50, slowRetryMs: 100, dimRetryMs: 50, logRetryMs: 50 },
  };
}

/**
 * Waits until a pass started after `before` (a `changePasses` value) has run and no pass runs or is due: what that
 * pass would do (add, keep or remove DCs) is done.
 */
export async function passesSettled(s: StafdService, before: number): Promise<void> {
  await until(
    'the reconciliation pass to finish',
    () => s.changePasses > before && /\[off\]$/.test(JSON.parse(s.processInfo())['config soak timer']),
  );
}
