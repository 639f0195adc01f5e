/** Atomic file replacement: write a temporary file beside the target, fsync, rename over it (sync or async). */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as fsa from './fs-async.js';

/** Replaces `path` with `content` so that readers see the old or the new file, never a partial one. */
export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  let fileMode = mode;
  try {
    fileMode = statSync(path).mode & 0o7777;
  } catch {
    // New file: use the requested mode.
  }
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'wx', fileMode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems do not allow fsync on a directory; the rename is still atomic.
  }
}

/** A file's content: one string, or pieces produced as they are written (lazily, by a generator). */
export type FileContent = string | Iterable<string> | AsyncIterable<string>;

let tmpSeq = 0;

/**
 * writeFileAtomic without blocking the event loop: the same steps (temporary file beside the target, write,
 * fsync, rename, fsync of the directory) through node:fs' callback API (src/adapters/fs-async.ts). Pieces are gathered into writes of about
 * `chunkBytes`, and each write is awaited, so a generator producing a large content runs in slices between which
 * other work proceeds. Resolves with the file's size in bytes.
 */
export async function writeFileAtomicAsync(
  path: string,
  content: FileContent,
  mode = 0o644,
  chunkBytes = 64 * 1024,
): Promise<number> {
  const dir = dirname(path);
  await fsa.mkdir(dir, { recursive: true });
  let fileMode = mode;
  try {
    fileMode = (await fsa.stat(path)).mode & 0o7777;
  } catch {
    // New file: use the requested mode.
  }
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.${tmpSeq++}.tmp`);
  const fd = await fsa.open(tmp, 'wx', fileMode);
  let size = 0;
  try {
    let parts: Buffer[] = [];
    let buffered = 0;
    const drain = async () => {
      const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, buffered);
      parts = [];
      buffered = 0;
      await fsa.writeAll(fd, data);
      size += data.length;
    };
    for await (const piece of typeof content === 'string' ? [content] : content) {
      const b = Buffer.from(piece, 'utf8');
      parts.push(b);
      buffered += b.length;
      if (buffered >= chunkBytes) await drain();
    }
    if (buffered > 0) await drain();
    await fsa.fsync(fd);
  } catch (e) {
    await fsa.close(fd).catch(() => {});
    await fsa.unlink(tmp).catch(() => {});
    throw e;
  }
  await fsa.close(fd);
  try {
    await fsa.rename(tmp, path);
  } catch (e) {
    await fsa.unlink(tmp).catch(() => {});
    throw e;
  }
  try {
    const dfd = await fsa.open(dir, 'r');
    try {
      await fsa.fsync(dfd);
    } finally {
      await fsa.close(dfd);
    }
  } catch {
    // Some file systems do not allow fsync on a directory; the rename is still atomic.
  }
  return size;
}
