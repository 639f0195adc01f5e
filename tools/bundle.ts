/**
 * Bundles each program into dist/bundle/ (`node dist/tools/bundle.js`, run by `npm run build` after tsc): what
 * `make install` copies, with no node_modules beside it. Input is tsc's output (dist/src/cli/*.js), so the
 * bundle runs the very code the tests run; esbuild (a devDependency) only joins the modules.
 *
 * - One ES module per program (`stafd.mjs`, `stacd.mjs`, `stafctl.mjs`, `stacctl.mjs`, `stasadm.mjs`) and its
 *   chunks (`*-HASH.mjs`) in the same folder. Code splitting keeps the daemons' start-up order: the entry module
 *   holds only the signal listeners and the thread-pool size (src/cli/daemon-signals.ts, uv-threads.ts); the
 *   program (`main-HASH.mjs` and what it imports) is a separate chunk loaded by the entry's import(), after the
 *   listeners are in place; code a program imports on first use (import(): stafd's mDNS side, its DC hosts, the
 *   NBFT decoder) is a chunk of its own, not loaded by an idle daemon.
 * - Each daemon is split on its own, the three command-line tools together (one esbuild run each: BUILDS; a chunk two
 *   runs share has the same content, hence the same name). One run for all five would cut the code into a chunk
 *   per set of programs and import()s reaching it: ~25 chunks and ~80 imports at stafd's start instead of ~13 and
 *   ~33, and resolving that many imports is enough for V8 to optimize Node's path functions (normalizeString) with
 *   TurboFan, whose code then counts in the idle daemon's RSS (+3.5 MiB of the node binary; issue 14 §3).
 * - stas has no production dependencies: its D-Bus client and service are its own (src/core/dbus/,
 *   src/adapters/dbus/), so the bundle holds only stas' modules and Node's built-ins are imported, not required.
 * - The native addon is not copied: src/adapters/native.ts finds `stas_native.node` next to the bundle where
 *   `make install` puts it, or the build tree's build/Release/ for dist/bundle/.
 * - Whitespace and syntax are minified, names are not (stack traces stay readable); the RSS of an idle daemon
 *   is ~1 MiB lower than with the sources as tsc writes them.
 * - `node dist/tools/bundle.js DIR` writes the bundle to DIR instead (a helper's own build tree).
 * - THIRD-PARTY-LICENSES: the license texts of the npm packages with a file among esbuild's inputs; today there
 *   are none, and the file says so.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** tsc's output tree this script belongs to (dist/ for `npm run build`). */
const DIST = fileURLToPath(new URL('../', import.meta.url));
export const PROGRAMS = ['stafd', 'stacd', 'stafctl', 'stacctl', 'stasadm'] as const;
/** The programs each esbuild run splits together: each daemon alone, the tools (short-lived) as one. */
const BUILDS: readonly (readonly (typeof PROGRAMS)[number][])[] = [
  ['stafd'],
  ['stacd'],
  ['stafctl', 'stacctl', 'stasadm'],
];

/** The packages with a file among esbuild's `inputs` (paths relative to ROOT): id (name@version) → package folder. */
function bundledPackages(inputs: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const f of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(f.split(path.sep).join('/'));
    if (!m?.[1]) continue;
    const dir = path.resolve(ROOT, m[1]);
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
    found.set(`${pkg.name}@${pkg.version}`, dir);
  }
  return found;
}

/** The license texts of the packages with a file in the bundle (`inputs`: esbuild's, relative to ROOT). */
function licenses(inputs: string[]): string {
  const bundled = [...bundledPackages(inputs)];
  if (bundled.length === 0) return 'stas bundles no third-party package into its program files.\n';
  const parts: string[] = ['stas bundles these packages into its program files. Their licenses follow.\n'];
  for (const [id, dir] of bundled.sort(([a], [b]) => a.localeCompare(b))) {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      license?: string | { type?: string };
    };
    const license = typeof pkg.license === 'object' ? pkg.license.type : pkg.license;
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const text = file
      ? readFileSync(path.join(dir, file), 'utf8').trim()
      : '(no license file in the package)';
    parts.push(`${'='.repeat(78)}\n${id} (${license ?? 'unknown'})\n${'='.repeat(78)}\n${text}\n`);
  }
  return parts.join('\n');
}

export async function bundle(outdir = path.join(DIST, 'bundle')): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const inputs = new Set<string>();
  for (const programs of BUILDS) {
    for (const input of Object.keys((await bundlePrograms(programs, outdir)).inputs)) inputs.add(input);
  }
  writeFileSync(path.join(outdir, 'THIRD-PARTY-LICENSES'), licenses([...inputs]));
}

/** The entry modules of `programs` and their chunks into `outdir`; esbuild's metafile. */
async function bundlePrograms(programs: readonly string[], outdir: string): Promise<Metafile> {
  const { metafile } = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(programs.map((p) => [p, path.join(DIST, 'src/cli', `${p}.js`)])),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    chunkNames: '[name]-[hash]',
    // Function and class names as tsc's output has them (error names, stack traces).
    keepNames: true,
    // Whitespace and syntax minified, identifiers kept (readable stack traces): the sources V8 holds in memory for
    // each program are ~40% smaller (issue 14 §3: -0.9 MiB RSS per idle daemon).
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  return metafile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await bundle(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
}
