// Test harness: the real stafd/stacd entry points as child processes (output captured), and waiting on
// conditions with a generous deadline instead of sleeping.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const CLI_DIR = fileURLToPath(new URL('../../src/cli/', import.meta.url));

export type DaemonProcess = ChildProcess & {
  /** stdout and stderr so far, interleaved as they arrived. */
  output: () => string;
  /** Resolves with [exit code, signal] once it exited and its output is all in. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
};

export { until } from './until.js';

/**
 * [exit code, signal] of `proc`; if it has not exited within `ms` (generous), it is killed (SIGKILL) and this
 * throws with its output: a daemon that ignores a stop fails the test instead of hanging it.
 */
export async function exitOf(
  proc: DaemonProcess,
  what: string,
  ms = 60_000,
): Promise<[number | null, NodeJS.Signals | null]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${what}: did not exit within ${ms / 1000} s; output:\n${proc.output()}`));
    }, ms);
  });
  try {
    return await Promise.race([proc.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `node [nodeArgs] <dist>/src/cli/<prog>.js args` with `env` added. Register `kill` in the caller's
 * cleanups (SIGKILL if still running).
 */
export function runDaemon(
  prog: 'stafd' | 'stacd',
  args: readonly string[],
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): DaemonProcess & { kill9: () => void } {
  const proc = spawn(process.execPath, [...nodeArgs, `${CLI_DIR}${prog}.js`, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exited = once(proc, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  return Object.assign(proc, {
    output: () => output,
    exited,
    kill9: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  });
}
