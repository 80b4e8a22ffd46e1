import { inspect } from 'node:util';
import { createInMemoryEventStore } from '@buckley/events';
import { rejected, thrown } from '@buckley/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  ATTRIBUTION_FIELDS,
  createAttributionContext,
  createBatchingWriter,
  createObservabilityMetrics,
  createRecorder,
  createSseHandler,
  createTracing,
  isObservabilityError,
  openLiveStream,
} from './index.js';

// Shaped like a GitHub token, with a space so it fails every id rule.
const secret = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2 b'].join('_');

/** Fails when the secret is anywhere in the error: message, stack, own fields, causes. */
let checked = 0;
function expectNoSecret(error: unknown): void {
  checked++;
  expect(isObservabilityError(error)).toBe(true);
  const everything = `${(error as Error).message}\n${(error as Error).stack}\n${inspect(error, { depth: 10, showHidden: true })}`;
  expect(everything).not.toContain(secret);
  expect(everything).not.toContain(secret.slice(0, 20));
}

describe('no error of this package quotes the bad value', () => {
  it.each(ATTRIBUTION_FIELDS)('a secret as attribution %s: the field, the rule and the length, never the value', (field) => {
    const error = thrown(() => createAttributionContext().run({ [field]: secret } as never, () => undefined));
    expectNoSecret(error);
    expect((error as Error).message).toContain(`attribution ${field} is invalid (a string of ${secret.length} characters), expected`);
  });

  it('a 10 MB attribution value gives a short message', () => {
    const error = thrown(() => createAttributionContext().run({ sessionId: 'x'.repeat(10 * 1024 * 1024) }, () => undefined));
    expect((error as Error).message.length).toBeLessThan(200);
  });

  it('a secret in the attribution of observe(), in an option of every factory, as a live-stream cursor or filter', async () => {
    await using store = createInMemoryEventStore();
    await using recorder = createRecorder({ store });
    checked = 0;
    expectNoSecret(await rejected(recorder.observe({ family: 'tool.run', name: 'x', attribution: { taskId: secret } }, () => 1)));
    expectNoSecret(await rejected(recorder.observe({ family: secret as never, name: 'x' }, () => 1)));
    expectNoSecret(await rejected(recorder.observe({ family: 'tool.run', name: 'x', timeoutMs: secret as never }, () => 1)));
    expectNoSecret(thrown(() => createRecorder({ store, operationWrites: secret as never })));
    expectNoSecret(thrown(() => createRecorder({ store: secret as never })));
    expectNoSecret(thrown(() => createBatchingWriter(store, { overflow: secret as never })));
    expectNoSecret(thrown(() => createBatchingWriter(store, { maxBatch: secret as never })));
    expectNoSecret(thrown(() => createObservabilityMetrics({ registry: new Registry(), maxLabelValues: secret as never })));
    expectNoSecret(thrown(() => createTracing({ otlpEndpoint: `ftp://${secret}` })));
    expectNoSecret(thrown(() => createTracing({ otlpEndpoint: secret })));
    expectNoSecret(thrown(() => createSseHandler({ store, heartbeatMs: secret as never })));
    expectNoSecret(await rejected(openLiveStream({ store, from: secret as never })));
    expectNoSecret(await rejected(openLiveStream({ store, after: secret })));
    expectNoSecret(await rejected(openLiveStream({ store, filter: { outcome: secret as never } })));
    expectNoSecret(await rejected(openLiveStream({ store, filter: { [secret]: 'x' } as never })));
    expectNoSecret(await rejected(openLiveStream({ store, filter: { occurredFrom: secret } })));
    expect(checked).toBe(16);
  });
});
