import { describe, expect, it } from 'vitest';
import { type ModelCallEvent, costOf, findPrice, foldModelCalls, initialModelCallTotals } from './index.js';

const price = { model: 'm', input: 3, cachedInput: 0.3, output: 15 };

describe('costOf', () => {
  it('bills uncached input, cached input and output per million tokens', () => {
    expect(costOf({ inputTokens: 2_000_000, cachedInputTokens: 1_000_000, outputTokens: 100_000 }, price)).toBeCloseTo(3 + 0.3 + 1.5, 12);
  });

  it('bills cached tokens at the input price when the row has no cachedInput, and never counts more cached than input', () => {
    expect(costOf({ inputTokens: 1_000_000, cachedInputTokens: 1_000_000, outputTokens: 0 }, { model: 'm', input: 2, output: 1 })).toBe(2);
    expect(costOf({ inputTokens: 10, cachedInputTokens: 50, outputTokens: 0 }, price)).toBeCloseTo((10 * 0.3) / 1e6, 15);
  });

  it('is null without usage or without a price', () => {
    expect(costOf(null, price)).toBeNull();
    expect(costOf({ inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 }, undefined)).toBeNull();
  });
});

describe('findPrice', () => {
  const prices = [price, { model: 'm-2026', input: 1, output: 1 }];
  it('prefers the response model, falls back to the requested one, else none', () => {
    expect(findPrice(prices, 'm', 'm-2026')?.model).toBe('m-2026');
    expect(findPrice(prices, 'm', 'm-unknown-variant')?.model).toBe('m');
    expect(findPrice(prices, 'x', null)).toBeUndefined();
  });
});

describe('foldModelCalls', () => {
  it('totals calls, tokens, known cost, unpriced calls and failures by code', () => {
    const meta = { modelId: 'm' };
    const events: ModelCallEvent[] = [
      { type: 'model.call.started', data: { callId: 'a', model: 'm', provider: 'openai', server: 'h:1', messageCount: 1, toolCount: 0 }, metadata: meta },
      {
        type: 'model.call.completed',
        data: {
          callId: 'a',
          model: 'm',
          responseModel: 'm',
          finishReason: 'stop',
          toolCallCount: 0,
          inputTokens: 10,
          cachedInputTokens: 0,
          outputTokens: 5,
          reasoningTokens: null,
          costUsd: 0.25,
          durationMs: 3,
          timeToFirstTokenMs: 1,
          attempts: 1,
        },
        metadata: { ...meta, outcome: 'success' },
      },
      {
        type: 'model.call.completed',
        data: {
          callId: 'b',
          model: 'x',
          responseModel: null,
          finishReason: 'stop',
          toolCallCount: 0,
          inputTokens: null,
          cachedInputTokens: null,
          outputTokens: null,
          reasoningTokens: null,
          costUsd: null,
          durationMs: 3,
          timeToFirstTokenMs: null,
          attempts: 1,
        },
        metadata: { ...meta, outcome: 'success' },
      },
      {
        type: 'model.call.failed',
        data: { callId: 'c', model: 'm', errorCode: 'MODEL_TIMEOUT', message: 't', status: null, durationMs: 9, attempts: 3 },
        metadata: { ...meta, outcome: 'timeout' },
      },
    ];
    expect(events.reduce(foldModelCalls, initialModelCallTotals)).toEqual({
      started: 1,
      completed: 2,
      failed: 1,
      failuresByCode: { MODEL_TIMEOUT: 1 },
      inputTokens: 10,
      outputTokens: 5,
      costUsd: 0.25,
      unpricedCalls: 1,
    });
  });
});
