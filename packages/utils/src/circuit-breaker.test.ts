import { CircuitBreaker, CircuitOpenError, type CircuitStateChange } from './circuit-breaker.js';
import { rejected } from '@buckley/testing';
import { ManualClock } from './index.js';
import { describe, expect, it } from 'vitest';

const fail =
  (message = 'down') =>
  () =>
    Promise.reject(new Error(message));
const ok = () => Promise.resolve('ok');

function setup(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const clock = new ManualClock(0);
  const changes: CircuitStateChange[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    resetTimeoutMs: 1_000,
    successThreshold: 2,
    clock,
    onStateChange: (c) => changes.push(c),
    ...options,
  });
  return { clock, breaker, changes };
}

describe('CircuitBreaker', () => {
  it('stays closed through successes', async () => {
    const { breaker } = setup();
    for (let i = 0; i < 10; i++) await breaker.execute(ok);
    expect(breaker.state).toBe('closed');
  });

  it('opens after failureThreshold consecutive failures and then fails fast without calling', async () => {
    const { breaker, changes, clock } = setup();
    for (let i = 0; i < 3; i++) await rejected(breaker.execute(fail(`e${i}`)));
    expect(breaker.state).toBe('open');
    let called = false;
    await clock.advance(400);
    const error = await rejected(
      breaker.execute(async () => {
        called = true;
      }),
    );
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(CircuitOpenError);
    const open = error as CircuitOpenError;
    expect(open.retryAfterMs).toBe(600);
    expect(open.consecutiveFailures).toBe(3);
    expect((open.lastError as Error).message).toBe('e2');
    expect(open.recentErrors.map((e) => (e as Error).message)).toEqual(['e0', 'e1', 'e2']);
    expect(changes).toEqual([{ from: 'closed', to: 'open', reason: '3 consecutive failures', lastError: open.lastError }]);
  });

  it('a success in between resets the consecutive count', async () => {
    const { breaker } = setup();
    await rejected(breaker.execute(fail()));
    await rejected(breaker.execute(fail()));
    await breaker.execute(ok);
    await rejected(breaker.execute(fail()));
    expect(breaker.state).toBe('closed');
  });

  it('turns half-open after the timeout and closes after successThreshold successes', async () => {
    const { breaker, changes, clock } = setup();
    for (let i = 0; i < 3; i++) await rejected(breaker.execute(fail()));
    await clock.advance(1_000);
    expect(breaker.state).toBe('half_open');
    await breaker.execute(ok);
    expect(breaker.state).toBe('half_open');
    await breaker.execute(ok);
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(['closed->open', 'open->half_open', 'half_open->closed']);
  });

  it('one half-open failure re-opens it for another full timeout', async () => {
    const { breaker, changes, clock } = setup();
    for (let i = 0; i < 3; i++) await rejected(breaker.execute(fail()));
    await clock.advance(1_000);
    await rejected(breaker.execute(fail('probe failed')));
    expect(breaker.state).toBe('open');
    expect(changes.at(-1)).toMatchObject({ from: 'half_open', to: 'open', reason: 'a half-open probe failed' });
    await clock.advance(999);
    expect(breaker.state).toBe('open');
    await clock.advance(1);
    expect(breaker.state).toBe('half_open');
  });

  it('lets only halfOpenMaxCalls probes through at once', async () => {
    const { breaker, clock } = setup();
    for (let i = 0; i < 3; i++) await rejected(breaker.execute(fail()));
    await clock.advance(1_000);
    let release!: () => void;
    const probe = breaker.execute(() => new Promise<string>((resolve) => (release = () => resolve('done'))));
    const second = await rejected(breaker.execute(ok));
    expect(second).toBeInstanceOf(CircuitOpenError);
    expect((second as CircuitOpenError).retryAfterMs).toBe(0);
    release();
    await expect(probe).resolves.toBe('done');
  });

  it('counts rejected calls in the metrics; isFailure filters what counts', async () => {
    const { breaker } = setup({ isFailure: (e) => (e as Error).message !== 'not mine' });
    for (let i = 0; i < 5; i++) await rejected(breaker.execute(fail('not mine')));
    expect(breaker.state).toBe('closed');
    for (let i = 0; i < 3; i++) await rejected(breaker.execute(fail()));
    await rejected(breaker.execute(ok));
    expect(breaker.metrics()).toEqual({ calls: 9, successes: 0, failures: 3, rejected: 1, state: 'open' });
  });

  it('reset closes the circuit', async () => {
    const { breaker, changes } = setup();
    for (let i = 0; i < 3; i++) await rejected(breaker.execute(fail()));
    breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(changes.at(-1)).toMatchObject({ from: 'open', to: 'closed', reason: 'reset' });
    await expect(breaker.execute(ok)).resolves.toBe('ok');
  });

  it('a throwing state-change callback does not break it', async () => {
    const { breaker } = setup({
      onStateChange: () => {
        throw new Error('observer');
      },
    });
    for (let i = 0; i < 3; i++) await rejected(breaker.execute(fail()));
    expect(breaker.state).toBe('open');
  });
});
