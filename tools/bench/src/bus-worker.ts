// The other process of bus.bench.ts: a subscriber that counts (and times) messages, or a
// responder that echoes requests. Usage: bus-worker.ts <sub|responder> <raw|bus> <url> <subject> [count]
import { createNatsBus } from '@buckley/nats';
import { connect } from '@nats-io/transport-node';

const [role, mode, url, subject, countArg] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const nc = await connect({ servers: url, name: `bench-${role}-${mode}` });
const bus = createNatsBus(nc);

if (role === 'sub') {
  const count = Number(countArg);
  let n = 0;
  let first = 0;
  const done = Promise.withResolvers<void>();
  const onMessage = () => {
    if (n === 0) first = performance.now();
    if (++n === count) done.resolve();
  };
  if (mode === 'raw') nc.subscribe(subject, { callback: onMessage });
  else await bus.subscribe(subject, onMessage);
  await nc.flush();
  process.stdout.write('READY\n');
  await done.promise;
  const seconds = (performance.now() - first) / 1000;
  process.stdout.write(`${JSON.stringify({ received: n, rate: (n - 1) / seconds })}\n`);
} else {
  if (mode === 'raw') nc.subscribe(subject, { callback: (_, m) => void m.respond(m.data) });
  else await bus.subscribe(subject, (m) => void m.respond(m.data));
  await nc.flush();
  process.stdout.write('READY\n');
  await new Promise<void>((resolve) => process.stdin.on('close', resolve).resume());
}
await bus.close();
await nc.drain();
