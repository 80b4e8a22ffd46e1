import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

import ignore, { type Ignore } from 'ignore';
import { isBinaryFile } from 'isbinaryfile';
import { isInside } from '@buckley/utils';
import { InvalidScanOptionError, ScanTargetError } from './errors.js';
import type { Finding } from './finding.js';
import { defaultGlobalAllowlists, defaultSecretRules } from './rules/index.js';
import type { SecretAllowlist, SecretRule } from './secret-rule.js';
import { SecretScanner } from './secret-scanner.js';

/** Options of the file and directory scans. */
export interface ScanOptions {
  /** Rules (default: {@link defaultSecretRules}). */
  readonly rules?: readonly SecretRule[];
  readonly globalAllowlists?: readonly SecretAllowlist[];
  /** A prebuilt scanner (overrides `rules`); build once when scanning many times. */
  readonly scanner?: SecretScanner;
  /** Files larger than this are skipped with a reason (default 32 MiB). */
  readonly maxFileSize?: number;
  /** Bytes read and scanned at a time (default 4 MiB); memory stays near this per file. */
  readonly chunkSize?: number;
  /** A line longer than this is cut at this length (default 16 MiB). */
  readonly maxLineLength?: number;
  /**
   * Time one file may take, in milliseconds (default 30 000): a file not scanned in time is
   * reported as skipped with reason `time_budget` (its findings up to then are kept), never
   * passed over silently. Scans are linear in the input; this is the backstop.
   */
  readonly timeBudgetMs?: number;
  /** Honour `.gitignore` files (default true). */
  readonly gitignore?: boolean;
  readonly signal?: AbortSignal;
}

/** Why a file was not scanned. */
export type SkipReason =
  'time_budget' | 'too_large' | 'binary' | 'symlink_outside_root' | 'symlink_loop' | 'gitignored' | 'global_allowlist' | 'unreadable' | 'not_a_file';

/** A file that was not scanned, and why. */
export interface SkippedFile {
  readonly path: string;
  readonly reason: SkipReason;
  readonly detail?: string;
}

/** Result of scanning one file. */
export interface FileScanResult {
  readonly path: string;
  readonly findings: readonly Finding[];
  readonly skipped?: SkippedFile;
  readonly bytes: number;
}

/** Result of scanning a directory tree. */
export interface DirectoryScanResult {
  readonly findings: readonly Finding[];
  readonly filesScanned: number;
  readonly bytesScanned: number;
  /** Files and links not scanned, with the reason (gitignored entries are not listed, only counted). */
  readonly skipped: readonly SkippedFile[];
  readonly ignoredCount: number;
}

const cache = new WeakMap<object, SecretScanner>();
let defaultScanner: SecretScanner | undefined;

/** The scanner for `options`: a prebuilt one, one per rules array, or the shared default. */
export function scannerFor(options: Pick<ScanOptions, 'rules' | 'globalAllowlists' | 'scanner'> = {}): SecretScanner {
  if (options.scanner) return options.scanner;
  if (!options.rules) return (defaultScanner ??= new SecretScanner(defaultSecretRules, options.globalAllowlists ?? defaultGlobalAllowlists));
  let s = cache.get(options.rules);
  if (!s) cache.set(options.rules, (s = new SecretScanner(options.rules, options.globalAllowlists ?? defaultGlobalAllowlists)));
  return s;
}

/**
 * Scans a string for secrets with the default rules (or `options.rules`). Findings carry
 * 1-based line and column and a masked match; the secret itself is never returned.
 *
 * @example
 * ```ts
 * const [finding] = scanString('const key = "AKIAZ7VRSQ5TJN2XMPLQ";');
 * // finding.ruleId === 'aws-access-token', finding.match === 'AKIA…[20 chars]'
 * ```
 */
export function scanString(text: string, options: Pick<ScanOptions, 'rules' | 'globalAllowlists' | 'scanner'> & { path?: string } = {}): Finding[] {
  if (typeof text !== 'string' || text.length === 0) return [];
  return scannerFor(options).scanText(text, options.path !== undefined ? { path: options.path } : {});
}

/** An open file being scanned: positional reads and close, on the descriptor. */
export interface ScanHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): { bytesRead: number };
  close(): void;
}

