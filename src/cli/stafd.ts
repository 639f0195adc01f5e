#!/usr/bin/env node
/** stafd: STorage Appliance Finder (entry point; the program is src/daemons/stafd/main.ts). */
// Signal handling first, then the thread pool size; the program's modules load only after both (import()).
import './daemon-signals.js';
import './uv-threads.js';

import('../daemons/stafd/main.js')
  .then(({ main }) => main(process.argv.slice(2)))
  .then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(
        `stafd: fatal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
      );
      process.exit(1);
    },
  );
