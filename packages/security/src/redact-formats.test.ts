import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redact } from './index.js';
import { growthRatio } from './linear-time.test-helper.js';

// Real-shaped keys (random bodies in each provider's alphabet and lengths), none of them live.
const openai = {
  // The first project keys (spring 2024): 20 + T3BlbkFJ + 20, like the legacy form but after `proj-`.
  projectEarly: 'sk-proj-4bL6JZ8QdeUaXQUboMfvT3BlbkFJC4U5IlocUnSwOgP35GRH',
  // Today's project keys carry `-` and `_`, and may end in either (no word boundary there).
  projectDash:
    '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',
  projectUnderscore: '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',
  // A project key as pasted without the `T3BlbkFJ` marker showing (48 characters, as OpenAI's 2024 examples).
  projectPlain: 'sk-proj-LzFdRx5kIBTtyq5Fd2HICidukzWbAfNjvnr3MSJnomCBHAZ6',
  serviceAccount:
    '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',
  admin: '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',
  // Keys made in an organization outside any project.
  none: 'sk-None-r0nSfnjWBN92TMv6PsxEIHTTwOLqjnq53zavEJ9JCxfh5fY0T3BlbkFJqlp53br8d3izAF5d8uBnwgWh8z2vH6h1sC89W6V7oUi2yggh',
};
const anthropic = {
  api: 'sk-ant-api03-D-g18Yz6BpoDVRps5nMiFughmg2OEWjG5cOy6IlTOW4Bzds2uBKMfshWG4hdrWSdDEd2tLzQeudx1yKC-LkITJFbNXisjAA',
  admin: 'sk-ant-admin01-LcYltCZo4i5E_99VmDfq8GeFKE614NXmcS0UsV8JtEg6bLMkyRsGFqXGK3GgEHUcGLqwQx0MKSV-AHtKfq9wReac-RwvRAA',
  // Claude Code's OAuth access and refresh tokens.
  oauth: 'sk-ant-oat01-6QAV6NbvtOPevDtxIlN6DLyZcPtvId5r31tUbOZfhd8oNHzT8ftixf0eoxBrKHrF-4JdN_mkzeXaqKylBCWJP_DnwIoMHAA',
  refresh: 'sk-ant-ort01-gVd6pAWN9Kz40IXIUWV4XuDroYEL7OsiNtO3znjTGstJ4sCoV5JEqPnWEbWzK8Wj_XAYrNzhRyOEoMwk4LaTcULrbieUPAA',
};

describe('redact: AI provider keys in free text, with no name beside them', () => {
  it.each(Object.entries({ ...openai, ...anthropic }))('%s', (_name, key) => {
    expect(redact(`here it is: ${key} (keep it safe)`)).toBe('here it is: [REDACTED] (keep it safe)');
    expect(redact({ message: `"${key}"` })).toEqual({ message: '"[REDACTED]"' });
  });

  it.each([
    'pip install scikit-learn; import sklearn; sk-learn is not a package',
    'task-list ask-me-anything disk-usage mask-image risk-assessment',
    '<div class="sk-chase sk-chase-dot sk-folding-cube sk-proj-card sk-proj-card__title--active">',
    'sk-proj-readme and sk-admin-panel and sk-svcacct-list and sk-None-set',
    'sk-live-dashboard-settings rk-live-preview sk-test-fixtures-for-the-billing-module',
    'sk-ant-api03-docs sk-ant-oat01-example',
  ])('keeps near misses: %s', (text) => {
    expect(redact(text)).toBe(text);
  });
});

