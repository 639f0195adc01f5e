/**
 * Daemon logging as nvme-stas: on stdout the message alone (no level, no time: nvme-stas' default format), or with
 * -s/--syslog the message with the kernel-style priority prefix (`<3>…`) that journald (systemd's stdout capture)
 * turns into the message's priority, as nvme-stas' journal handler sets it. Debug lines only with tron. Every
 * message is made safe first: secrets redacted, control characters and other non-printables escaped.
 */
import type { LogFn, LogLevel } from '../core/log.js';
import { safeText } from '../core/log-text.js';

const PRIORITY: Record<LogLevel, number> = { error: 3, warning: 4, info: 6, debug: 7 };

/** The daemons' {@link LogFn}, with its debug switch. */
export interface Logger extends LogFn {
  tron: boolean;
}

export function createLogger(opts: {
  syslog: boolean;
  tron: boolean;
  write?: (line: string) => void;
}): Logger {
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
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
