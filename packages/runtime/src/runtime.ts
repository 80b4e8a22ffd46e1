import { isAbsolute, resolve } from 'node:path';
import { type LoadedConfig, loadConfig } from '@buckley/config';
import type { EventStore } from '@buckley/events';
import { type ModelClient, createOpenAiModelClient } from '@buckley/model';
import { type Recorder, createRecorder, createRedactor } from '@buckley/observability';
import { type Agent, type Orchestrator, createAgent, createOrchestrator, createUpdatePlanTool } from '@buckley/orchestrator';
import { type Sandbox, createSandbox } from '@buckley/sandbox';
import { BUILTIN_TOOLS, type ToolExecutor, createToolExecutor, createToolRegistry } from '@buckley/tools';
import { MissingPackageError, StoreUnavailableError } from './runtime-errors.js';

/** Options of {@link createRuntime}. Every input is explicit, so tests and embedders control it. */
export interface RuntimeOptions {
  /** The directory the runtime works on: its project root is the workspace and holds `.buckley/`. Default `process.cwd()`. */
  readonly cwd?: string;
  /** Environment for the config layers and the model's API key. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The user's home directory (for the user config). Default `os.homedir()`. */
  readonly homeDir?: string;
  /** Explicit overrides, the highest config layer (what flags set): `{ 'model.id': 'gpt-4.1' }`. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** An already loaded configuration; when given, `cwd`, `homeDir` and `overrides` are not read. */
  readonly config?: LoadedConfig;
  /** The system message in front of every conversation. */
  readonly systemPrompt?: string;
}

/** The composed graph: one event store shared by the recorder, the orchestrator and the agent. */
export interface Runtime extends AsyncDisposable {
  /** The effective configuration, with the origin of every value. */
  readonly config: LoadedConfig;
  /** The workspace the tools work in (the project root). */
  readonly workspace: string;
  readonly store: EventStore;
  readonly recorder: Recorder;
  readonly sandbox: Sandbox;
  readonly tools: ToolExecutor;
  readonly model: ModelClient;
  readonly orchestrator: Orchestrator;
  readonly agent: Agent;
  /**
   * Stops everything in reverse order of start (tools, model, orchestrator, recorder, which
   * flushes what it buffered, sandbox, store). Idempotent; the first error is thrown after every
   * part was closed.
   */
  close(): Promise<void>;
}

/** An opened event store and how to let go of it (the store, then the connection pool it owns). */
export interface OpenedStore {
  readonly store: EventStore;
  /** `embedded` (PGlite in `dataDir`) or `postgres` (`store.url`). */
  readonly kind: 'embedded' | 'postgres';
  /** Where the log lives: the data directory, or `postgres` (the URL may hold a password, so it is not repeated). */
  readonly location: string;
  close(): Promise<void>;
}

/** Loads the configuration as the runtime does (project root from `cwd`, the given env and home). */
export function loadRuntimeConfig(options: Pick<RuntimeOptions, 'cwd' | 'env' | 'homeDir' | 'overrides'> = {}): LoadedConfig {
  return loadConfig({
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
    ...(options.homeDir !== undefined ? { homeDir: options.homeDir } : {}),
    ...(options.overrides !== undefined ? { overrides: options.overrides } : {}),
  });
}

async function load<T>(name: string, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') throw new MissingPackageError(name, { cause: error });
    throw error;
  }
}

/**
 * Opens the event store the configuration selects: Postgres at `store.url` when it is set,
 * else embedded PGlite in `store.data_dir` (relative to the project root). Adapters load lazily,
 * so a missing optional package is a {@link MissingPackageError} naming it.
 *
 * @throws {StoreUnavailableError} when the store cannot be opened (the driver's error is the cause)
 */
