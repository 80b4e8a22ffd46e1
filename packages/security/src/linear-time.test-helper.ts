/**
 * Linear-time check shared by the tests, built to hold on a loaded 2-core machine: it times
 * `run` on a small and an 8x larger input (inputs built before timing, best of five after a
 * warm-up; `runs` sets how many, for inputs of megabytes) and accepts when the time grows less than 32x. Linear work grows ~8x, quadratic
 * ~64x, so a 4x margin is left for noise; a spike on one attempt is retried (up to three
 * attempts), while a quadratic implementation fails every attempt.
 */
export function growthRatio<T>(make: (n: number) => T, run: (input: T) => unknown, n: number, runs = 5): { ratio: number; attempts: number[] } {
  const small = make(n);
  const large = make(8 * n);
  const best = (input: T): number => {
    let min = Infinity;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      run(input);
      min = Math.min(min, performance.now() - start);
    }
    return min;
  };
  run(small);
  const attempts: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    // Floor at 2 ms: below that, timer resolution and one GC pause dominate.
    const ratio = best(large) / Math.max(best(small), 2);
    attempts.push(ratio);
    if (ratio < 32) break;
  }
  return { ratio: Math.min(...attempts), attempts };
}
