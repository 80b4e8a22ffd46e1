import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { uuidv7 } from '@buckley/utils';
import { z } from 'zod';
import { defineTool, toolFailure } from '../tool.js';
import { descriptorPath, isBinary, needs, notRegularFailure, openRegularFile, openedExactly } from './common.js';
import { walkWorkspace } from './walk.js';

const MAX_READ_BYTES = 256 * 1024;
const MAX_WRITE_BYTES = 10 * 1024 * 1024;
const MAX_EDIT_FILE_BYTES = 10 * 1024 * 1024;
const path = z.string().min(1).max(4096).describe('path relative to the workspace');

/** `read_file`: a text file, or a 1-based inclusive line range of it, capped at 256 KiB. */
export const readFileTool = defineTool({
  name: 'read_file',
  description:
    'Reads a text file of the workspace, optionally lines startLine..endLine (1-based, inclusive). Binary files are refused; output past 256 KiB is cut.',
  input: z.strictObject({
    path,
    startLine: z.number().int().min(1).optional(),
    endLine: z.number().int().min(1).optional(),
  }),
  readOnly: true,
  async handler(input, context) {
    const { workspace } = needs(context);
    if (input.startLine !== undefined && input.endLine !== undefined && input.endLine < input.startLine) {
      return toolFailure('INVALID_LINE_RANGE', `endLine ${input.endLine} is before startLine ${input.startLine}, expected endLine >= startLine`);
    }
    const resolved = await workspace.resolve(input.path, 'read');
    if (!resolved.ok) return resolved;
    // The file type is decided on the opened descriptor (a FIFO swapped in after a stat would hang a blocking open).
    const opened = await openRegularFile(resolved.path);
    if (!opened.ok) return notRegularFailure(input.path, opened);
    const { handle } = opened;
    const st = { size: opened.size };
    const start = input.startLine ?? 1;
    const end = input.endLine ?? Number.POSITIVE_INFINITY;
    const stream = handle.createReadStream({ highWaterMark: 64 * 1024, signal: context.signal });
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let line = 1;
    let truncated = false;
    let first = true;
    let finished = true;
    let lastByte = -1;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (first && isBinary(chunk)) {
        stream.destroy();
        return toolFailure('BINARY_FILE', `file ${JSON.stringify(input.path)} is binary (a NUL byte in its first 8 KiB), expected a text file`, {
          sizeBytes: st.size,
        });
      }
      first = false;
      if (chunk.length > 0) lastByte = chunk[chunk.length - 1]!;
      let from = 0;
      for (let i = 0; i <= chunk.length; i++) {
        const atEnd = i === chunk.length;
        if (!atEnd && chunk[i] !== 0x0a) continue;
        const piece = chunk.subarray(from, atEnd ? i : i + 1);
        if (line >= start && line <= end && piece.length > 0 && !truncated) {
          if (keptBytes + piece.length > MAX_READ_BYTES) {
            kept.push(piece.subarray(0, MAX_READ_BYTES - keptBytes));
            keptBytes = MAX_READ_BYTES;
            truncated = true;
          } else {
            kept.push(piece);
            keptBytes += piece.length;
          }
        }
        if (!atEnd) line++;
        from = i + 1;
      }
      if (line > end || truncated) {
        finished = false;
        stream.destroy();
        break;
      }
    }
    let content = Buffer.concat(kept).toString('utf8');
    if (truncated) content = content.replace(/\uFFFD$/, '');
    const total = lastByte === -1 ? 0 : lastByte === 0x0a ? line - 1 : line;
    return {
      path: resolved.relative,
      content,
      startLine: start,
      endLine: finished ? Math.min(end, total) : Math.min(end, line),
      totalLines: finished ? total : null,
      sizeBytes: st.size,
      truncated,
    };
  },
});

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** How {@link writeAtomically} ended. */
type WriteOutcome = 'written' | 'changed' | 'parent_not_directory' | 'directory';

/**
 * Writes `content` to `target`, a real path inside the real `root`, atomically (a temp file
 * renamed over it, so a symlink at the target is replaced, never written through). Every
 * directory from the root down is reached through its parent's descriptor
 * (`/proc/self/fd/<fd>/<name>`), created when missing and opened without following symlinks:
 * a directory replaced by a symlink while this runs makes the write `changed`, never a file or
 * a directory outside the path that passed the policy check.
 */
async function writeAtomically(root: string, target: string, content: string): Promise<WriteOutcome> {
  const parts = relative(root, dirname(target))
    .split(sep)
    .filter((p) => p !== '');
  let dir = await open(root, DIRECTORY_FLAGS);
  try {
    if (!(await openedExactly(dir, root))) return 'changed';
    for (const part of parts) {
      const at = join(descriptorPath(dir.fd), part);
      try {
        await mkdir(at);
      } catch (error) {
        if (errno(error) === 'ENOENT') return 'changed';
        if (errno(error) !== 'EEXIST') throw error;
      }
      let next: FileHandle;
      try {
        next = await open(at, DIRECTORY_FLAGS);
      } catch (error) {
        if (errno(error) === 'ENOTDIR') return 'parent_not_directory';
        if (errno(error) === 'ELOOP' || errno(error) === 'ENOENT') return 'changed';
        throw error;
      }
      await dir.close();
      dir = next;
    }
    const temp = join(descriptorPath(dir.fd), `.${basename(target)}.${uuidv7()}.tmp`);
    let handle: FileHandle;
    try {
      handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (error) {
      // The directory was removed after it was opened.
      if (errno(error) === 'ENOENT') return 'changed';
      throw error;
    }
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await rename(temp, join(descriptorPath(dir.fd), basename(target)));
    } catch (error) {
      await rm(temp, { force: true });
      if (errno(error) === 'EISDIR') return 'directory';
      if (errno(error) === 'ENOENT') return 'changed';
      throw error;
    }
    return 'written';
  } finally {
    await dir.close();
  }
}