export async function openEventStore(loaded: LoadedConfig): Promise<OpenedStore> {
  const { store: config } = loaded.config;
  const postgres = await load('@buckley/postgres', () => import('@buckley/postgres'));
  if (config.url !== null) {
    const pg = await load('pg', () => import('pg'));
    const pool = new pg.default.Pool({ connectionString: config.url, max: 10 });
    pool.on('error', () => undefined);
    try {
      const store = await postgres.createPostgresEventStore({ pool, schema: config.schema, partition: config.partition });
      return {
        store,
        kind: 'postgres',
        location: 'postgres',
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new StoreUnavailableError('Postgres event store at store.url', {
        cause: error,
        fix: 'check that the server at store.url (BUCKLEY_STORE_URL) is up and reachable, or unset it for the embedded store',
      });
    }
  }
  const dataDir = isAbsolute(config.dataDir) ? config.dataDir : resolve(loaded.projectRoot, config.dataDir);
  let store: EventStore;
  try {
    store = await postgres.createPGliteEventStore({ dataDir, schema: config.schema, partition: config.partition });
  } catch (error) {
    const reason = error instanceof Error ? `: ${error.message}` : '';
    throw new StoreUnavailableError(`embedded event store in ${JSON.stringify(dataDir)}${reason}`, {
      cause: error,
      retryable: false,
      fix: 'close the other buckley process using this directory, or set store.url to share a Postgres store',
    });
  }
  return { store, kind: 'embedded', location: dataDir, close: () => store.close() };
}

/**
 * Builds Buckley's graph from its configuration: the event store (embedded PGlite in
 * `.buckley/data` by default, Postgres when `store.url` is set), the telemetry recorder on it,
 * the sandbox on the project root, the built-in tools plus `update_plan`, the OpenAI-compatible
 * model client, the orchestrator and the agent. One event store instance is shared by all of
 * them. If any part fails to start, the parts already started are closed before the error is
 * thrown, so nothing is left half-started.
 *
 * Not wired yet: the bus (NATS), the outbox relay, the agent registry and the task coordinator.
 *
 * @throws the config package's errors (`CONFIG_*`), {@link StoreUnavailableError}, {@link MissingPackageError},
 *   and the model client's `ModelApiKeyMissingError` when the key variable is unset
 *
 * @example
 * ```ts
 * await using runtime = await createRuntime({ cwd: process.cwd() });
 * const { sessionId } = await runtime.orchestrator.startSession({ title: 'fix the build' });
 * await runtime.orchestrator.addMessage(sessionId, { role: 'user', content: 'fix the build' });
 * const result = await runtime.agent.run(sessionId);
 * ```
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const env = options.env ?? process.env;
  const loaded = options.config ?? loadRuntimeConfig({ ...options, env });
  const { config } = loaded;
  const workspace = loaded.projectRoot;
  const stack: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    let first: unknown;
    for (const stop of stack.splice(0).toReversed()) {
      try {
        await stop();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  };
  try {
    const opened = await openEventStore(loaded);
    stack.push(() => opened.close());
    const { store } = opened;
    const sandbox = createSandbox({ config: config.sandbox, workspace });
    stack.push(() => sandbox.close());
    // Strings up to 1 MiB kept: tool results are the conversation (the default cuts telemetry strings at 16 KiB).
    const recorder = createRecorder({ store, redact: createRedactor({ maxStringBytes: 1024 * 1024 }) });
    stack.push(() => recorder.close());
    const orchestrator = createOrchestrator({ store });
    stack.push(() => orchestrator.close());
    const model = createOpenAiModelClient({ config: config.model, env, onObservation: recorder.observer() });
    stack.push(() => model.close());
    const registry = createToolRegistry({ builtins: BUILTIN_TOOLS });
    registry.register(createUpdatePlanTool(orchestrator));
    const tools = createToolExecutor({ registry, sandbox, recorder, config, workspace });
    stack.push(() => tools.close());
    const agent = createAgent({
      orchestrator,
      store,
      recorder,
      model,
      tools,
      ...(config.model.id !== null ? { modelId: config.model.id } : {}),
      ...(options.systemPrompt !== undefined ? { systemPrompt: options.systemPrompt } : {}),
    });
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= closeAll());
    return { config: loaded, workspace, store, recorder, sandbox, tools, model, orchestrator, agent, close, [Symbol.asyncDispose]: close };
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }
}
