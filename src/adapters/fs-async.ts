/**
 * The asynchronous file operations stas uses, as promises over node:fs' callback API: node:fs/promises (its
 * FileHandle class and the modules behind it) would cost every idle daemon ~0.15 MiB of RSS (issue 14 §3), and
 * the callback API runs the same libuv requests off the event loop.
 */
import fs from 'node:fs';

/** util.promisify for these callback functions; an ESM import of node:util loads its parseArgs modules too. */
// biome-ignore lint/suspicious/noExplicitAny: the wrapped functions' overloads are typed by the casts below
function promisify(f: (...args: any[]) => void): (...args: unknown[]) => Promise<unknown> {
  return (...args) =>
    new Promise((resolve, reject) => f(...args, (e: unknown, v: unknown) => (e ? reject(e) : resolve(v))));
}

export const readFile = promisify(fs.readFile) as {
  (path: string | number, encoding: BufferEncoding): Promise<string>;
  (path: string | number): Promise<Buffer>;
};
export const readdir = promisify(fs.readdir) as (path: string) => Promise<string[]>;
export const mkdir = promisify(fs.mkdir) as (
  path: string,
  opts: { recursive?: boolean; mode?: number },
) => Promise<string | undefined>;
export const rm = promisify(fs.rm) as (
  path: string,
  opts: { force?: boolean; recursive?: boolean },
) => Promise<void>;
export const stat = promisify(fs.stat) as (path: string) => Promise<fs.Stats>;
export const fstat = promisify(fs.fstat) as (fd: number) => Promise<fs.Stats>;
export const open = promisify(fs.open) as (
  path: string,
  flags: number | string,
  mode?: number,
) => Promise<number>;
export const close = promisify(fs.close) as (fd: number) => Promise<void>;
export const fsync = promisify(fs.fsync) as (fd: number) => Promise<void>;
export const unlink = promisify(fs.unlink) as (path: string) => Promise<void>;
export const rename = promisify(fs.rename) as (from: string, to: string) => Promise<void>;

/** Writes all of `data` at the file's position (write() may write less than asked). */
export async function writeAll(fd: number, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; ) {
    off += await new Promise<number>((resolve, reject) =>
      fs.write(fd, data, off, data.length - off, null, (e, n) => (e ? reject(e) : resolve(n))),
    );
  }
}
