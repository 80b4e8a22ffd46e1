import { checkSkips } from './errors.js';
import {
  type Bus,
  type BusMessage,
  BusTimeoutError,
  InvalidHeaderError,
  InvalidSubjectError,
  NoRespondersError,
  ORIGINAL_SUBJECT_HEADER,
  PayloadTooLargeError,
  REJECT_REASON_HEADER,
  buildSubject as makeSubject,
  subscribeJson,
} from '@buckley/bus';
import type { InvalidMessageError } from '@buckley/bus';
import { AbortedError, ClosedError, isClosedError } from '@buckley/utils';
import { afterEach, describe, expect, it } from 'vitest';
import { rejected, thrown } from './errors.js';
import { waitUntil } from './wait.js';

/** What an adapter test gives {@link describeBusConformance}. */
export interface BusConformanceOptions {
  /** Shown in the suite name, e.g. `'InMemoryBus'`. */
  readonly name: string;
  /**
   * A subject prefix owned by this test file (one token, e.g. `t_<random>`); every subject
   * the suite uses starts with it.
   */
  readonly prefix: string;
  /**
   * Opens a bus. Buses opened within one test must share one transport (same server), so a
   * message published on one reaches subscriptions of another. The suite closes each bus
   * after its test; the adapter test closes whatever else it opened (connections).
   */
  readonly create: () => Promise<Bus>;
  /** Tests to leave out, each with its reason. */
  readonly skip?: Readonly<Record<string, string>>;
}

const enc = new TextEncoder();

/**
 * The behaviour every {@link Bus} adapter must have: subject wildcards, queue groups,
 * headers, request/reply with typed errors, input validation, typed JSON subjects with
 * dead-lettering, handler isolation, ordering and close.
 */
