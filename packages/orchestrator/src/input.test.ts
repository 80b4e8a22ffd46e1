import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore } from '@buckley/events';
import { createOrchestrator, isOrchestratorError } from './index.js';

// Shaped like a GitHub token, with a space so it fails the id rule.
const secret = ['ghp', 'Zq8wPlanted0Secret9 Value7Xy3'].join('_');

describe('no error of the orchestrator quotes a refused value', () => {
  it('a secret as a session id, a role or a phase: the rule and the kind, never the text', async () => {
    await using orchestrator = createOrchestrator({ store: createInMemoryEventStore() });
    const { sessionId } = await orchestrator.startSession();
    const attempts = [
      () => orchestrator.getSession(secret),
      () => orchestrator.addMessage(sessionId, { role: secret, content: 'x' } as never),
      () => orchestrator.listSessions({ status: secret as never }),
    ];
    for (const attempt of attempts) {
      const error = (await attempt().then(
        () => new Error('expected a refusal'),
        (e: unknown) => e,
      )) as Error;
      expect(isOrchestratorError(error)).toBe(true);
      expect(`${error.message}\n${error.stack}`).not.toContain(secret.slice(0, 12));
      expect(error.message).toContain(`got a string of ${secret.length} characters`);
    }
  });
});
