import type { SecretRule } from '../secret-rule.js';

/**
 * Values that stand for a credential rather than being one: template and environment
 * references, angle-bracket and brace placeholders, masks, format verbs.
 */
const placeholderValues = [
  '^\\$\\{?[\\w.:-]+\\}?$',
  '\\$\\{[^}]*\\}',
  '\\$\\(',
  '^\\{\\{?[^}]*\\}?\\}$',
  '^<[^>]*>$',
  '^\\[[^\\]]*\\]$',
  '^%[\\w()]*%?[sdv]?$',
  '^\\*+$',
  '^[xX.]+$',
  '^:\\w+$',
  '^\\?+$',
];

/** Words that make a value a placeholder or an example (case-insensitive substrings). */
const placeholderWords = ['password', 'passwd', 'example', 'changeme', 'placeholder', 'your_', 'your-', 'yourpass', 'secret', 'redacted', 'dummy', 'sample', 'mypass', 'p@ssw0rd', 'xxxx'];

/** Buckley's own rules, for what gitleaks' default set does not cover. */
export const buckleyRules: readonly SecretRule[] = [
  {
    id: 'openai-prefixed-api-key',
    description:
      "Found an OpenAI project, service-account, admin or organization API key (sk-proj-, sk-svcacct-, sk-admin-, sk-None-), which bills and acts as its owner. gitleaks' openai-api-key only knows bodies of exactly 58 or 74 characters around T3BlbkFJ ending on a word character; real keys also come as 20 + T3BlbkFJ + 20 and end in - or _.",
    // The prefix is OpenAI's own; 40 characters keep short kebab-case names (`sk-proj-card`) out.
    regex: '\\b(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,300})',
    keywords: ['sk-proj-', 'sk-svcacct-', 'sk-admin-', 'sk-none-'],
    entropy: 3,
    samples: {
      truePositives: [
        'OPENAI_KEY=sk-proj-4bL6JZ8QdeUaXQUboMfvT3BlbkFJC4U5IlocUnSwOgP35GRH',
        'client = OpenAI(api_key="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")',
        'my key is sk-proj-LzFdRx5kIBTtyq5Fd2HICidukzWbAfNjvnr3MSJnomCBHAZ6 thanks',
        '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',
        "admin: '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'",
        'sk-None-r0nSfnjWBN92TMv6PsxEIHTTwOLqjnq53zavEJ9JCxfh5fY0T3BlbkFJqlp53br8d3izAF5d8uBnwgWh8z2vH6h1sC89W6V7oUi2yggh',
      ],
      falsePositives: [
        '<div class="sk-proj-card sk-proj-card__title--active">',
        'sk-proj-readme and sk-admin-panel and sk-svcacct-list and sk-None-set',
        'import sklearn  # scikit-learn, sk-learn',
      ],
    },
  },
  {
    id: 'anthropic-prefixed-key',
    description:
      "Found an Anthropic API, admin or OAuth key (sk-ant-api03-, sk-ant-admin01-, sk-ant-oat01-, sk-ant-ort01-), which calls Claude as its owner. gitleaks' anthropic rules know only api03 and admin01 with exactly 93 characters before a final AA.",
    regex: '\\b(sk-ant-(?:api|admin|oat|ort)\\d{2}-[A-Za-z0-9_-]{80,300})',
    keywords: ['sk-ant-'],
    entropy: 3,
    samples: {
      truePositives: [
        'ANTHROPIC_API_KEY=sk-ant-api03-D-g18Yz6BpoDVRps5nMiFughmg2OEWjG5cOy6IlTOW4Bzds2uBKMfshWG4hdrWSdDEd2tLzQeudx1yKC-LkITJFbNXisjAA',
        '"sk-ant-admin01-LcYltCZo4i5E_99VmDfq8GeFKE614NXmcS0UsV8JtEg6bLMkyRsGFqXGK3GgEHUcGLqwQx0MKSV-AHtKfq9wReac-RwvRAA"',
        'CLAUDE_CODE_OAUTH_TOKEN: sk-ant-oat01-6QAV6NbvtOPevDtxIlN6DLyZcPtvId5r31tUbOZfhd8oNHzT8ftixf0eoxBrKHrF-4JdN_mkzeXaqKylBCWJP_DnwIoMHAA',
        'refresh sk-ant-ort01-gVd6pAWN9Kz40IXIUWV4XuDroYEL7OsiNtO3znjTGstJ4sCoV5JEqPnWEbWzK8Wj_XAYrNzhRyOEoMwk4LaTcULrbieUPAA done',
      ],
      falsePositives: ['see sk-ant-api03-docs and sk-ant-oat01-example', 'sk-ant-api03-xxxxxxxx'],
    },
  },
  {
    id: 'credential-url',
    description: 'Found a URL carrying a password in its user-info (postgres://user:password@host, https://user:password@host), exposing the account it logs in to.',
    // scheme://user:password@host, the password being what the user-info holds after the colon.
    regex: '(?i)\\b[a-z][a-z0-9+.-]{1,30}://[^\\s:@/?#\'"`<>\\\\]{0,100}:([^\\s@/?\'"`<>\\\\]{3,200})@[a-z0-9\\[_-][a-z0-9._:\\]-]*',
    keywords: ['://'],
    severity: 'high',
    allowlists: [
      { description: 'placeholder passwords', regexTarget: 'secret', regexes: [...placeholderValues, '^(?i:pass|pwd|pw|token|user|username|foo|bar|baz|test|demo)$'], stopwords: placeholderWords },
      // A host that is only a placeholder name (user:pw@host, @hostname) in docs.
      { description: 'example hosts', regexTarget: 'match', regexes: ['@(?:host|hostname|server|domain|example)(?:[.:/]|$)'] },
      // Well-known defaults of local databases and brokers (postgres:postgres, guest:guest).
      { description: 'default passwords', regexTarget: 'secret', regexes: ['^(?i:postgres|root|admin|guest|test|mysql|redis|rabbitmq|mongo|sa|dev|local)$'] },
    ],
    samples: {
      truePositives: [
        'DATABASE_URL=postgres://deploy:Tq8vL2mXz9@db.internal:5432/app',
        'const uri = "mongodb+srv://admin:h7Kd93jLqPz@cluster0.ab1cd.mongodb.net/prod?retryWrites=true";',
        'git clone https://ci-bot:8f3kLm2Qp9Zx@git.example.org/team/repo.git',
        'redis://:R3dis-Pa55-2024@cache.internal:6379/0',
        'amqp://svc:Wq7%40xZ!rt@rabbit.local/vhost',
        "mysql://root:s3cr3t!Xy@127.0.0.1:3306/shop",
        'ftp://backup:Zb8#kQ2mVn@[2001:db8::1]/dumps',
      ],
      falsePositives: [
        'postgres://user:password@localhost:5432/db',
        'mongodb://username:<password>@cluster0.mongodb.net/',
        'https://user:${GITHUB_TOKEN}@github.com/org/repo.git',
        'redis://:$REDIS_PASSWORD@redis:6379',
        'amqp://guest:{{ rabbit_password }}@rabbit/',
        'postgres://app:****@db/app',
        'see https://example.com/docs and http://localhost:8080/',
        'git+ssh://git@github.com/org/repo.git',
        'mysql://root:changeme@127.0.0.1/test',
        'postgresql://postgres:postgres@127.0.0.1:5432/test',
        'http://user:pass@host/path',
      ],
    },
  },
  {
    id: 'generic-password',
    description: 'Found a password assigned in code or configuration (password = "...", pwd: \'...\'), which may expose the account it belongs to.',
    // An identifier naming a password, an assignment, and a quoted value without white space
    // (one alternative per quote, as RE2 has no back-references).
    regex:
      '(?i)[\\w.-]{0,50}?(?:passw(?:or)?d|pwd)(?:[\\w.-]{0,20})[\'"]?[ \\t]{0,3}(?:=|:|:=|=>|\\?\\?=|\\|\\|=)[ \\t]{0,5}(?:\'([^\'\\s]{6,100})\'|"([^"\\s]{6,100})"|`([^`\\s$]{6,100})`)',
    keywords: ['passw', 'pwd'],
    entropy: 2.5,
    allowlists: [
      {
        description: 'placeholders, words and references, not passwords',
        regexTarget: 'secret',
        regexes: [
          ...placeholderValues,
          // Letters only (words, labels, `Password`), names (`user.password`, `new-password`, `PASSWORD_KEY`).
          '^[A-Za-z]+$',
          '^[a-z]+(?:[._-][a-z0-9]+)+$',
          '^[A-Z0-9]+(?:_[A-Z0-9]+)+$',
          // CSS selectors, regexes, paths, URLs, translation keys.
          '^[#.][\\w-]+',
          '^\\^|\\$$|\\(\\?',
          '^(?:\\.{0,2}/|[a-z]+://)',
          '^[a-z]+(?:\\.[a-z]+)+$',
        ],
        stopwords: placeholderWords,
      },
      {
        description: 'identifiers about passwords rather than holding one',
        regexTarget: 'match',
        regexes: [
          '(?i)(?:passw(?:or)?d|pwd)[_.-]?(?:field|input|label|placeholder|regex|pattern|policy|length|min|max|rules?|strength|type|prompt|hint|reset|confirm|error|message|text|title|toggle|selector|id|name|key|env|var|variable|file|path|column|attr|param|header|hash|encoder|validator|mode|visible|required|changed|expir\\w*|format|url|uri)\\b',
          '(?i)(?:forgot|reset|change|update|new|old|confirm|show|hide|toggle|validate|check)[_.-]?passw(?:or)?d',
        ],
      },
    ],
    samples: {
      truePositives: [
        "const password = 'Xy7&kP2!qL9@wE';",
        'DB_PASSWORD="r8#Lm2^Qz!pK"',
        "  password: 'Tr0ub4dor&3',",
        'spring.datasource.password = "s3cr3t-R3p0rt!"',
        '$db_pwd = "hG7!kd@93Lq";',
        'adminPassword := `Zq8!mX#2vLp`',
      ],
      falsePositives: [
        'const password = process.env.DB_PASSWORD;',
        "const passwordField = '#password-input';",
        "autocomplete: 'current-password',",
        'type="password"',
        "password: 'password',",
        "const PASSWORD_ENV = 'DB_PASSWORD';",
        "passwordRegex = '^(?=.*[A-Z])(?=.*[0-9]).{8,}$'",
        'password = "${DB_PASSWORD}"',
        "password: '********',",
        'passwordLabel: "Passwort"',
        "resetPasswordUrl: '/account/reset'",
        "password = '<your password>'",
        "i18n.t('auth.password.tooShort')",
        "const pwd = 'abc'",
      ],
    },
  },
];