/**
 * Opens `path` for a scan and reads its first `firstChunk` bytes, or says why not (never
 * throws): unreadable, not a regular file, over `maxFileSize` (decided from `stat`, before
 * any read) or binary (from its first 8 KiB).
 *
 * The file system calls are synchronous: a scan is CPU-bound, and on source trees of small
 * files four thread-pool round trips per file (open, stat, read, close) cost more than the
 * scan itself. The file is opened non-blocking, so a FIFO or device is refused, not waited on.
 */
export async function openForScan(
  path: string,
  shown: string,
  maxFileSize: number,
  firstChunk: number,
): Promise<{ handle: ScanHandle; size: number; head: Buffer } | { skipped: SkippedFile }> {
  const skip = (reason: SkipReason, detail?: string): { skipped: SkippedFile } => ({
    skipped: { path: shown, reason, ...(detail !== undefined ? { detail } : {}) },
  });
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return skip('unreadable', (error as { code?: string }).code ?? 'error');
  }
  let open = true;
  const handle: ScanHandle = {
    read: (buffer, offset, length, position) => ({ bytesRead: readSync(fd, buffer, offset, length, position) }),
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) return (handle.close(), skip('not_a_file'));
    if (info.size > maxFileSize) return (handle.close(), skip('too_large', `${info.size} bytes; maxFileSize is ${maxFileSize}`));
    // The first chunk is read at once (one call for most files); its start decides binary.
    const first = Buffer.allocUnsafe(Math.max(1, Math.min(firstChunk, info.size)));
    const { bytesRead } = info.size > 0 ? handle.read(first, 0, first.length, 0) : { bytesRead: 0 };
    const head = first.subarray(0, bytesRead);
    if (bytesRead > 0 && (await isBinaryFile(head.subarray(0, 8192)))) return (handle.close(), skip('binary'));
    return { handle, size: info.size, head };
  } catch (error) {
    try {
      handle.close();
    } catch {
      // already reported as unreadable
    }
    return skip('unreadable', (error as { code?: string }).code ?? 'error');
  }
}

/** `parts` as one buffer of `length` bytes, without a copy when there is one part. */
function concat(parts: readonly Buffer[], length: number): Buffer {
  if (parts.length === 0) return Buffer.alloc(0);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}

/** Multi-line rules may start this far back in the previous chunk. */
const tailSize = 16 * 1024;

/** The last `tailSize` characters of `previous` followed by `chunk` decoded. */
function tailOf(previous: string, chunk: Buffer): string {
  // At most 4 bytes a character: decode no more than needed, from a character's first byte.
  let from = Math.max(0, chunk.length - 4 * tailSize);
  while (from < chunk.length && (chunk[from]! & 0xc0) === 0x80) from++;
  const text = chunk.toString('utf8', from);
  return text.length >= tailSize ? text.slice(text.length - tailSize) : (from === 0 ? previous + text : text).slice(-tailSize);
}

/**
 * Scans one file, streaming it in chunks cut at line ends so memory stays flat whatever the
 * file size. Skips (with a reason, never throwing) files over `maxFileSize`, binaries and
 * unreadable files, and reports a file not scanned within `timeBudgetMs` as skipped
 * (`time_budget`). `displayPath` is what findings report (default: `path`).
 *
 * @throws InvalidScanOptionError when `timeBudgetMs` is not a positive number
 */
