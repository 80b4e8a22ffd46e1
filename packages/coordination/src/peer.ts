import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BuckleyError, type BuckleyErrorOptions, type Clock, InvalidArgumentError, isBuckleyError, systemClock } from '@buckley/utils';
import { InvalidMessageError } from '@buckley/bus';
import { type Bus, type BusSubscription, decodeJson, encodeJson } from '@buckley/bus';
import { agentInboxSubject } from '@buckley/bus';

/**
 * Peer request/reply (p2p): an agent sends a typed JSON request to another agent's inbox
 * `buckley.agent.<encoded id>.inbox` over any {@link Bus} and awaits the reply. A request
 * carries a short-lived, single-use token that a {@link PeerTokenAuthority} issued for that
 * sender and target; the target refuses unknown, expired and reused tokens with distinct errors.
 */

/** The header that carries the peer token. */
export const PEER_TOKEN_HEADER = 'Buckley-Peer-Token';

/** Stable codes of the peer errors. */
export const PeerErrorCode = {
  TokenUnknown: 'PEER_TOKEN_UNKNOWN',
  TokenExpired: 'PEER_TOKEN_EXPIRED',
  TokenReused: 'PEER_TOKEN_REUSED',
  RequestFailed: 'PEER_REQUEST_FAILED',
} as const;

/** The base of the peer errors. */
export class PeerError extends BuckleyError {}

/** The token is malformed, forged, signed with another secret, or issued for another target. */
export class PeerTokenUnknownError extends PeerError {
  constructor(message = 'peer token is not one this authority issued', options?: BuckleyErrorOptions) {
    super(PeerErrorCode.TokenUnknown, message, options);
  }
}

/** The token's lifetime has passed; ask for a new one. */
export class PeerTokenExpiredError extends PeerError {
  readonly expiredAt: string | undefined;
  constructor(expiredAt?: string, options?: BuckleyErrorOptions) {
    super(PeerErrorCode.TokenExpired, `peer token expired${expiredAt === undefined ? '' : ` at ${expiredAt}`}`, options);
    this.expiredAt = expiredAt;
  }
}

/** The token was already used once; tokens are single-use. */
export class PeerTokenReusedError extends PeerError {
  constructor(options?: BuckleyErrorOptions) {
    super(PeerErrorCode.TokenReused, 'peer token was already used', options);
  }
}

/** The target's handler failed or rejected the request; `remoteCode` is its error code. */
export class PeerRequestError extends PeerError {
  readonly remoteCode: string;
  constructor(remoteCode: string, message: string, options?: BuckleyErrorOptions) {
    super(PeerErrorCode.RequestFailed, `peer request failed (${remoteCode}): ${message}`, options);
    this.remoteCode = remoteCode;
  }
}

/** True for any peer error, optionally with `code`. */
export function isPeerError(value: unknown, code?: string): value is PeerError {
  return isBuckleyError(value) && value.code.startsWith('PEER_') && (code === undefined || value.code === code);
}

/** What a verified token says. */
export interface PeerTokenClaims {
  readonly tokenId: string;
  /** The agent allowed to send. */
  readonly from: string;
  /** The agent it may send to. */
  readonly to: string;
  /** Unix milliseconds. */
  readonly expiresAt: number;
}

/** Options of {@link PeerTokenAuthority}. */
export interface PeerTokenAuthorityOptions {
  /** HMAC-SHA256 key shared by every process that issues or verifies tokens; at least 32 bytes. */
  readonly secret: Uint8Array | string;
  /** Token lifetime in milliseconds; default 5 minutes. */
  readonly ttlMs?: number;
  readonly clock?: Clock;
}

/**
 * Issues and verifies peer tokens. A token is `<claims>.<signature>` (base64url JSON and its
 * HMAC-SHA256), so any process with the secret can verify it without a shared store. Single
 * use is enforced where the token is verified, which is the target agent's process: it keeps
 * the ids of used tokens until they expire (then prunes them, so memory stays bounded).
 */
export class PeerTokenAuthority {
  readonly ttlMs: number;
  readonly #secret: Buffer;
  readonly #clock: Clock;
  readonly #used = new Map<string, number>();

