/**
 * The one shape of logging stas' modules share: a level (nvme-stas' levels; the daemons' logger maps them to syslog
 * priorities) and a message. Modules take a {@link LogFn}; the daemons pass their logger, tests a recorder. Pure.
 */

/** The levels of stas' log messages. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/** Where a module sends its log messages. */
export type LogFn = (level: LogLevel, message: string) => void;
