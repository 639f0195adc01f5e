/**
 * Daemon logging as nvme-stas: on stdout the message alone (no level, no time: nvme-stas' default format), or with
 * -s/--syslog the message with the kernel-style priority prefix (`<3>…`) that journald (systemd's stdout capture)
 * turns into the message's priority, as nvme-stas' journal handler sets it. Debug lines only with tron. Every
 * message is made safe first: secrets redacted, control characters and other non-printables escaped. Lines
 * logged within 50 ms of each other share one write to stdout.
 */
import type { LogFn, LogLevel } from '../core/log.js';
import { safeText } from '../core/log-text.js';
import { type SchedulerClock, systemClock } from './pass-scheduler.js';

const PRIORITY: Record<LogLevel, number> = { error: 3, warning: 4, info: 6, debug: 7 };

/** The daemons' {@link LogFn}, with its debug switch. */
export interface Logger extends LogFn {
  tron: boolean;
}

/** How long a log line may wait for others to share its write, and how much text may wait at most. */
export const LOG_FLUSH_MS = 50;
export const LOG_FLUSH_BYTES = 16 * 1024;

/**
 * Lines gathered into one write: the first line of a burst waits at most `delayMs` (or until `maxBytes` are
 * pending) for the others. stacd logs a line per connect, hundreds within seconds; one write, and one journald
 * wake-up, per line cost more CPU than the connect's own bookkeeping. `flush()` writes what is pending now (the
 * daemons call it on exit, so nothing logged is lost).
 */
export function lineBatcher(
  write: (text: string) => void,
  clock: SchedulerClock = systemClock,
  delayMs = LOG_FLUSH_MS,
  maxBytes = LOG_FLUSH_BYTES,
): { write(line: string): void; flush(): void } {
  let pending: string[] = [];
  let bytes = 0;
  let timer: unknown;
  const flush = () => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    bytes = 0;
    write(text);
  };
  return {
    write(line: string) {
      pending.push(line);
      bytes += line.length;
      if (bytes >= maxBytes) flush();
      else timer ??= clock.setTimeout(flush, delayMs);
    },
    flush,
  };
}

/** stdout through a {@link lineBatcher}, flushed when the process exits. */
function batchedStdout(): (line: string) => void {
  const out = lineBatcher((text) => process.stdout.write(text));
  process.on('exit', out.flush);
  return out.write;
}

export function createLogger(opts: {
  syslog: boolean;
  tron: boolean;
  write?: (line: string) => void;
}): Logger {
  const write = opts.write ?? batchedStdout();
  const log = ((level: LogLevel, message: string) => {
    if (level === 'debug' && !log.tron) return;
    // One record per line: a message with newlines (e.g. from a peer) must not forge further records; nothing
    // from the network or a config file reaches the terminal or the journal as a control sequence or a secret.
    const text = safeText(String(message).replace(/[\r\n]+/g, ' '));
    write(opts.syslog ? `<${PRIORITY[level]}>${text}\n` : `${text}\n`);
  }) as Logger;
  log.tron = opts.tron;
  return log;
}
