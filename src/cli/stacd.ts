#!/usr/bin/env node
/** stacd: STorage Appliance Connector (entry point; the program is src/daemons/stacd/main.ts). */
// Signal handling first, then the thread pool size; the program's modules load only after both (import()).
import './daemon-signals.js';
import './uv-threads.js';

import('../daemons/stacd/main.js')
  .then(({ main }) => main(process.argv.slice(2)))
  .then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(
        `stacd: fatal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
      );
      process.exit(1);
    },
  );