export async function scanFile(path: string, options: ScanOptions & { displayPath?: string } = {}): Promise<FileScanResult> {
  const shown = options.displayPath ?? path;
  const maxFileSize = options.maxFileSize ?? 32 * 1024 * 1024;
  const chunkSize = options.chunkSize ?? 4 * 1024 * 1024;
  const maxLine = Math.max(chunkSize, options.maxLineLength ?? 16 * 1024 * 1024);
  const scanner = scannerFor(options);
  const budget = timeBudget(options);
  // The budget counts this file's own scanning time: waiting on reads, or on the other files
  // in flight during a directory scan, does not use it up.
  let spent = 0;
  let scannedBytes = 0;
  const opened = await openForScan(path, shown, maxFileSize, chunkSize);
  if ('skipped' in opened) return { path: shown, findings: [], bytes: 0, skipped: opened.skipped };
  const handle = opened.handle;
  const skip = (reason: SkipReason, detail?: string): FileScanResult => ({
    path: shown,
    findings: [],
    bytes: 0,
    skipped: { path: shown, reason, ...(detail !== undefined ? { detail } : {}) },
  });
  try {
    const pathInfo = scanner.pathFindings(shown);
    if (pathInfo.excluded) return skip('global_allowlist');
    const findings: Finding[] = [...pathInfo.findings];
    let tail = '';
    let lineOffset = 0;
    let offsetBase = 0;
    let position = 0;
    let bytes = 0;
    // Bytes of the line still open at the end of the last read: scanned with the next chunk.
    let pending: Buffer[] = [];
    let pendingLength = 0;
    let uncounted: Buffer | undefined;
    // The file is scanned up to the size it had when opened: a file growing meanwhile (a log)
    // neither runs past maxFileSize nor keeps the scan going.
    let head: Buffer | undefined = opened.head;
    for (;;) {
      options.signal?.throwIfAborted();
      let n = 0;
      let piece = head;
      head = undefined;
      if (piece) n = piece.length;
      else if (position < opened.size) {
        // A fresh buffer per read (not zero-filled): the open line's bytes are kept without a copy.
        piece = Buffer.allocUnsafe(Math.min(chunkSize, opened.size - position));
        n = handle.read(piece, 0, piece.length, position).bytesRead;
      }
      position += n;
      bytes += n;
      const done = n === 0;
      let chunk: Buffer;
      if (done) chunk = concat(pending, pendingLength);
      else {
        const data = piece!.subarray(0, n);
        let cut = data.lastIndexOf(10) + 1;
        if (cut === 0) {
          if (pendingLength + n < maxLine) {
            pending.push(data);
            pendingLength += n;
            continue;
          }
          // A line longer than maxLineLength is cut, at a character boundary.
          cut = n;
          while (cut > 0 && cut > n - 4 && (data[cut - 1]! & 0xc0) === 0x80) cut--;
          if (cut > 0 && data[cut - 1]! >= 0xc0) cut--;
          if (cut === 0) cut = n;
        }
        pending.push(data.subarray(0, cut));
        chunk = concat(pending, pendingLength + cut);
        pending = cut < n ? [data.subarray(cut)] : [];
        pendingLength = n - cut;
      }
      if (chunk.length > 0) {
        // The last chunk's lines need not be counted (a full newline scan), nor its tail taken.
        // It is the last when the read reached the size, or when a short read left an open line
        // to scan at the end (then the lines of the one before are counted late).
        const last = done || position >= opened.size;
        if (uncounted !== undefined) {
          for (let i = uncounted.indexOf(10); i >= 0; i = uncounted.indexOf(10, i + 1)) lineOffset++;
          uncounted = undefined;
        }
        const started = performance.now();
        const result = scanner.scanChunk(chunk, { path: shown, lineOffset, offsetBase, tail, countLines: !last, deadline: started + budget - spent });
        spent += performance.now() - started;
        for (const f of result.findings) findings.push(f);
        if (!result.timedOut) scannedBytes += chunk.length;
        if (result.timedOut) {
          return {
            path: shown,
            findings,
            bytes,
            skipped: {
              path: shown,
              reason: 'time_budget',
              detail: `not scanned in ${budget} ms: ${scannedBytes} of ${opened.size} bytes fully scanned; the findings made are kept`,
            },
          };
        }
        offsetBase += result.length;
        if (last) uncounted = chunk;
        else {
          lineOffset += result.lineBreaks;
          tail = tailOf(tail, chunk);
        }
      }
      if (done) break;
    }
    return { path: shown, findings, bytes };
  } catch (error) {
    if (options.signal?.aborted) throw error;
    return skip('unreadable', (error as { code?: string }).code ?? 'error');
  } finally {
    handle.close();
  }
}

/** The per-file time budget of `options`, checked. */
function timeBudget(options: Pick<ScanOptions, 'timeBudgetMs'>): number {
  const budget = options.timeBudgetMs ?? 30_000;
  if (typeof budget !== 'number' || !(budget > 0))
    throw new InvalidScanOptionError('timeBudgetMs', `timeBudgetMs must be a positive number of milliseconds, got ${JSON.stringify(budget)}`);
  return budget;
}

/**
 * Scans a directory tree: honours `.gitignore` files at every level (and never enters `.git`),
 * skips binaries and large files with a reason, scans a symlinked file or directory only when
 * its real path is inside the root (once, so loops end), and never follows a link out.
 *
 * @throws ScanTargetError when `root` is not a readable directory
 * @throws InvalidScanOptionError when `timeBudgetMs` is not a positive number
 */
