import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** Summary statistics of a sample of durations, in milliseconds. */
export interface LatencyStats {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

/** Percentiles by nearest rank over a copy of `samples` (milliseconds). */
export function latencyStats(samples: readonly number[]): LatencyStats {
  if (samples.length === 0) throw new Error('latencyStats needs at least one sample');
  const sorted = samples.toSorted((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return {
    count: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    min: sorted[0]!,
    max: sorted.at(-1)!,
  };
}

/** Times `fn` `n` times one after another; returns each duration in milliseconds. */
export async function timeEach(n: number, fn: (i: number) => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn(i);
    out.push(performance.now() - start);
  }
  return out;
}

/** One row of a benchmark table: what was measured, its figure, and the baseline's. */
export interface BenchRow {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  /** The raw driver (or peer) doing the same work in the same run. */
  readonly baseline?: number;
  /** `value / baseline` (or the inverse for "lower is better", as `ratioNote` says). */
  readonly ratio?: number;
  readonly ratioNote?: string;
  /** The target this figure is held to, as text (e.g. ">= 0.6 of raw"). */
  readonly target?: string;
  readonly met?: boolean;
}

/** Where a benchmark ran, stamped into every result file. */
export function machine(): Record<string, unknown> {
  return {
    node: process.version,
    arch: arch(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

function fmt(n: number | undefined): string {
  if (n === undefined) return '';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** Prints `rows` as a table and writes them with the machine facts to `results/<topic>.json`. */
export function report(topic: string, rows: readonly BenchRow[], extra: Record<string, unknown> = {}): string {
  const header = ['benchmark', 'value', 'unit', 'baseline', 'ratio', 'target', 'met'];
  const table = rows.map((r) => [
    r.name,
    fmt(r.value),
    r.unit,
    fmt(r.baseline),
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}${r.ratioNote ? ` (${r.ratioNote})` : ''}`,
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const text = [line(header), line(widths.map((w) => '-'.repeat(w))), ...table.map(line)].join('\n');
  console.log(`\n${topic}\n${text}\n`);
  const dir = join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${topic}.json`);
  writeFileSync(file, `${JSON.stringify({ topic, machine: machine(), rows, ...extra }, null, 2)}\n`);
  console.log(`written ${file}`);
  return file;
}

/**
 * The p50, p90 and p99 rows of what `measured` adds over `base` (both in milliseconds), in
 * microseconds; `targetUs` is held against the p50.
 */
export function addedLatencyRows(label: string, base: readonly number[], measured: readonly number[], targetUs?: number): BenchRow[] {
  const b = latencyStats(base);
  const m = latencyStats(measured);
  return (['p50', 'p90', 'p99'] as const).map((q) => {
    const added = (m[q] - b[q]) * 1000;
    const held = q === 'p50' && targetUs !== undefined ? { target: `<= ${targetUs} µs`, met: added <= targetUs } : {};
    return { name: `${label}, ${q}`, unit: 'µs', value: added, baseline: b[q] * 1000, ...held };
  });
}

/** Calls `a(i)` and `b(i)` for each `i < n`, alternating which goes first, so drift in machine load hits both sides alike. */
export async function interleaved(n: number, a: (i: number) => Promise<void>, b: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i++) {
    const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
    await first(i);
    await second(i);
  }
}

/** A deterministic xorshift32 generator of numbers in [0, 1), for reproducible corpora. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}
