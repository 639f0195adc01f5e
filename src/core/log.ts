/**
 * The one shape of logging stas' modules share: a level (nvme-stas' levels; the daemons' logger maps them to syslog
 * priorities) and a message. Modules take a {@link LogFn}; the daemons pass their logger, tests a recorder. Pure.
 */

/** The levels of stas' log messages. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/** Where a module sends its log messages. */
export type LogFn = (level: LogLevel, message: string) => void;

/** The text of a caught value for a message: an Error's message, anything else as a string; never throws. */
export function errorText(e: unknown): string {
  try {
    return e instanceof Error ? String(e.message) : String(e);
  } catch {
    return 'unprintable error';
  }
}
