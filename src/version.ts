/** The package version, reported by every program's --version. */
export const VERSION = '0.1.0';
/** nvme-stas release whose behaviour and interfaces this version reproduces. */
export const COMPAT_VERSION = '2.3.1';