export function describeBusConformance(options: BusConformanceOptions): void {
  const { name, prefix, create } = options;
  const skip = options.skip ?? {};
  let opened: Bus[] = [];
  let n = 0;
  const open = async () => {
    const bus = await create();
    opened.push(bus);
    return bus;
  };
  /** A fresh subject namespace per test. */
  const ns = () => `${prefix}.c${++n}`;
  const titles: string[] = [];
  const test = (title: string, fn: () => Promise<void>) => {
    titles.push(title);
    if (skip[title] !== undefined) return;
    // oxlint-disable-next-line vitest/valid-title, vitest/expect-expect -- titles and assertions come from the suite's cases
    it(title, fn);
  };

  /** Collects messages; `sentinel` proves that everything published before it was handled. */
  const collector = () => {
    const got: BusMessage[] = [];
    return { got, handler: (m: BusMessage) => void got.push(m) };
  };

  describe(`Bus conformance: ${name}`, () => {
    // Runs after every case below has registered its title.
    checkSkips(titles, skip);
    afterEach(async () => {
      await Promise.all(opened.map((b) => b.close()));
      opened = [];
    });

    test('delivers data, subject and headers to a subscriber', async () => {
      const bus = await open();
      const s = ns();
      const c = collector();
      await bus.subscribe(`${s}.x`, c.handler);
      bus.publish(`${s}.x`, 'hello', { headers: { 'Buckley-Trace': 'abc', 'X-Two': 'a b' } });
      bus.publish(`${s}.x`, enc.encode('bytes'));
      await waitUntil(() => c.got.length === 2);
      expect(c.got[0]!.subject).toBe(`${s}.x`);
      expect(c.got[0]!.text()).toBe('hello');
      expect(c.got[0]!.headers['Buckley-Trace']).toBe('abc');
      expect(c.got[0]!.headers['X-Two']).toBe('a b');
      expect(c.got[0]!.reply).toBeUndefined();
      expect(new TextDecoder().decode(c.got[1]!.data)).toBe('bytes');
      expect(c.got[1]!.headers).toEqual({});
    });

    test('reaches subscribers on another bus of the same transport', async () => {
      const a = await open();
      const b = await open();
      const s = ns();
      const ca = collector();
      const cb = collector();
      await a.subscribe(`${s}.x`, ca.handler);
      await b.subscribe(`${s}.x`, cb.handler);
      a.publish(`${s}.x`, '1');
      await waitUntil(() => ca.got.length === 1 && cb.got.length === 1);
    });

    test('"*" matches exactly one token and ">" one or more trailing tokens', async () => {
      const bus = await open();
      const s = ns();
      const star = collector();
      const rest = collector();
      const mid = collector();
      await bus.subscribe(`${s}.agent.*`, star.handler);
      await bus.subscribe(`${s}.agent.>`, rest.handler);
      await bus.subscribe(`${s}.*.x.*`, mid.handler);
      for (const subj of [`${s}.agent`, `${s}.agent.a`, `${s}.agent.a.b`, `${s}.task.x.1`, `${s}.task.x`, `${s}.done`]) {
        bus.publish(subj, subj);
      }
      bus.publish(`${s}.done`, 'end');
      await bus.subscribe(`${s}.done`, () => {});
      bus.publish(`${s}.agent.z`, 'last');
      await waitUntil(() => star.got.some((m) => m.text() === 'last') && rest.got.some((m) => m.text() === 'last'));
      expect(star.got.map((m) => m.subject)).toEqual([`${s}.agent.a`, `${s}.agent.z`]);
      expect(rest.got.map((m) => m.subject)).toEqual([`${s}.agent.a`, `${s}.agent.a.b`, `${s}.agent.z`]);
      expect(mid.got.map((m) => m.subject)).toEqual([`${s}.task.x.1`]);
    });

    test('encoded id tokens keep "a.b", "a_b" and "a-b" on distinct subjects', async () => {
      const bus = await open();
      const s = ns();
      const ids = ['a.b', 'a_b', 'a-b', 'agent:1 *>'];
      const got = new Map<string, string[]>();
      for (const id of ids) {
        const list: string[] = [];
        got.set(id, list);
        await bus.subscribe(makeSubject(s, { id }, 'inbox'), (m) => void list.push(m.text()));
      }
      for (const id of ids) bus.publish(makeSubject(s, { id }, 'inbox'), id);
      await waitUntil(() => [...got.values()].every((l) => l.length >= 1));
      await bus.flush();
      for (const id of ids) expect(got.get(id)).toEqual([id]);
    });

    test('a queue group hands each message to exactly one member; plain subscribers get all', async () => {
      const a = await open();
      const b = await open();
      const s = ns();
      const m1 = collector();
      const m2 = collector();
      const m3 = collector();
      const all = collector();
      await a.subscribe(`${s}.work`, m1.handler, { queue: 'workers' });
      await b.subscribe(`${s}.work`, m2.handler, { queue: 'workers' });
      await b.subscribe(`${s}.work`, m3.handler, { queue: 'workers' });
      await a.subscribe(`${s}.work`, all.handler);
      const total = 60;
      for (let i = 0; i < total; i++) a.publish(`${s}.work`, String(i));
      await waitUntil(() => all.got.length === total && m1.got.length + m2.got.length + m3.got.length === total);
      await a.flush();
      await b.flush();
      const handled = [...m1.got, ...m2.got, ...m3.got].map((m) => Number(m.text())).toSorted((x, y) => x - y);
      expect(handled).toEqual(Array.from({ length: total }, (_, i) => i));
      expect([m1.got.length, m2.got.length, m3.got.length].filter((k) => k > 0).length).toBeGreaterThanOrEqual(2);
    });

    test('unsubscribe stops delivery and is idempotent; aborting the signal unsubscribes', async () => {
      const bus = await open();
      const s = ns();
      const c = collector();
      const d = collector();
      const controller = new AbortController();
      const sub = await bus.subscribe(`${s}.x`, c.handler);
      await bus.subscribe(`${s}.x`, d.handler, { signal: controller.signal });
      const probe = collector();
      await bus.subscribe(`${s}.x`, probe.handler);
      bus.publish(`${s}.x`, '1');
      await waitUntil(() => c.got.length === 1 && d.got.length === 1);
      await sub.unsubscribe();
      await sub.unsubscribe();
      controller.abort();
      expect(sub.closed).toBe(true);
      await waitUntil(async () => {
        await bus.flush();
        return true;
      });
      bus.publish(`${s}.x`, '2');
      await waitUntil(() => probe.got.length === 2);
      await bus.flush();
      expect(c.got.map((m) => m.text())).toEqual(['1']);
      expect(d.got.map((m) => m.text())).toEqual(['1']);
      expect(sub.delivered).toBe(1);
    });

    test('request/reply returns the reply with its headers', async () => {
      const a = await open();
      const b = await open();
      const s = ns();
      await b.subscribe(`${s}.echo`, (m) => {
        m.respond(`echo: ${m.text()}`, { headers: { 'X-Seen': m.headers['X-Ask'] ?? '' } });
      });
      const reply = await a.request(`${s}.echo`, 'hi', { timeoutMs: 2_000, headers: { 'X-Ask': 'q' } });
      expect(reply.text()).toBe('echo: hi');
      expect(reply.headers['X-Seen']).toBe('q');
    });

    test('request with nobody subscribed fails with NoRespondersError', async () => {
      const bus = await open();
      const s = ns();
      const error = await rejected(bus.request(`${s}.nobody`, 'x', { timeoutMs: 2_000 }));
      expect(error).toBeInstanceOf(NoRespondersError);
      expect((error as NoRespondersError).retryable).toBe(true);
      expect((error as NoRespondersError).subject).toBe(`${s}.nobody`);
    });

    test('request honours timeoutMs with BusTimeoutError', async () => {
      const bus = await open();
      const s = ns();
      await bus.subscribe(`${s}.silent`, () => {});
      const started = Date.now();
      const error = await rejected(bus.request(`${s}.silent`, 'x', { timeoutMs: 150 }));
      expect(error).toBeInstanceOf(BusTimeoutError);
      expect((error as BusTimeoutError).timeoutMs).toBe(150);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    test('request stops at once when its signal aborts', async () => {
      const bus = await open();
      const s = ns();
      await bus.subscribe(`${s}.silent`, () => {});
      const controller = new AbortController();
      const pending = bus.request(`${s}.silent`, 'x', { timeoutMs: 10_000, signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      const started = Date.now();
      expect(await rejected(pending)).toBeInstanceOf(AbortedError);
      expect(Date.now() - started).toBeLessThan(2_000);
      const already = new AbortController();
      already.abort();
      expect(await rejected(bus.request(`${s}.silent`, 'x', { signal: already.signal }))).toBeInstanceOf(AbortedError);
    });

    test('malformed subjects fail with InvalidSubjectError and send nothing', async () => {
      const bus = await open();
      const s = ns();
      const c = collector();
      await bus.subscribe(`${s}.>`, c.handler);
      for (const bad of ['', `${s}..x`, `${s}.x.`, `${s} .x`, `${s}.a\tb`, `${s}.*`, `${s}.>`, `${s}.a*`]) {
        const error = thrown(() => bus.publish(bad, 'x'));
        expect(error).toBeInstanceOf(InvalidSubjectError);
        expect((error as InvalidSubjectError).message).toContain(JSON.stringify(bad));
      }
      for (const bad of [`${s}.>.x`, `${s}.a>`, `${s}.*a`, `${s}..*`, '']) {
        expect(await rejected(bus.subscribe(bad, () => {}))).toBeInstanceOf(InvalidSubjectError);
      }
      expect(await rejected(bus.request(`${s}.*`, 'x'))).toBeInstanceOf(InvalidSubjectError);
      bus.publish(`${s}.sentinel`, 'end');
      await waitUntil(() => c.got.length >= 1);
      expect(c.got.map((m) => m.subject)).toEqual([`${s}.sentinel`]);
    });

    test('a payload over maxPayload fails with PayloadTooLargeError and sends nothing', async () => {
      const bus = await open();
      const s = ns();
      const c = collector();
      await bus.subscribe(`${s}.>`, c.handler);
      expect(bus.maxPayload).toBeGreaterThan(1024);
      const error = thrown(() => bus.publish(`${s}.big`, new Uint8Array(bus.maxPayload + 1)));
      expect(error).toBeInstanceOf(PayloadTooLargeError);
      expect((error as PayloadTooLargeError).maxPayload).toBe(bus.maxPayload);
      expect((error as PayloadTooLargeError).size).toBeGreaterThan(bus.maxPayload);
      expect(await rejected(bus.request(`${s}.big`, new Uint8Array(bus.maxPayload + 1)))).toBeInstanceOf(PayloadTooLargeError);
      bus.publish(`${s}.ok`, new Uint8Array(bus.maxPayload - 4096));
      await waitUntil(() => c.got.length >= 1);
      expect(c.got.map((m) => m.subject)).toEqual([`${s}.ok`]);
    });

    test('a header that cannot be carried fails with InvalidHeaderError', async () => {
      const bus = await open();
      const s = ns();
      expect(thrown(() => bus.publish(`${s}.x`, 'x', { headers: { 'Bad:Name': 'v' } }))).toBeInstanceOf(InvalidHeaderError);
      expect(thrown(() => bus.publish(`${s}.x`, 'x', { headers: { 'Bad Name': 'v' } }))).toBeInstanceOf(InvalidHeaderError);
      expect(thrown(() => bus.publish(`${s}.x`, 'x', { headers: { Ok: 'line\r\nbreak' } }))).toBeInstanceOf(InvalidHeaderError);
    });

    test('a typed subject parks non-JSON and invalid bodies with a reason, once, and handles the rest', async () => {
      const bus = await open();
      const s = ns();
      const good: Array<{ n: number }> = [];
      const invalid: InvalidMessageError[] = [];
      const parked = collector();
      await bus.subscribe(`${s}.dead`, parked.handler);
      await subscribeJson<{ n: number }>(bus, `${s}.typed`, (v) => void good.push(v), {
        validate: (v) => (typeof (v as { n?: unknown } | null)?.n === 'number' ? undefined : 'field "n" must be a number'),
        deadLetterSubject: `${s}.dead`,
        onInvalid: (error) => void invalid.push(error),
      });
      bus.publish(`${s}.typed`, '{"n":1}');
      bus.publish(`${s}.typed`, 'not json {');
      bus.publish(`${s}.typed`, new Uint8Array([0xff, 0xfe]));
      bus.publish(`${s}.typed`, '{"n":"two"}');
      bus.publish(`${s}.typed`, '{"n":3}');
      await waitUntil(() => good.length === 2 && parked.got.length === 3);
      await bus.flush();
      expect(good).toEqual([{ n: 1 }, { n: 3 }]);
      expect(invalid.map((e) => e.reason)).toEqual([expect.stringContaining('not JSON'), 'body is not UTF-8', 'field "n" must be a number']);
      expect(parked.got.map((m) => m.headers[REJECT_REASON_HEADER])).toEqual(invalid.map((e) => e.reason));
      expect(parked.got.every((m) => m.headers[ORIGINAL_SUBJECT_HEADER] === `${s}.typed`)).toBe(true);
      expect(parked.got[0]!.text()).toBe('not json {');
    });

    test('a throwing handler is reported and does not stop later deliveries', async () => {
      const bus = await open();
      const s = ns();
      const errors: unknown[] = [];
      const seen: string[] = [];
      await bus.subscribe(
        `${s}.x`,
        async (m) => {
          seen.push(m.text());
          if (m.text() === 'boom') throw new Error('handler failed');
        },
        { onError: (error) => errors.push(error) },
      );
      for (const t of ['a', 'boom', 'b']) bus.publish(`${s}.x`, t);
      await waitUntil(() => seen.length === 3 && errors.length === 1);
      expect((errors[0] as Error).message).toBe('handler failed');
    });

    test('one subscription handles messages one at a time in publish order', async () => {
      const bus = await open();
      const s = ns();
      const order: number[] = [];
      let active = 0;
      let maxActive = 0;
      await bus.subscribe(`${s}.seq`, async (m) => {
        active++;
        maxActive = Math.max(maxActive, active);
        if (Number(m.text()) % 10 === 0) await new Promise((r) => setTimeout(r, 2));
        order.push(Number(m.text()));
        active--;
      });
      for (let i = 0; i < 200; i++) bus.publish(`${s}.seq`, String(i));
      await waitUntil(() => order.length === 200);
      expect(order).toEqual(Array.from({ length: 200 }, (_, i) => i));
      expect(maxActive).toBe(1);
    });

    test('after close every call fails with ClosedError (code CLOSED); close is idempotent', async () => {
      const bus = await open();
      const s = ns();
      const sub = await bus.subscribe(`${s}.x`, () => {});
      await bus.close();
      await bus.close();
      expect(sub.closed).toBe(true);
      await bus[Symbol.asyncDispose]();
      const errors = [thrown(() => bus.publish(`${s}.x`, 'x')), await rejected(bus.subscribe(`${s}.x`, () => {})), await rejected(bus.request(`${s}.x`, 'x'))];
      for (const error of errors) {
        expect(error).toBeInstanceOf(ClosedError);
        expect(isClosedError(error)).toBe(true);
        expect((error as ClosedError).resource).toBe('bus');
      }
    });
  });
}
