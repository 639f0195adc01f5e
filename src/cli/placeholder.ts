/** Shared --help/--version handling for programs whose full implementation has not landed yet. */
import { VERSION } from '../version.js';

export function placeholderMain(prog: string, description: string, argv: string[]): number {
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`nvme-stas ${VERSION}\n`);
    return 0;
  }
  const usage = `usage: ${prog} [-h] [--version]\n\n${prog}: ${description}.\nThis build of ${prog} only answers --help and --version; the full program is not implemented yet.\n`;
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return 0;
  }
  process.stderr.write(`${prog}: not implemented yet in this build (see --help)\n`);
  return 1;
}
