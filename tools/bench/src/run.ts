// Runs one benchmark topic: `pnpm --filter @buckley/bench bench <topic>`.
// Each topic is a module `src/<topic>.bench.ts` whose default export is an async function.
const topic = process.argv[2];
if (!topic) {
  console.error('usage: pnpm --filter @buckley/bench bench <topic>   (a src/<topic>.bench.ts file)');
  process.exit(2);
}
const mod = (await import(`./${topic}.bench.ts`)) as { default: () => Promise<void> };
await mod.default();
