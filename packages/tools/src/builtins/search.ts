import { findExecutable } from '@buckley/sandbox';
import { z } from 'zod';
import { defineTool, toolFailure } from '../tool.js';
import { exitFailure, isBinary, needs, openRegularFile, violationOf } from './common.js';
import { walkWorkspace } from './walk.js';

/** One match: workspace-relative path, 1-based line, the line's text (cut to 500 characters). */
interface Match {
  path: string;
  line: number;
  text: string;
}

const MAX_LINE_CHARS = 500;
/** How many unreadable paths a result lists (then `… and N more`). */
const MAX_UNREADABLE = 50;
const MAX_FALLBACK_FILE_BYTES = 4 * 1024 * 1024;

let rgPath: string | null | undefined;
/** The `rg` on PATH (Debian's `ripgrep` package), looked up once. */
function ripgrep(): string | null {
  rgPath ??= findExecutable('rg');
  return rgPath;
}

const clip = (text: string) => (text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}…` : text);

/** True for ripgrep's closing `summary` message (printed once the search ran; an unparsable line, cut by the output cap, is not). */
function isSummary(line: string): boolean {
  try {
    return (JSON.parse(line) as { type?: unknown }).type === 'summary';
  } catch {
    return false;
  }
}

/** The note of what could not be read, sorted (ripgrep searches in parallel), at most {@link MAX_UNREADABLE}; empty: no note. */
function unreadableNote(lines: readonly string[]): { unreadable?: string[] } {
  if (lines.length === 0) return {};
  const sorted = [...lines].sort();
  const more = sorted.length - MAX_UNREADABLE;
  return { unreadable: more > 0 ? [...sorted.slice(0, MAX_UNREADABLE), `… and ${more} more`] : sorted };
}

/**
 * `search_text`: ripgrep through the sandbox when `rg` is on PATH, else a JS scan (literal
 * search only: a regex needs ripgrep, whose engine is linear-time).
 */
export const searchTextTool = defineTool({
  name: 'search_text',
  description:
    'Searches workspace files for text (honours .gitignore). Literal by default; regex: true takes a ripgrep regex. Returns path, line number and line text per match, at most maxResults.',
  input: z.strictObject({
    pattern: z.string().min(1).max(4096),
    path: z.string().min(1).max(4096).default('.'),
    regex: z.boolean().default(false),
    caseSensitive: z.boolean().default(true),
    maxResults: z.number().int().min(1).max(10_000).default(200),
  }),
  readOnly: true,
  async handler(input, context) {
    const { workspace, sandbox } = needs(context);
    const resolved = await workspace.resolve(input.path, 'read');
    if (!resolved.ok) return resolved;
    const rg = ripgrep();
    if (rg !== null) {
      const argv = [rg, '--json', '--no-config', '--no-follow', '--max-columns', '2000', '--glob', '!.buckley'];
      if (!input.regex) argv.push('--fixed-strings');
      if (!input.caseSensitive) argv.push('--ignore-case');
      // Always a path: without one rg would read stdin.
      argv.push('--regexp', input.pattern, '--', resolved.relative);
      const result = await sandbox.run(argv, { cwd: workspace.root });
      const refused = violationOf(result);
      if (refused !== null) return refused;
      const matches: Match[] = [];
      let more = false;
      let summary = false;
      for (const text of result.stdout.text.split('\n')) {
        if (!text.startsWith('{"type":"match"')) {
          summary ||= text.includes('"type":"summary"') && isSummary(text);
          continue;
        }
        if (matches.length >= input.maxResults) {
          more = true;
          break;
        }
        try {
          const m = JSON.parse(text) as { data: { path: { text?: string }; line_number: number; lines: { text?: string } } };
          matches.push({
            path: (m.data.path.text ?? '(non-UTF-8 path)').replace(/^\.\//, ''),
            line: m.data.line_number,
            text: clip((m.data.lines.text ?? '').replace(/\r?\n$/, '')),
          });
        } catch {
          // A line cut by the output cap.
          more = true;
        }
      }
      // rg exits 1 when nothing matched, 2 after an error: one about files it could not read
      // (the search ran: its summary is there, or matches) keeps the matches and notes the files.
      const searched = result.exitCode === 0 || result.exitCode === 1 || (result.exitCode === 2 && (summary || matches.length > 0));
      if (!searched) return exitFailure('ripgrep', result);
      const errors = result.exitCode === 2 ? result.stderr.text.split('\n').filter((line) => line.trim() !== '') : [];
      const note = unreadableNote(errors.map((line) => line.replace(/^rg: /, '').replace(/^\.\//, '')));
      return { engine: 'ripgrep', matches, truncated: more || result.stdout.truncated, ...note };
    }
    if (input.regex)
      return toolFailure('REGEX_NEEDS_RIPGREP', 'regex search needs ripgrep (rg) on PATH (apt-get install ripgrep); search with regex: false for a literal');
    const needle = input.caseSensitive ? input.pattern : input.pattern.toLowerCase();
    const { entries, unreadable } = await walkWorkspace(workspace.root, resolved.path, { max: 200_000, files: true, signal: context.signal });
    const matches: Match[] = [];
    const cannotRead = unreadable.map((path) => `${path}: Permission denied`);
    let more = false;
    for (const entry of entries) {
      if (more) break;
      context.signal.throwIfAborted();
      // A FIFO or device in the tree (or swapped in during the walk) is skipped, never waited on.
      const opened = await openRegularFile(`${workspace.root}/${entry.path}`).catch(() => null);
      if (opened !== null && !opened.ok && opened.kind === 'unreadable') cannotRead.push(`${entry.path}: Permission denied`);
      if (opened === null || !opened.ok) continue;
      const { handle } = opened;
      let buffer: Buffer;
      try {
        if (opened.size > MAX_FALLBACK_FILE_BYTES) continue;
        buffer = await handle.readFile();
      } finally {
        await handle.close();
      }
      if (isBinary(buffer)) continue;
      const lines = buffer.toString('utf8').split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (!(input.caseSensitive ? line : line.toLowerCase()).includes(needle)) continue;
        if (matches.length >= input.maxResults) {
          more = true;
          break;
        }
        matches.push({ path: entry.path, line: i + 1, text: clip(line.replace(/\r$/, '')) });
      }
    }
    return { engine: 'javascript', matches, truncated: more, ...unreadableNote(cannotRead) };
  },
});
