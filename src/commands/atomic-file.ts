import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a file, or a folder so that a rename in it is durable. Folders that refuse fsync (some file systems) are skipped. */
async function fsync(path: string, what: 'file' | 'folder'): Promise<void> {
  try {
    const handle = await open(path, what === 'file' ? 'r+' : 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (what === 'file') throw error;
  }
}

/**
 * Replaces `target` whole or not at all, also across a crash: `write` fills a
 * temporary file beside it (same folder, so the rename cannot cross file
 * systems), which is fsynced, renamed over `target`, and the folder fsynced.
 * If anything fails, the temporary file is removed (with the files named by
 * `companions`, suffixes a writer may leave beside it, such as SQLite's
 * `-journal`) and `target` is left as it was.
 */
export async function replaceFile(
  target: string,
  write: (temporary: string) => Promise<void>,
  companions: readonly string[] = [],
): Promise<void> {
  const temporary = `${target}.tmp-${process.pid}`;
  // Leftovers of an earlier run that died with the same process id are removed first.
  const removeTemporary = () => Promise.all(['', ...companions].map((suffix) => rm(temporary + suffix, { force: true })));
  try {
    await removeTemporary();
    await write(temporary);
    await fsync(temporary, 'file');
    await rename(temporary, target);
  } catch (error) {
    await removeTemporary();
    throw error;
  }
  await fsync(dirname(target), 'folder');
}
