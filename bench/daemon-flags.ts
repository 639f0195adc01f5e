/**
 * The node flags of the installed daemons, read from the Makefile (`DAEMON_NODE_FLAGS ?= ...`, what `make install`
 * writes into /usr/sbin/stafd and stacd), so every bench measures the daemons as they are installed; or
 * $STAS_DAEMON_FLAGS ('' for none).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function makefileFlags(): string {
  const makefile = readFileSync(fileURLToPath(new URL('../../Makefile', import.meta.url)), 'utf8');
  const m = /^DAEMON_NODE_FLAGS\s*\?=(.*)$/m.exec(makefile);
  if (!m) throw new Error('Makefile: no DAEMON_NODE_FLAGS ?= line');
  return m[1]!;
}

export const DAEMON_FLAGS: readonly string[] = (process.env['STAS_DAEMON_FLAGS'] ?? makefileFlags())
  .split(' ')
  .filter(Boolean);
