import { InvalidSubjectError, assertSubject, buildSubject, decodeSubjectToken, encodeSubjectToken, subjectMatches, agentInboxSubject } from '@buckley/bus';
import { thrown } from '@buckley/testing';
import { describe, expect, it } from 'vitest';

describe('subject token encoding', () => {
  const ids = ['session:01J9', 'a.b', 'a_b', 'a-b', 'a b', 'x*y', 'x>y', 'tab\there', 'ünï😀', '_', '__2E', 'plan:2026-01-01-slug'];

  it('round-trips ids with ":", ".", "*", ">", spaces, "_", "-" and non-ASCII', () => {
    for (const id of ids) {
      const token = encodeSubjectToken(id);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeSubjectToken(token)).toBe(id);
      expect(() => assertSubject(`p.${token}.q`, 'publish')).not.toThrow();
    }
  });

  it('keeps "a.b", "a_b" and "a-b" distinct', () => {
    expect(new Set(['a.b', 'a_b', 'a-b'].map(encodeSubjectToken)).size).toBe(3);
    expect(encodeSubjectToken('a.b')).toBe('a_2Eb');
    expect(encodeSubjectToken('a_b')).toBe('a_5Fb');
    expect(encodeSubjectToken('a-b')).toBe('a-b');
  });

  it('is injective over a sample of tricky ids', () => {
    const tokens = ids.map(encodeSubjectToken);
    expect(new Set(tokens).size).toBe(ids.length);
  });

  it('rejects an empty id and tokens it did not produce', () => {
    expect(thrown(() => encodeSubjectToken(''))).toBeInstanceOf(InvalidSubjectError);
    for (const bad of ['a.b', 'a_2', 'a_zz', 'a_2e', '', 'a b']) {
      expect(thrown(() => decodeSubjectToken(bad))).toBeInstanceOf(InvalidSubjectError);
    }
  });

  it('builds the agent inbox subject from an encoded id', () => {
    expect(agentInboxSubject('agent:a.b')).toBe('buckley.agent.agent_3Aa_2Eb.inbox');
    expect(buildSubject('x', { id: 'a b' }, '*')).toBe('x.a_20b.*');
  });
});

describe('subject matching (NATS rules)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['foo', 'foo', true],
    ['foo', 'bar', false],
    ['foo.*', 'foo.bar', true],
    ['foo.*', 'foo.bar.baz', false],
    ['foo.*', 'foo', false],
    ['foo.>', 'foo.bar', true],
    ['foo.>', 'foo.bar.baz', true],
    ['foo.>', 'foo', false],
    ['*.bar', 'foo.bar', true],
    ['*.bar', 'foo.baz', false],
    ['foo.*.baz', 'foo.bar.baz', true],
    ['foo.*.baz', 'foo.bar.qux', false],
    ['>', 'foo.bar', true],
    ['*', 'foo', true],
    ['*', 'foo.bar', false],
    ['buckley.task.*.events', 'buckley.task.t1.events', true],
    ['buckley.task.*.events', 'buckley.task.t1.x.events', false],
  ];
  it.each(cases)('%s vs %s -> %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });

  it('accepts ">" only as the last token and wildcards only as whole tokens', () => {
    expect(() => assertSubject('a.>', 'subscribe')).not.toThrow();
    for (const bad of ['a.>.b', 'a.b>', 'a.*b', 'a..b', '.a', 'a.', 'a b', '']) {
      expect(thrown(() => assertSubject(bad, 'subscribe'))).toBeInstanceOf(InvalidSubjectError);
    }
    for (const bad of ['a.*', 'a.>']) {
      expect(thrown(() => assertSubject(bad, 'publish'))).toBeInstanceOf(InvalidSubjectError);
    }
  });
});