describe('redact: a bare AWS secret access key', () => {
  const id = 'AKIAZ7VRSQ5TJN2XMPLQ';
  const secret = 'HFMmoQgjw6QjL78XQ5//38PGk3OC716e67NU1R0O';

  it.each([
    [`here are my creds ${id} ${secret} use them`, 'here are my creds [REDACTED] [REDACTED] use them'],
    [`${secret}:${id}`, '[REDACTED]:[REDACTED]'],
    [`key id: ${id}\nand the secret is\n${secret}\n`, 'key id: [REDACTED]\nand the secret is\n[REDACTED]\n'],
    [`ASIAZ7VRSQ5TJN2XMPLQ,${secret},FwoGZXIvYXdzEJr`, '[REDACTED],[REDACTED],FwoGZXIvYXdzEJr'],
  ])('goes when an access key id is near it: %j', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it.each([
    // Alone, 40 base64 characters are as likely a hash or an id as a secret.
    `my secret is ${secret} ok`,
    // A git SHA-1 (lower-case hex) or a key-shaped word beside an id is not a secret key.
    `${id} at commit 3f786850e387550fdab836ed7e6dc881de23001b`,
    `${id} ${'Abcdefghij'.repeat(4)}`,
    // Far from the id (more than 200 characters away).
    `${id}${' filler'.repeat(40)} ${secret}`,
  ])('stays otherwise: %j', (input) => {
    expect(redact(input)).toBe(input.replace(id, '[REDACTED]'));
  });

  it('goes the same when streamed in two chunks split anywhere', () => {
    const text = `log: ${secret} then ${id} done`;
    for (let at = 0; at <= text.length; at++) {
      const r = createStreamRedactor({ window: 256 });
      expect(r.write(text.slice(0, at)) + r.write(text.slice(at)) + r.end()).toBe('log: [REDACTED] then [REDACTED] done');
    }
  });

  it('stays linear with many ids and key-shaped runs', () => {
    const make = (n: number): string => `${id} ${secret} ${'x'.repeat(30)}`.repeat(n / 100) + `${id}${'A1b/'.repeat(n / 8)}`;
    const { ratio, attempts } = growthRatio(make, (input) => redact(input, { maxStringBytes: 64 * 1024 * 1024 }), 100_000);
    expect({ ratio: ratio < 32, attempts }).toMatchObject({ ratio: true });
  }, 60_000);
});

describe('redact: session records are walked, session secrets go', () => {
  const summary = { sessionId: '0190a5b2-7c1e-7d4f-9a3b-5c6d7e8f9a0b', title: 'fix the build', model: 'gpt-5', turns: 4 };

  it('keeps a list of session summaries and a session object, scanning what is inside', () => {
    const input = {
      sessions: [summary, { ...summary, apiKey: 'k-123', note: 'token=ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8' }],
      session: { ...summary, token: 'abc123secret' },
      activeSessions: [summary],
      currentSession: summary,
    };
    expect(redact(input)).toEqual({
      sessions: [summary, { ...summary, apiKey: '[REDACTED]', note: 'token=[REDACTED]' }],
      session: { ...summary, token: '[REDACTED]' },
      activeSessions: [summary],
      currentSession: summary,
    });
  });

  it('still replaces a session given as a value: a string, a number, a list of them', () => {
    expect(redact({ session: 'abc123secret', sessions: ['s3cr3t-1', 's3cr3t-2', summary], currentSession: 1234567 })).toEqual({
      session: '[REDACTED]',
      sessions: ['[REDACTED]', '[REDACTED]', summary],
      currentSession: '[REDACTED]',
    });
    // Names that say what part of the session they hold stay secrets whatever their shape.
    expect(redact({ sessionToken: { value: 'x' }, session_key: ['a'], sessionCookie: { v: 1 } })).toEqual({
      sessionToken: '[REDACTED]',
      session_key: ['[REDACTED]'],
      sessionCookie: '[REDACTED]',
    });
  });

  it('keeps cycles through session records marked', () => {
    const s: Record<string, unknown> = { ...summary };
    s['sessions'] = [s];
    expect(redact({ session: s })).toEqual({ session: { ...summary, sessions: ['[Circular]'] } });
  });
});

describe('redact: assignments with long names', () => {
  const prefix = 'MY_VERY_LONG_SERVICE_NAME_FOR_THE_EU_WEST_PRODUCTION_CLUSTER_DEPLOYMENT'; // 70 characters
  const camel = 'myVeryLongServiceNameForTheEuWestProductionClusterDeploymentPipelineStage'; // 73, no separators

  it.each([
    [`${prefix}_API_KEY=supersecretvalue123`, `${prefix}_API_KEY=[REDACTED]`],
    [`export ${prefix}_PASSWORD="p@ss w0rd"`, `export ${prefix}_PASSWORD="[REDACTED]"`],
    [`{\\"${prefix}_TOKEN\\":\\"abc123xyz\\"}`, `{\\"${prefix}_TOKEN\\":\\"[REDACTED]\\"}`],
    [`${camel}ApiKey: supersecretvalue123`, `${camel}ApiKey: [REDACTED]`],
    [`${prefix}${prefix}_CLIENT_SECRET=s3cr3t-v4lue`, `${prefix}${prefix}_CLIENT_SECRET=[REDACTED]`],
  ])('%s', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it('keeps long names that hold no secret', () => {
    for (const text of [`${prefix}_SORT_KEY=created_at`, `${prefix}_TOKEN_COUNT=1234`, `${camel}PasswordMinLength: 12`]) expect(redact(text)).toBe(text);
  });

  it('stays linear on long names full of separators and humps', () => {
    const make = (n: number): string => `${'a_B'.repeat(n / 3)}=x key ${'aB-'.repeat(n / 3)}: y ${'apikey_'.repeat(n / 7)}`;
    const { ratio, attempts } = growthRatio(make, (input) => redact(input, { maxStringBytes: 64 * 1024 * 1024 }), 20_000);
    expect({ ratio: ratio < 32, attempts }).toMatchObject({ ratio: true });
  }, 60_000);
});
