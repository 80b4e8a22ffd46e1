import { createInMemoryBus } from '@buckley/bus';
import { PeerTokenAuthority, PeerTokenExpiredError, PeerTokenReusedError, PeerTokenUnknownError } from '@buckley/coordination';
import { describePeerConformance, thrown } from '@buckley/testing';
import { InvalidArgumentError, ManualClock } from '@buckley/utils';
import { describe, expect, it } from 'vitest';

const server = createInMemoryBus();
describePeerConformance({ name: 'InMemoryBus', prefix: 'mem', create: async () => server.connect() });

describe('PeerTokenAuthority', () => {
  const secret = 'x'.repeat(32);

  it('verifies once, then reports reuse; expiry and unknown are distinct', async () => {
    const clock = new ManualClock(0);
    const authority = new PeerTokenAuthority({ secret, ttlMs: 1_000, clock });
    const token = authority.issue({ from: 'a', to: 'b' });
    expect(authority.verify(token, { to: 'b' })).toMatchObject({ from: 'a', to: 'b', expiresAt: 1_000 });
    expect(thrown(() => authority.verify(token, { to: 'b' }))).toBeInstanceOf(PeerTokenReusedError);
    const late = authority.issue({ from: 'a', to: 'b' });
    await clock.advance(1_000);
    expect(thrown(() => authority.verify(late, { to: 'b' }))).toBeInstanceOf(PeerTokenExpiredError);
    const tampered = `${token.split('.')[0]}x.${token.split('.')[1]}`;
    expect(thrown(() => authority.verify(tampered, { to: 'b' }))).toBeInstanceOf(PeerTokenUnknownError);
  });

  it('forgets used tokens once they expire, so memory stays bounded', async () => {
    const clock = new ManualClock(0);
    const authority = new PeerTokenAuthority({ secret, ttlMs: 1_000, clock });
    for (let i = 0; i < 10; i++) authority.verify(authority.issue({ from: 'a', to: 'b' }), { to: 'b' });
    expect(authority.rememberedTokens).toBe(10);
    await clock.advance(1_001);
    expect(() => authority.verify(authority.issue({ from: 'a', to: 'b' }), { to: 'b' })).not.toThrow();
    expect(authority.rememberedTokens).toBe(1);
  });

  it('rejects a short secret', () => {
    expect(thrown(() => new PeerTokenAuthority({ secret: 'short' }))).toBeInstanceOf(InvalidArgumentError);
  });
});
