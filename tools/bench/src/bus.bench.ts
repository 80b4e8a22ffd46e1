// Bus throughput and request/reply latency: NatsBus against raw nats.js in the same run, on
// the integration server (BUCKLEY_TEST_NATS_URL). One publisher here, the subscriber or
// responder in another process, 128-byte bodies. Run: pnpm --filter @buckley/bench bench bus
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createNatsBus } from '@buckley/nats';
import { connect } from '@nats-io/transport-node';
import { type BenchRow, latencyStats, report } from './harness.js';

const url = process.env.BUCKLEY_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const MESSAGES = Number(process.env.BENCH_BUS_MESSAGES ?? 500_000);
const REQUESTS = Number(process.env.BENCH_BUS_REQUESTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_BUS_ROUNDS ?? 4);
const body = new Uint8Array(128).fill(120);
const tsx = join(import.meta.dirname, '..', 'node_modules', '.bin', 'tsx');

function worker(args: string[]): { child: ChildProcess; lines: AsyncIterator<string> } {
  const child = spawn(tsx, ['--conditions=@buckley/source', join(import.meta.dirname, 'bus-worker.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, lines };
}

async function nextLine(lines: AsyncIterator<string>): Promise<string> {
  const { value, done } = await lines.next();
  if (done) throw new Error('worker exited early');
  return value;
}

async function throughput(mode: 'raw' | 'bus', subject: string): Promise<{ subscriber: number; publisher: number }> {
  const { child, lines } = worker(['sub', mode, url, subject, String(MESSAGES)]);
  if ((await nextLine(lines)) !== 'READY') throw new Error('subscriber did not start');
  const nc = await connect({ servers: url, name: `bench-pub-${mode}` });
  const bus = createNatsBus(nc);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    if (mode === 'raw') nc.publish(subject, body);
    else bus.publish(subject, body);
    if ((i & 16_383) === 16_383) await nc.flush();
  }
  await nc.flush();
  const publisher = MESSAGES / ((performance.now() - started) / 1000);
  const result = JSON.parse(await nextLine(lines)) as { rate: number };
  child.stdin!.end();
  await bus.close();
  await nc.drain();
  return { subscriber: result.rate, publisher };
}

async function roundTrips(mode: 'raw' | 'bus', subject: string): Promise<number[]> {
  const { child, lines } = worker(['responder', mode, url, subject]);
  if ((await nextLine(lines)) !== 'READY') throw new Error('responder did not start');
  const nc = await connect({ servers: url, name: `bench-req-${mode}` });
  const bus = createNatsBus(nc);
  const one = mode === 'raw' ? () => nc.request(subject, body, { timeout: 5_000 }) : () => bus.request(subject, body, { timeoutMs: 5_000 });
  for (let i = 0; i < 1_000; i++) await one();
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    await one();
    samples.push(performance.now() - t);
  }
  child.stdin!.end();
  await new Promise((resolve) => child.once('exit', resolve));
  await bus.close();
  await nc.drain();
  return samples;
}

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function run(): Promise<void> {
  const prefix = `bench_${process.pid}`;
  const raw: number[] = [];
  const bus: number[] = [];
  const rawPub: number[] = [];
  const busPub: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which goes first so drift and warm-up on the shared machine hit both alike.
    const first = r % 2 === 0 ? 'raw' : 'bus';
    const x = await throughput(first, `${prefix}.tp.${first}${r}`);
    const y = await throughput(first === 'raw' ? 'bus' : 'raw', `${prefix}.tp.other${r}`);
    const [a, b] = first === 'raw' ? [x, y] : [y, x];
    raw.push(a.subscriber);
    rawPub.push(a.publisher);
    bus.push(b.subscriber);
    busPub.push(b.publisher);
  }
  const rawRr: number[] = [];
  const busRr: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      rawRr.push(...(await roundTrips('raw', `${prefix}.rr.raw${r}`)));
      busRr.push(...(await roundTrips('bus', `${prefix}.rr.bus${r}`)));
    } else {
      busRr.push(...(await roundTrips('bus', `${prefix}.rr.bus${r}`)));
      rawRr.push(...(await roundTrips('raw', `${prefix}.rr.raw${r}`)));
    }
  }
  const rawStats = latencyStats(rawRr);
  const busStats = latencyStats(busRr);
  const tpRatio = median(bus) / median(raw);
  const rows: BenchRow[] = [
    {
      name: 'publish throughput at the subscriber (128 B, 1 pub, 1 sub process)',
      unit: 'msgs/s',
      value: median(bus),
      baseline: median(raw),
      ratio: tpRatio,
      target: '>= 0.8 of raw',
      met: tpRatio >= 0.8,
    },
    { name: 'publisher send rate', unit: 'msgs/s', value: median(busPub), baseline: median(rawPub), ratio: median(busPub) / median(rawPub) },
    {
      name: 'request/reply round trip p50',
      unit: 'ms',
      value: busStats.p50,
      baseline: rawStats.p50,
      ratio: busStats.p50 / rawStats.p50,
      ratioNote: 'bus/raw, lower is better',
      target: '<= 1.5x raw',
      met: busStats.p50 <= 1.5 * rawStats.p50,
    },
    {
      name: 'request/reply round trip p99',
      unit: 'ms',
      value: busStats.p99,
      baseline: rawStats.p99,
      ratio: busStats.p99 / rawStats.p99,
      ratioNote: 'bus/raw, lower is better',
    },
  ];
  report('bus', rows, {
    params: { messages: MESSAGES, requests: REQUESTS, rounds: ROUNDS, bodyBytes: body.byteLength, url },
    samples: { rawThroughput: raw, busThroughput: bus, rawLatency: rawStats, busLatency: busStats },
  });
}
