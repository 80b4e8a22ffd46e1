import type { CapturedOutput } from './sandbox.js';

/**
 * Keeps the first `cap` bytes written to it and counts the rest, so memory stays bounded however
 * much a command prints. Decoding happens once at the end and never throws on a cut multibyte
 * character or invalid UTF-8.
 */
export class CappedBuffer {
  readonly #cap: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #total = 0;

  constructor(cap: number) {
    this.#cap = cap;
  }

  /** Total bytes seen so far. */
  get totalBytes(): number {
    return this.#total;
  }

  /** Adds one chunk, keeping at most the cap. */
  push(chunk: Buffer): void {
    this.#total += chunk.length;
    const room = this.#cap - this.#kept;
    if (room <= 0) return;
    // A copy, so the stream's pooled buffer is not held alive by a small slice.
    const part = chunk.length <= room ? chunk : Buffer.from(chunk.subarray(0, room));
    this.#chunks.push(part);
    this.#kept += part.length;
  }

  /** The captured text, total count and truncation flag. */
  result(): CapturedOutput {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(this.#chunks, this.#kept));
    return { text, totalBytes: this.#total, truncated: this.#total > this.#cap };
  }
}