/** The failure the model reads for a write that did not happen, or null when it did. */
function unwritten(rel: string, outcome: WriteOutcome) {
  if (outcome === 'written') return null;
  if (outcome === 'directory') return toolFailure('NOT_A_FILE', `${JSON.stringify(rel)} is a directory, expected a file path`);
  if (outcome === 'parent_not_directory')
    return toolFailure('NOT_A_DIRECTORY', `a parent of ${JSON.stringify(rel)} is a file, expected a directory; nothing was written`);
  return toolFailure('PATH_CHANGED', `path ${JSON.stringify(rel)} changed while it was written (a directory on it was replaced), nothing was written`);
}

/** `write_file`: creates or replaces a workspace file (atomically: a temp file renamed over it). */
export const writeFileTool = defineTool({
  name: 'write_file',
  description:
    'Creates or replaces a text file in the workspace with the given content (parent directories are created). Protected paths (.git, .buckley, ...) are refused.',
  input: z.strictObject({ path, content: z.string().max(MAX_WRITE_BYTES) }),
  readOnly: false,
  idempotent: true,
  approvalClass: 'workspace_write',
  async handler({ path: rel, content }, context) {
    const { workspace } = needs(context);
    if (Buffer.byteLength(content) > MAX_WRITE_BYTES)
      return toolFailure('CONTENT_TOO_LARGE', `content is over ${MAX_WRITE_BYTES} bytes, expected at most that`);
    const resolved = await workspace.resolve(rel, 'write');
    if (!resolved.ok) return resolved;
    const st = await lstat(resolved.path).catch(() => null);
    if (st?.isDirectory()) return toolFailure('NOT_A_FILE', `${JSON.stringify(rel)} is a directory, expected a file path`);
    const failed = unwritten(rel, await writeAtomically(workspace.root, resolved.path, content));
    if (failed !== null) return failed;
    return { path: resolved.relative, bytesWritten: Buffer.byteLength(content), created: st === null };
  },
});

function countMatches(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count++;
  return count;
}

/** `edit_file`: replaces one exact, unique occurrence of `oldText`. */
export const editFileTool = defineTool({
  name: 'edit_file',
  description:
    'Replaces the one exact occurrence of oldText with newText in a workspace file. oldText must match exactly once (include surrounding lines to make it unique).',
  input: z.strictObject({ path, oldText: z.string().min(1).max(MAX_WRITE_BYTES), newText: z.string().max(MAX_WRITE_BYTES) }),
  readOnly: false,
  approvalClass: 'workspace_write',
  async handler({ path: rel, oldText, newText }, context) {
    const { workspace } = needs(context);
    const resolved = await workspace.resolve(rel, 'write');
    if (!resolved.ok) return resolved;
    const opened = await openRegularFile(resolved.path);
    if (!opened.ok) return notRegularFailure(rel, opened);
    let raw: Buffer;
    try {
      if (opened.size > MAX_EDIT_FILE_BYTES)
        return toolFailure('FILE_TOO_LARGE', `file ${JSON.stringify(rel)} is ${opened.size} bytes, expected at most ${MAX_EDIT_FILE_BYTES}`);
      raw = await opened.handle.readFile();
    } finally {
      await opened.handle.close();
    }
    if (isBinary(raw)) return toolFailure('BINARY_FILE', `file ${JSON.stringify(rel)} is binary, expected a text file`);
    const text = raw.toString('utf8');
    const matches = countMatches(text, oldText);
    if (matches === 0)
      return toolFailure('EDIT_NO_MATCH', `oldText was found 0 times in ${JSON.stringify(rel)}, expected exactly 1 match (check whitespace and indentation)`, {
        matches,
      });
    if (matches > 1)
      return toolFailure(
        'EDIT_MATCH_NOT_UNIQUE',
        `oldText was found ${matches} times in ${JSON.stringify(rel)}, expected exactly 1 match (add surrounding lines)`,
        { matches },
      );
    const at = text.indexOf(oldText);
    const failed = unwritten(rel, await writeAtomically(workspace.root, resolved.path, text.slice(0, at) + newText + text.slice(at + oldText.length)));
    if (failed !== null) return failed;
    const line = text.slice(0, at).split('\n').length;
    return { path: resolved.relative, replacements: 1, line };
  },
});

/** `list_files`: the files under a directory, `.gitignore` honoured. */
export const listFilesTool = defineTool({
  name: 'list_files',
  description:
    'Lists files and directories under a workspace directory (recursively, honouring .gitignore; .git is skipped). At most maxEntries (default 1000).',
  input: z.strictObject({ path: path.default('.'), maxEntries: z.number().int().min(1).max(100_000).default(1000) }),
  readOnly: true,
  async handler(input, context) {
    const { workspace } = needs(context);
    const resolved = await workspace.resolve(input.path, 'read');
    if (!resolved.ok) return resolved;
    const st = await lstat(resolved.path).catch(() => null);
    if (st === null) return toolFailure('FILE_NOT_FOUND', `directory ${JSON.stringify(input.path)} does not exist`);
    if (!st.isDirectory()) return toolFailure('NOT_A_DIRECTORY', `${JSON.stringify(input.path)} is not a directory`);
    const { entries, truncated } = await walkWorkspace(workspace.root, resolved.path, { max: input.maxEntries, signal: context.signal });
    return { path: resolved.relative, entries: entries.map((e) => (e.kind === 'directory' ? `${e.path}/` : e.path)), truncated };
  },
});
