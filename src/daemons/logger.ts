/**
 * Daemon logging: plain lines on stdout, or with -s/--syslog lines carrying the kernel-style priority prefix
 * (`<3>…`) that journald (and systemd's stdout capture) turns into message priorities. Debug lines only with tron.
 */
export type Level = 'debug' | 'info' | 'warning' | 'error';

const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6, debug: 7 };

export interface Logger {
  (level: Level, message: string): void;
  tron: boolean;
}

export function createLogger(opts: {
  syslog: boolean;
  tron: boolean;
  write?: (line: string) => void;
}): Logger {
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  const log = ((level: Level, message: string) => {
    if (level === 'debug' && !log.tron) return;
    // One record per line: a message with newlines (e.g. from a peer) must not forge further records.
    const text = message.replace(/[\r\n]+/g, ' ');
    write(opts.syslog ? `<${PRIORITY[level]}>${text}\n` : `${level.toUpperCase().padEnd(7)} ${text}\n`);
  }) as Logger;
  log.tron = opts.tron;
  return log;
}
