#!/usr/bin/env node
/** stafd: STorage Appliance Finder (entry point; the program is src/daemons/stafd/main.ts). */
import './uv-threads.js';
import { main } from '../daemons/stafd/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`stafd: fatal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
