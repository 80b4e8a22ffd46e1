import { z } from 'zod';

/*
 * The schema is written with camelCase keys, which is what TypeScript callers see. Files,
 * environment variables and messages use the snake_case spelling of the same path
 * (`sandbox.allow_unsafe`); `keys.ts` converts between the two.
 */

const positiveInt = (max: number) => z.number().int().min(1).max(max);

/** Where the event log lives: Postgres when `url` is set, embedded PGlite in `dataDir` otherwise. */
const storeSchema = z.strictObject({
  /** `postgres://` URL of the shared store; `null` selects the embedded store. */
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')
    .nullable()
    .default(null),
  /** Directory of the embedded store, relative to the project root. */
  dataDir: z.string().min(1).default('.buckley/data'),
  /** Tenant key stamped on every event. */
  partition: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, "_" or "-", up to 63')
    .default('default'),
  /** Postgres schema holding Buckley's tables. */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
    .default('buckley'),
});

/** Live fan-out: NATS when `url` is set, an in-process bus otherwise. */
const busSchema = z.strictObject({
  /** `nats://` URL; `null` selects the in-process bus. */
  url: z
    .string()
    .regex(/^(nats|tls|wss?):\/\//, 'a nats://, tls:// or ws(s):// URL')
    .nullable()
    .default(null),
  /** First token of every subject Buckley publishes on. */
  subjectPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'one subject token')
    .default('buckley'),
});

/** How tool processes are confined. See `@buckley/sandbox`. */
const sandboxSchema = z.strictObject({
  /**
   * `workspace`: the workspace is writable, the rest read-only; `read_only`: nothing writable;
   * `strict`: read-only plus a command allow-list; `disabled`: no sandbox (needs `allowUnsafe`).
   */
  mode: z.enum(['workspace', 'read_only', 'strict', 'disabled']).default('workspace'),
  /** The unsafe override. Only the user config, `BUCKLEY_UNSAFE=1` or a flag may turn it on. */
  allowUnsafe: z.boolean().default(false),
  /** `false`: own network namespace with loopback only. */
  network: z.boolean().default(false),
  /** Wall-clock limit of one command, in seconds. */
  timeoutSeconds: positiveInt(86_400).default(120),
  /** Cap on each of stdout and stderr, in bytes; output past it is cut and flagged. */
  maxOutputBytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 ** 3)
    .default(1024 ** 2),
  /** Protected paths added to the built-in ones (`~/` is the user's home). Layers add up. */
  deniedPaths: z.array(z.string().min(1)).default([]),
  /**
   * Workspace entries, matched at any depth, that configure tools the host runs later without
   * being asked (git, package managers, editors, direnv): a command may change them inside its
   * run, but the change is never applied to the workspace. A project may only add entries.
   */
  protectedPaths: z
    .array(
      z
        .string()
        .regex(/^[^/\0]/, 'a workspace-relative name or path, no leading /')
        .refine((p) => !p.split('/').includes('..'), 'no .. component'),
    )
    .default([
      '.gitattributes',
      '.gitmodules',
      '.husky',
      '.githooks',
      '.pre-commit-config.yaml',
      '.npmrc',
      '.yarnrc',
      '.yarnrc.yml',
      '.pnpmfile.cjs',
      '.envrc',
      '.vscode',
      '.idea',
      '.devcontainer',
      // Mercurial subrepository sources: a `[subpaths]` or ssh URL runs a program on `hg update`
      // (`.hg` itself is never copied back by the sandbox, whatever this list says).
      '.hgsub',
      // Perforce's P4CONFIG file: `P4LOGINSSO` names a program p4 runs.
      '.p4config',
    ]),
  /** Environment variables passed into the sandbox; secret-named ones never pass. */
  envAllow: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'))
    .default(['PATH', 'HOME', 'LANG', 'LC_ALL', 'TERM', 'TZ', 'USER']),
  /** Program names allowed in `strict` mode. */
  allowedCommands: z.array(z.string().min(1)).default([]),
  /**
   * Home entries (`~/...`) commands may read; the rest of the home is hidden. A project file
   * may only shrink the list.
   */
  homeAllow: z
    .array(z.string().regex(/^~\/./, 'a path under the home, written ~/...'))
    .default([
      '~/.cache/buckley-tools',
      '~/.cargo/bin',
      '~/.rustup',
      '~/.nvm',
      '~/.pyenv',
      '~/.rbenv',
      '~/.local/bin',
      '~/.volta',
      '~/.bun/bin',
      '~/.deno/bin',
      '~/go/bin',
    ]),
  /** The JavaScript runner (`createJsRunner` in `@buckley/sandbox`). */
  javascript: z
    .strictObject({
      /** Whether guest code gets `WebAssembly` (its memory is not counted by the isolate heap limit). */
      allowWasm: z.boolean().default(false),
      /** Memory limit of the whole runner process, in MiB (a cgroup). */
      processMemoryMb: z
        .number()
        .int()
        .min(64)
        .max(1024 * 1024)
        .default(1024),
    })
    .prefault({}),
  /** Resource limits that hold even when the host user is root. */
  limits: z
    .strictObject({
      /** Most processes and threads the command may have at once. */
      maxProcesses: positiveInt(65_536).default(256),
      /** Memory limit, in MiB. */
      maxMemoryMb: positiveInt(1024 * 1024).default(2048),
      /** Largest file the command may write, in MiB. */
      maxFileSizeMb: positiveInt(1024 * 1024).default(1024),
      /** CPU time limit, in seconds. */
      cpuSeconds: positiveInt(86_400).default(300),
      /** Total a command may write into the workspace, in MiB. */
      maxWriteMb: positiveInt(1024 * 1024).default(1024),
      /** Most files, directories, symlinks and deletions a command may leave in the workspace. */
      maxFiles: positiveInt(100_000_000).default(200_000),
    })
    .prefault({}),
});

