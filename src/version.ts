/** The package version, reported by every program's --version (package.json's version: a unit test checks). */
export const VERSION = '0.1.0';
/** nvme-stas release whose behaviour and interfaces this version reproduces. */
export const COMPAT_VERSION = '2.3.1';
/** What every program's --version prints: the program is stas, not nvme-stas. */
export const VERSION_TEXT = `stas ${VERSION}\n`;
