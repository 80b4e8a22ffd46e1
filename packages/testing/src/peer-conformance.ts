import { type Bus, BusTimeoutError, NoRespondersError, agentInboxSubject } from '@buckley/bus';
import {
  PEER_TOKEN_HEADER,
  PeerRequestError,
  PeerTokenAuthority,
  PeerTokenExpiredError,
  PeerTokenReusedError,
  PeerTokenUnknownError,
  createPeer,
} from '@buckley/coordination';
import { AbortedError, ManualClock } from '@buckley/utils';
import { afterEach, describe, expect, it } from 'vitest';
import { rejected } from './errors.js';

/** What an adapter test gives {@link describePeerConformance}. */
export interface PeerConformanceOptions {
  readonly name: string;
  /** A prefix owned by the test file, used in agent ids so inbox subjects do not collide. */
  readonly prefix: string;
  /** Opens a bus; buses of one test share one transport. The suite closes them. */
  readonly create: () => Promise<Bus>;
}

const SECRET = 'conformance-secret-of-at-least-32-bytes!';

/**
 * Peer request/reply over a real {@link Bus}: typed requests to an agent's inbox, replies,
 * timeouts and cancellation, and the three token failures (unknown, expired, reused).
 */
export function describePeerConformance(options: PeerConformanceOptions): void {
  let opened: Bus[] = [];
  let n = 0;
  const setup = async () => {
    const serverBus = await options.create();
    const clientBus = await options.create();
    opened.push(serverBus, clientBus);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const authority = new PeerTokenAuthority({ secret: SECRET, ttlMs: 60_000, clock });
    const id = (name: string) => `${options.prefix}:${name}.${++n}`;
    const targetId = id('reviewer');
    const senderId = id('coder');
    const target = createPeer({ bus: serverBus, agentId: targetId, authority });
    const sender = createPeer({ bus: clientBus, agentId: senderId });
    const calls: Array<{ request: unknown; from: string }> = [];
    await target.serve<{ n: number }, { doubled: number }>(async (request, { from }) => {
      calls.push({ request, from });
      if (request.n < 0) throw new Error('negative input');
      if (request.n === 999) await new Promise((r) => setTimeout(r, 400));
      return { doubled: request.n * 2 };
    });
    const token = () => authority.issue({ from: senderId, to: targetId });
    return { authority, clock, target, sender, targetId, senderId, calls, token, clientBus };
  };

  describe(`Peer conformance: ${options.name}`, () => {
    afterEach(async () => {
      await Promise.all(opened.map((b) => b.close()));
      opened = [];
    });

    it('a typed request reaches the target inbox and the reply comes back', async () => {
      const { sender, target, targetId, senderId, calls, token } = await setup();
      expect(target.inbox).toBe(agentInboxSubject(targetId));
      await expect(sender.request(targetId, { n: 21 }, { token: token(), timeoutMs: 2_000 })).resolves.toEqual({ doubled: 42 });
      expect(calls).toEqual([{ request: { n: 21 }, from: senderId }]);
    });

    it('an unknown token (garbage, other secret, other target, missing) fails with PeerTokenUnknownError', async () => {
      const { sender, targetId, senderId, calls, clientBus } = await setup();
      const other = new PeerTokenAuthority({ secret: 'another-secret-that-is-32-bytes-long!!' });
      const bad = [
        'garbage',
        'a.b.c',
        other.issue({ from: senderId, to: targetId }),
        new PeerTokenAuthority({ secret: SECRET }).issue({ from: senderId, to: `${targetId}-else` }),
      ];
      for (const token of bad) {
        expect(await rejected(sender.request(targetId, { n: 1 }, { token, timeoutMs: 2_000 }))).toBeInstanceOf(PeerTokenUnknownError);
      }
      const raw = await clientBus.request(agentInboxSubject(targetId), '{"n":1}', { timeoutMs: 2_000 });
      expect(raw.json()).toMatchObject({ ok: false, error: { code: 'PEER_TOKEN_UNKNOWN' } });
      expect(calls).toEqual([]);
    });

    it('an expired token fails with PeerTokenExpiredError', async () => {
      const { sender, targetId, calls, token, clock } = await setup();
      const stale = token();
      await clock.advance(60_000);
      expect(await rejected(sender.request(targetId, { n: 1 }, { token: stale, timeoutMs: 2_000 }))).toBeInstanceOf(PeerTokenExpiredError);
      expect(calls).toEqual([]);
    });

    it('a reused token fails with PeerTokenReusedError', async () => {
      const { sender, targetId, calls, token } = await setup();
      const once = token();
      await sender.request(targetId, { n: 1 }, { token: once, timeoutMs: 2_000 });
      expect(await rejected(sender.request(targetId, { n: 2 }, { token: once, timeoutMs: 2_000 }))).toBeInstanceOf(PeerTokenReusedError);
      expect(calls).toHaveLength(1);
    });

    it('handler failures and non-JSON bodies come back as PeerRequestError', async () => {
      const { sender, targetId, token, clientBus, calls } = await setup();
      const error = await rejected(sender.request(targetId, { n: -1 }, { token: token(), timeoutMs: 2_000 }));
      expect(error).toBeInstanceOf(PeerRequestError);
      expect((error as PeerRequestError).message).toContain('negative input');
      const raw = await clientBus.request(agentInboxSubject(targetId), 'not json', { timeoutMs: 2_000, headers: { [PEER_TOKEN_HEADER]: token() } });
      expect(raw.json()).toMatchObject({ ok: false, error: { code: 'BUS_INVALID_MESSAGE' } });
      expect(calls).toHaveLength(1);
    });

    it('times out, cancels, and reports an agent that does not serve', async () => {
      const { sender, targetId, token, senderId, authority } = await setup();
      expect(await rejected(sender.request(targetId, { n: 999 }, { token: token(), timeoutMs: 100 }))).toBeInstanceOf(BusTimeoutError);
      const controller = new AbortController();
      const pending = sender.request(targetId, { n: 999 }, { token: token(), timeoutMs: 5_000, signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      expect(await rejected(pending)).toBeInstanceOf(AbortedError);
      const ghost = `${targetId}-ghost`;
      expect(await rejected(sender.request(ghost, {}, { token: authority.issue({ from: senderId, to: ghost }), timeoutMs: 2_000 }))).toBeInstanceOf(
        NoRespondersError,
      );
    });
  });
}