  constructor(options: PeerTokenAuthorityOptions) {
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : Buffer.from(options.secret);
    if (secret.length < 32) throw new InvalidArgumentError(`peer token option secret must be at least 32 bytes, got ${secret.length}`);
    this.#secret = secret;
    this.ttlMs = options.ttlMs ?? 300_000;
    if (!Number.isFinite(this.ttlMs) || this.ttlMs <= 0) {
      throw new InvalidArgumentError(`peer token option ttlMs ${JSON.stringify(this.ttlMs)} must be a finite number > 0`);
    }
    this.#clock = options.clock ?? systemClock;
  }

  /** A token that lets `from` send one request to `to` within `ttlMs` (default the authority's). */
  issue(grant: { readonly from: string; readonly to: string; readonly ttlMs?: number }): string {
    for (const [name, value] of [
      ['from', grant.from],
      ['to', grant.to],
    ] as const) {
      if (typeof value !== 'string' || value.length === 0)
        throw new InvalidArgumentError(`peer token ${name} ${JSON.stringify(value)} must be a non-empty string`);
    }
    const claims: PeerTokenClaims = {
      tokenId: randomBytes(16).toString('base64url'),
      from: grant.from,
      to: grant.to,
      expiresAt: this.#clock.now() + (grant.ttlMs ?? this.ttlMs),
    };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${body}.${this.#sign(body)}`;
  }

  /**
   * Checks `token` for the target `to` and uses it up.
   *
   * @throws {PeerTokenUnknownError} malformed, bad signature, or issued for another target
   * @throws {PeerTokenReusedError} already used
   * @throws {PeerTokenExpiredError} past its lifetime
   */
  verify(token: string, expected: { readonly to: string }): PeerTokenClaims {
    const now = this.#clock.now();
    for (const [id, expiresAt] of this.#used) if (expiresAt < now) this.#used.delete(id);
    if (typeof token !== 'string') throw new PeerTokenUnknownError('peer token is missing');
    const [body, signature, extra] = token.split('.');
    if (body === undefined || signature === undefined || extra !== undefined || body.length === 0) {
      throw new PeerTokenUnknownError('peer token is malformed');
    }
    const want = Buffer.from(this.#sign(body));
    const got = Buffer.from(signature);
    if (want.length !== got.length || !timingSafeEqual(want, got)) throw new PeerTokenUnknownError();
    let claims: PeerTokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as PeerTokenClaims;
    } catch (error) {
      throw new PeerTokenUnknownError('peer token is malformed', { cause: error });
    }
    if (claims.to !== expected.to)
      throw new PeerTokenUnknownError(`peer token was issued for agent ${JSON.stringify(claims.to)}, not ${JSON.stringify(expected.to)}`);
    if (this.#used.has(claims.tokenId)) throw new PeerTokenReusedError();
    if (now >= claims.expiresAt) throw new PeerTokenExpiredError(new Date(claims.expiresAt).toISOString());
    this.#used.set(claims.tokenId, claims.expiresAt);
    return claims;
  }

  /** Used tokens still remembered (for tests and metrics). */
  get rememberedTokens(): number {
    return this.#used.size;
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#secret).update(body).digest('base64url');
  }
}

type Envelope = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/** Context of a served peer request. */
export interface PeerRequestContext {
  /** The sender, as the token vouches. */
  readonly from: string;
  readonly claims: PeerTokenClaims;
}

/** Options of {@link createPeer}. */
export interface PeerOptions {
  readonly bus: Bus;
  /** This agent's id; its inbox is `buckley.agent.<encoded id>.inbox`. */
  readonly agentId: string;
  /** Verifies incoming tokens (needed only to serve). */
  readonly authority?: PeerTokenAuthority;
}

/** Options of {@link Peer.request}. */
export interface PeerRequestOptions {
  /** A token issued for this agent → `to`. */
  readonly token: string;
  /** Default 5,000 ms. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** One agent's side of peer request/reply. */
export interface Peer {
  readonly agentId: string;
  /** The inbox subject this agent serves. */
  readonly inbox: string;
  /**
   * Answers requests on this agent's inbox with `handler`. A request without a valid token,
   * or with a body that is not JSON (or that `validate` rejects), is answered with an error
   * and never reaches the handler.
   */
  serve<Req, Res>(
    handler: (request: Req, context: PeerRequestContext) => Res | Promise<Res>,
    options?: { readonly validate?: (value: unknown) => string | undefined },
  ): Promise<BusSubscription>;
  /**
   * Sends `body` to agent `to` and resolves with its handler's result.
   *
   * @throws {PeerTokenUnknownError} | {PeerTokenExpiredError} | {PeerTokenReusedError} as the target judged the token
   * @throws {PeerRequestError} when the target's handler failed or the body was rejected
   * @throws {NoRespondersError} when `to` does not serve its inbox; {BusTimeoutError} on timeout; `AbortedError` on abort
   */
  request<Res = unknown>(to: string, body: unknown, options: PeerRequestOptions): Promise<Res>;
}

/**
 * Creates the peer endpoint of agent `agentId`.
 *
 * @example
 * ```ts
 * const authority = new PeerTokenAuthority({ secret: process.env.BUCKLEY_PEER_SECRET! });
 * const reviewer = createPeer({ bus, agentId: 'reviewer', authority });
 * await reviewer.serve<{ diff: string }, { ok: boolean }>(async ({ diff }) => ({ ok: diff.length < 1000 }));
 * const coder = createPeer({ bus, agentId: 'coder' });
 * const token = authority.issue({ from: 'coder', to: 'reviewer' });
 * await coder.request('reviewer', { diff: '...' }, { token }); // { ok: true }
 * ```
 */
export function createPeer(options: PeerOptions): Peer {
  const { bus, agentId, authority } = options;
  const inbox = agentInboxSubject(agentId);
  return {
    agentId,
    inbox,
    async serve(handler, serveOptions = {}) {
      if (authority === undefined) throw new InvalidArgumentError('createPeer option authority is required to serve requests');
      return bus.subscribe(inbox, async (message) => {
        const reply = (envelope: Envelope) => {
          message.respond(encodeJson(message.subject, envelope));
        };
        const fail = (error: unknown) => {
          const code = isBuckleyError(error) ? error.code : 'HANDLER_FAILED';
          reply({ ok: false, error: { code, message: error instanceof Error ? error.message : String(error) } });
        };
        let claims: PeerTokenClaims;
        let request: unknown;
        try {
          claims = authority.verify(message.headers[PEER_TOKEN_HEADER] ?? (undefined as unknown as string), { to: agentId });
          request = decodeJson(message.subject, message.data);
          const problem = serveOptions.validate?.(request);
          if (problem !== undefined) throw new InvalidMessageError(message.subject, problem, message.data);
        } catch (error) {
          fail(error);
          return;
        }
        try {
          const result = await handler(request as never, { from: claims.from, claims });
          reply({ ok: true, result: result === undefined ? null : result });
        } catch (error) {
          fail(error);
        }
      });
    },
    async request<Res>(to: string, body: unknown, requestOptions: PeerRequestOptions): Promise<Res> {
      const target = agentInboxSubject(to);
      const reply = await bus.request(target, encodeJson(target, body), {
        headers: { [PEER_TOKEN_HEADER]: requestOptions.token },
        ...(requestOptions.timeoutMs === undefined ? {} : { timeoutMs: requestOptions.timeoutMs }),
        ...(requestOptions.signal === undefined ? {} : { signal: requestOptions.signal }),
      });
      const envelope = reply.json<Envelope>();
      if (envelope.ok) return envelope.result as Res;
      switch (envelope.error.code) {
        case PeerErrorCode.TokenUnknown:
          throw new PeerTokenUnknownError(envelope.error.message);
        case PeerErrorCode.TokenExpired:
          throw new PeerTokenExpiredError(undefined, { cause: envelope.error.message });
        case PeerErrorCode.TokenReused:
          throw new PeerTokenReusedError();
        default:
          throw new PeerRequestError(envelope.error.code, envelope.error.message);
      }
    },
  };
}
