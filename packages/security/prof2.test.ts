import { it } from 'vitest';
import { scanString } from './src/scan.js';
it('bomb', () => {
  const bomb = (n: number): string => `api_key = "${'a1'.repeat(n)}` + `\n${'aws_secret_access_key='.repeat(n / 20)}` + `\n${'-----BEGIN PRIVATE KEY-----'.repeat(n / 25)}`;
  for (const n of [20_000, 100_000, 200_000, 400_000]) {
    let best = Infinity;
    for (let i = 0; i < 2; i++) { const t = performance.now(); scanString(bomb(n)); best = Math.min(best, performance.now() - t); }
    console.log(n, best.toFixed(1));
  }
  const parts = [(n: number) => `api_key = "${'a1'.repeat(n)}`, (n: number) => `${'aws_secret_access_key='.repeat(n / 20)}`, (n: number) => `${'-----BEGIN PRIVATE KEY-----'.repeat(n / 25)}`];
  for (const [i, p] of parts.entries()) for (const n of [100_000, 200_000, 400_000, 800_000]) { const t = performance.now(); scanString(p(n)); console.log('part', i, n, (performance.now() - t).toFixed(1)); }
}, 600000);