/** When tool calls need a person's approval. */
const approvalSchema = z.strictObject({
  /**
   * `ask`: every mutating call; `safe`: writes inside the workspace run, the rest asks;
   * `auto`: most calls run; `yolo`: nothing asks (user config only).
   */
  mode: z.enum(['ask', 'safe', 'auto', 'yolo']).default('safe'),
  /** Command prefixes that never ask (for example `pnpm test`). */
  autoApprovePatterns: z.array(z.string().min(1)).default([]),
});

/** What one model costs, in US dollars per million tokens. */
const modelPriceSchema = z.strictObject({
  /** The model id as requested or as the endpoint names it in its response. */
  model: z.string().min(1),
  /** Input (prompt) tokens that were not served from the provider's cache. */
  input: z.number().min(0),
  /** Input tokens served from the cache; billed at `input` when left out. */
  cachedInput: z.number().min(0).optional(),
  /** Output (completion) tokens, reasoning tokens included. */
  output: z.number().min(0),
});

/** The OpenAI-compatible model endpoint. */
const modelSchema = z.strictObject({
  /** Base URL of the API, up to and including `/v1`. */
  baseUrl: z.url({ protocol: /^https?$/ }).default('https://api.openai.com/v1'),
  /** Name of the environment variable that holds the API key (never the key itself). */
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .default('OPENAI_API_KEY'),
  /** Model id sent with each request; `null` until configured. */
  id: z.string().min(1).nullable().default(null),
  /** Per-request timeout, in seconds. */
  timeoutSeconds: positiveInt(3600).default(120),
  /** Retries of a failed request that is safe to retry. */
  maxRetries: z.number().int().min(0).max(10).default(2),
  /**
   * The price table for cost accounting. A model that is not listed has cost `null`: there are
   * no built-in prices, since a stale one would be a guess. Only the user config may set it.
   */
  prices: z
    .array(modelPriceSchema)
    .default([])
    .superRefine((prices, ctx) => {
      const seen = new Set<string>();
      for (const [i, price] of prices.entries()) {
        if (seen.has(price.model)) ctx.addIssue({ code: 'custom', path: [i, 'model'], message: `model ${JSON.stringify(price.model)} is priced twice` });
        seen.add(price.model);
      }
    }),
});

/** The headless HTTP API of `buckley serve`. */
const apiSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(4180),
  /** Name of the environment variable that holds the bearer token clients must send. */
  authTokenEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .default('BUCKLEY_API_TOKEN'),
});

/** Metrics, traces and the live event stream. */
const observabilitySchema = z.strictObject({
  metrics: z.boolean().default(true),
  traces: z.boolean().default(false),
  /** OTLP/HTTP endpoint for traces; `null` keeps spans in-process. */
  otlpEndpoint: z
    .url({ protocol: /^https?$/ })
    .nullable()
    .default(null),
  /** Events buffered per live-stream client before it is dropped as too slow. */
  streamBuffer: positiveInt(1_000_000).default(1000),
});

/** Log output. See `@buckley/logging`. */
const loggingSchema = z.strictObject({
  level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /** Directory of JSON-lines log files, relative to the project root. */
  dir: z.string().min(1).default('.buckley/logs'),
  /** Terminal output: `pretty` for people, `json` for machines, `off` for none. */
  console: z.enum(['pretty', 'json', 'off']).default('pretty'),
});

/** The whole runtime configuration. Every section and key has a default. */
export const configSchema = z
  .strictObject({
    store: storeSchema.prefault({}),
    bus: busSchema.prefault({}),
    sandbox: sandboxSchema.prefault({}),
    approval: approvalSchema.prefault({}),
    model: modelSchema.prefault({}),
    api: apiSchema.prefault({}),
    observability: observabilitySchema.prefault({}),
    logging: loggingSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.sandbox.mode === 'disabled' && !config.sandbox.allowUnsafe) {
      ctx.addIssue({
        code: 'custom',
        path: ['sandbox', 'mode'],
        message: 'sandbox.mode "disabled" needs the unsafe override: set sandbox.allow_unsafe: true in the user config, BUCKLEY_UNSAFE=1, or --unsafe',
      });
    }
  });

/** The effective runtime configuration (camelCase; files use the snake_case spelling). */
export type BuckleyConfig = z.output<typeof configSchema>;
/** The `sandbox` section: what `@buckley/sandbox` needs to build its policy. */
export type SandboxConfig = BuckleyConfig['sandbox'];
/** The `store` section. */
export type StoreConfig = BuckleyConfig['store'];
/** The `bus` section. */
export type BusConfig = BuckleyConfig['bus'];
/** The `approval` section. */
export type ApprovalConfig = BuckleyConfig['approval'];
/** The `model` section. */
export type ModelConfig = BuckleyConfig['model'];
/** One row of `model.prices`: US dollars per million tokens. */
export type ModelPrice = ModelConfig['prices'][number];
/** The `api` section. */
export type ApiConfig = BuckleyConfig['api'];
/** The `observability` section. */
export type ObservabilityConfig = BuckleyConfig['observability'];
/** The `logging` section. */
export type LoggingConfig = BuckleyConfig['logging'];
/** A sandbox mode. */
export type SandboxMode = SandboxConfig['mode'];
/** An approval mode. */
export type ApprovalMode = ApprovalConfig['mode'];
