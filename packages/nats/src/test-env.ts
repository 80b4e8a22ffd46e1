import { connect, type NatsConnection } from '@nats-io/transport-node';

/** The shared NATS server of integration tests (ARCHITECTURE §7). */
const NATS_URL = process.env.BUCKLEY_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Opens a connection to the test server; fails (never skips) when it is unreachable. */
export async function connectTest(name = 'buckley-test'): Promise<NatsConnection> {
  try {
    return await connect({ servers: NATS_URL, name, timeout: 3_000 });
  } catch (error) {
    throw new Error(`cannot reach NATS at ${NATS_URL} (set BUCKLEY_TEST_NATS_URL): ${(error as Error).message}`, { cause: error });
  }
}