export async function scanDirectory(root: string, options: ScanOptions = {}): Promise<DirectoryScanResult> {
  timeBudget(options);
  return walkFiles(root, options, (file, shown) => scanFile(file, { ...options, displayPath: shown }));
}

/** What a {@link walkFiles} visitor reports for one file; `undefined` means "not for this analyzer" (counted as ignored). */
export type FileVisit = { readonly findings: readonly Finding[]; readonly bytes: number; readonly skipped?: SkippedFile } | undefined;

/**
 * The directory walk every tree scan shares: `.gitignore` at every level, `.git` never
 * entered, symlinks followed only to real paths inside the root and only once (loops end),
 * links out of the root listed as skipped. `visit` gets each file's real path and its path
 * relative to the root (forward slashes) and does the per-file work.
 *
 * @throws ScanTargetError when `root` is not a readable directory
 */
export async function walkFiles(
  root: string,
  options: Pick<ScanOptions, 'gitignore' | 'signal'>,
  visit: (file: string, shown: string) => Promise<FileVisit>,
): Promise<DirectoryScanResult> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    if (!(await stat(realRoot)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new ScanTargetError(root, `root ${JSON.stringify(root)} is not a readable directory`, { cause: error });
  }
  const findings: Finding[] = [];
  const skipped: SkippedFile[] = [];
  let filesScanned = 0;
  let bytesScanned = 0;
  let ignoredCount = 0;
  const visited = new Set<string>();
  // A few files in flight: one file's reads overlap another's scanning. Results are recorded
  // in walk order, so the output does not depend on timing.
  const concurrency = 4;
  const inFlight: Promise<FileVisit>[] = [];
  const record = (result: FileVisit): void => {
    if (!result) {
      ignoredCount++;
      return;
    }
    if (result.skipped) skipped.push(result.skipped);
    else {
      filesScanned++;
      bytesScanned += result.bytes;
    }
    for (const f of result.findings) findings.push(f);
  };
  const useGitignore = options.gitignore ?? true;

  const walk = async (dir: string, display: string, rules: { base: string; ig: Ignore }[]): Promise<void> => {
    options.signal?.throwIfAborted();
    if (visited.has(dir)) {
      skipped.push({ path: display || '.', reason: 'symlink_loop' });
      return;
    }
    visited.add(dir);
    let here = rules;
    if (useGitignore) {
      try {
        const text = await readFile(join(dir, '.gitignore'), 'utf8');
        here = [...rules, { base: display, ig: ignore().add(text) }];
      } catch {
        // no .gitignore here
      }
    }
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      skipped.push({ path: display || '.', reason: 'unreadable', detail: (error as { code?: string }).code ?? 'error' });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name === '.git') continue;
      const full = join(dir, entry.name);
      const shown = display ? `${display}/${entry.name}` : entry.name;
      let isDir = entry.isDirectory();
      let target = full;
      if (entry.isSymbolicLink()) {
        try {
          target = await realpath(full);
        } catch (error) {
          const code = (error as { code?: string }).code;
          skipped.push({ path: shown, reason: code === 'ELOOP' ? 'symlink_loop' : 'unreadable', detail: code ?? 'error' });
          continue;
        }
        if (!isInside(realRoot, target)) {
          skipped.push({ path: shown, reason: 'symlink_outside_root' });
          continue;
        }
        try {
          isDir = (await lstat(target)).isDirectory();
        } catch {
          skipped.push({ path: shown, reason: 'unreadable' });
          continue;
        }
      }
      if (useGitignore && here.some(({ base, ig }) => ig.ignores((base ? relative(base, shown) : shown).split(sep).join('/') + (isDir ? '/' : '')))) {
        ignoredCount++;
        continue;
      }
      if (isDir) {
        await walk(target, shown, here);
        continue;
      }
      if (!entry.isFile() && !entry.isSymbolicLink()) continue;
      if (visited.has(target)) continue;
      visited.add(target);
      const pending = visit(target, shown);
      // Rejections (an abort) surface when awaited in order; until then they are not "unhandled".
      pending.catch(() => undefined);
      inFlight.push(pending);
      if (inFlight.length >= concurrency) record(await inFlight.shift()!);
    }
  };
  await walk(realRoot, '', []);
  while (inFlight.length > 0) record(await inFlight.shift()!);
  return { findings, filesScanned, bytesScanned, skipped, ignoredCount };
}
