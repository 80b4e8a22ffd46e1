import { thrown } from '@buckley/testing';
import { describe, expect, it } from 'vitest';
import { InvalidAttributionError, createAttributionContext, familyOf, isDenial, OperationDeniedError } from './index.js';

describe('attribution context', () => {
  it('nested scopes inherit the outer ids and override only what they set, across awaits and timers', async () => {
    const context = createAttributionContext();
    expect(context.current()).toEqual({});
    const seen = await context.run({ sessionId: 's1', planId: 'p1', attempt: 1 }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return context.run({ taskId: 't1', attempt: 2, planId: undefined }, async () => {
        const inner = await new Promise((resolve) => setImmediate(() => resolve(context.current())));
        return { inner, outerAgain: undefined };
      });
    });
    expect(seen.inner).toEqual({ sessionId: 's1', planId: 'p1', taskId: 't1', attempt: 2 });
    expect(context.current()).toEqual({});
  });

  it('concurrent scopes do not see each other', async () => {
    const context = createAttributionContext();
    const results = await Promise.all(
      ['a', 'b', 'c'].map((id) =>
        context.run({ sessionId: id }, async () => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
          return context.current().sessionId;
        }),
      ),
    );
    expect(results).toEqual(['a', 'b', 'c']);
  });

  it('two contexts are independent', () => {
    const one = createAttributionContext();
    const two = createAttributionContext();
    one.run({ sessionId: 's' }, () => expect(two.current()).toEqual({}));
  });

  it.each([
    ['attempt', 0, 'an integer >= 1'],
    ['attempt', 1.5, 'an integer >= 1'],
    ['traceId', 'ABC', '32 lower-case hex digits'],
    ['traceId', '0'.repeat(32), 'not all zero'],
    ['spanId', 'z'.repeat(16), '16 lower-case hex digits'],
    ['sessionId', '', 'a string of 1 to 200 characters'],
    ['sessionId', 42, 'a string of 1 to 200 characters'],
    ['sessionId', 'a b', 'without whitespace'],
    ['taskId', 'x'.repeat(201), 'a string of 1 to 200 characters'],
  ])('refuses %s = %j before running the scope', (field, value, expected) => {
    const context = createAttributionContext();
    let ran = false;
    const error = thrown(() => context.run({ [field]: value } as never, () => (ran = true)));
    expect(error).toBeInstanceOf(InvalidAttributionError);
    expect(error).toMatchObject({ code: 'INVALID_ATTRIBUTION', field });
    expect((error as Error).message).toContain(expected);
    expect(error).not.toHaveProperty('value');
    expect((error as Error).message).not.toContain(JSON.stringify(value));
    expect(ran).toBe(false);
  });
});

describe('families and denial', () => {
  it('derives the family of an event type', () => {
    expect(familyOf('tool.run.timed_out')).toBe('tool.run');
    expect(familyOf('model.call.completed')).toBe('model.call');
    expect(familyOf('plan.created')).toBe('plan');
    expect(familyOf('security.finding')).toBe('security.finding');
    expect(familyOf('x')).toBe('x');
  });

  it('an OperationDeniedError or any error with outcome denied is a denial; other errors are not', () => {
    expect(isDenial(new OperationDeniedError('network is off', { rule: 'network_disabled' }))).toBe(true);
    expect(isDenial(Object.assign(new Error('no'), { outcome: 'denied' }))).toBe(true);
    expect(isDenial(new Error('boom'))).toBe(false);
    expect(isDenial(undefined)).toBe(false);
  });
});
