#!/usr/bin/env node
/** stacd: STorage Appliance Connector (entry point; the program is src/daemons/stacd/main.ts). */
import './uv-threads.js';
import { main } from '../daemons/stacd/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`stacd: fatal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
