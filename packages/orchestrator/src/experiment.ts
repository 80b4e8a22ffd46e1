/**
 * Experiments: one task run against several variants (models, prompts, limits), each in its own
 * copy of the workspace, scored by criteria, ranked, and recorded as `experiment.*` events on the
 * stream `experiment:<id>`. The runs are tasks of a TaskCoordinator, so any number of processes
 * share them; the ranking is a fold of the stream, so it can be redone from the log alone.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TaskCoordinator, TaskWorker } from '@buckley/coordination';
import { runTaskWorker } from '@buckley/coordination';
import type { EventStore, JsonObject, NewEvent, Outcome, StoredEvent } from '@buckley/events';
import { isWrongExpectedVersionError } from '@buckley/events';
import { type Redactor, createRedactor, redactMetadata } from '@buckley/observability';
import { describeValue, uuidv7 } from '@buckley/utils';
import type { Agent, AgentLimits, AgentRunResult } from './agent.js';
import { checkId, checkText } from './input.js';
import {
  ExperimentExistsError,
  ExperimentNotFoundError,
  InvalidOrchestratorInputError,
  OrchestratorErrorCode,
  isOrchestratorError,
} from './orchestrator-errors.js';
import type { Orchestrator } from './orchestrator.js';

/** How a run is judged. Each criterion scores 0 or 1, times its `weight` (default 1). */
export type ExperimentCriterion =
  /** The command exits 0 in the sandbox, in the run's copy of the workspace. */
  | { readonly name: string; readonly kind: 'command_succeeds'; readonly command: string; readonly weight?: number }
  /** The file (workspace-relative) contains the text. */
  | { readonly name: string; readonly kind: 'file_contains'; readonly path: string; readonly text: string; readonly weight?: number }
  /**
   * The command's output (stdout then stderr) has a number captured by `pattern`'s first group
   * (e.g. `(\\d+) passed`) of at least `min`.
   */
  | { readonly name: string; readonly kind: 'test_count'; readonly command: string; readonly pattern: string; readonly min: number; readonly weight?: number };

/** One way of running the task. */
export interface ExperimentVariant {
  readonly variantId: string;
  /** The model the run's agent uses (its `modelId`). */
  readonly modelId: string;
  readonly systemPrompt?: string;
  readonly limits?: AgentLimits;
  /** Anything else the environment builder reads (temperature, tools allowed, ...). */
  readonly config?: JsonObject;
}

/** What {@link ExperimentRunner.start} takes. */
export interface ExperimentSpec {
  /** Default a new UUIDv7. */
  readonly experimentId?: string;
  readonly name: string;
  readonly hypothesis?: string;
  /** The task: the user message of every run. */
  readonly prompt: string;
  readonly variants: readonly ExperimentVariant[];
  readonly criteria: readonly ExperimentCriterion[];
}

/** What the runtime builds for one run, over the run's copy of the workspace. */
export interface ExperimentEnvironment {
  /** An agent whose tools work in the copy and whose model is the variant's. */
  readonly agent: Agent;
  /** Runs a criterion's command in the sandbox, in the copy. */
  run(
    command: string,
    options: { readonly signal: AbortSignal },
  ): Promise<{ readonly exitCode: number | null; readonly stdout: string; readonly stderr: string }>;
  /** The text of a workspace-relative file of the copy, or `null` when there is none (the path policy applies). */
  readFile(path: string): Promise<string | null>;
  close(): Promise<void>;
}

/** Options of {@link createExperimentRunner}. */
export interface ExperimentRunnerOptions {
  readonly orchestrator: Orchestrator;
  readonly store: EventStore;
  readonly coordinator: TaskCoordinator;
  /** The workspace every run gets a copy of. */
  readonly workspace: string;
  /** Where the copies go, `<copies>/<experimentId>/<variantId>`; default `<workspace>/.buckley/experiments`. */
  readonly copies?: string;
  /** Builds a run's agent and sandbox over its copy. */
  environment(input: { readonly experimentId: string; readonly variant: ExperimentVariant; readonly workspace: string }): Promise<ExperimentEnvironment>;
  /** Default `@buckley/observability`'s redactor, keeping strings up to 2 MiB. */
  readonly redact?: Redactor;
}

/** The verdict of one criterion on one run. */
export interface CriterionResult {
  readonly criterion: string;
  readonly passed: boolean;
  readonly weight: number;
  /** What was seen: the exit code, the count found, or why it could not be judged. */
  readonly details: string;
}

/** One finished run, as recorded. */
export interface ExperimentRun {
  readonly variantId: string;
  readonly modelId: string;
  readonly sessionId: string;
  readonly outcome: Outcome;
  readonly stopReason: AgentRunResult['stopReason'];
  /** Why a run that failed failed (the agent's error, or what kept the run from starting). */
  readonly error: AgentRunResult['error'];
  readonly criteria: readonly CriterionResult[];
  /** Weighted share of criteria passed, in [0, 1]. */
  readonly score: number;
  readonly durationMs: number;
  readonly costUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly steps: number;
}

/** An experiment as its stream tells it. */
export interface ExperimentReport {
  readonly experimentId: string;
  readonly name: string;
  readonly hypothesis: string;
  /** The task every run was given. */
  readonly prompt: string;
  readonly status: 'running' | 'completed';
  readonly variants: readonly ExperimentVariant[];
  readonly criteria: readonly ExperimentCriterion[];
  readonly runs: readonly ExperimentRun[];
  /** Variant ids best first: score, then success, then cost, then duration, then id. */
  readonly ranking: readonly string[];
}

/** Runs experiments. */
export interface ExperimentRunner {
  /** Records `experiment.started` and submits one coordinator task per variant. A taken id is `EXPERIMENT_EXISTS`. */
  start(spec: ExperimentSpec, options?: { readonly signal?: AbortSignal }): Promise<ExperimentReport>;
  /** Runs this process's share of the runs (coordinator tasks of type `experiment.run`) until closed. */
  work(options: {
    readonly workerId: string;
    readonly concurrency?: number;
    readonly signal?: AbortSignal;
    readonly onError?: (error: unknown) => void;
  }): TaskWorker;
  /** The experiment folded from its stream. */
  get(experimentId: string, options?: { readonly signal?: AbortSignal }): Promise<ExperimentReport>;
  /**
   * Scores and ranks again from the log alone (no run is repeated): the recorded verdicts with
   * other weights, or only the criteria named.
   */
  rescore(experimentId: string, options: { readonly weights?: Readonly<Record<string, number>>; readonly only?: readonly string[] }): Promise<ExperimentReport>;
}

/** The experiment's stream id. */
export const experimentStreamId = (experimentId: string) => `experiment:${experimentId}`;
/** The coordinator task type of one run. */
export const EXPERIMENT_RUN_TASK = 'experiment.run';

const execFileAsync = promisify(execFile);

/**
 * Creates the runner.
 *
 * @example
 * ```ts
 * const runner = createExperimentRunner({ orchestrator, store, coordinator, workspace, environment });
 * const { experimentId } = await runner.start({ name: 'fix-test', prompt: 'make the test pass', variants, criteria });
 * await using worker = runner.work({ workerId: 'w1' });
 * ```
 */
export function createExperimentRunner(options: ExperimentRunnerOptions): ExperimentRunner {
  const { orchestrator, store, coordinator } = options;
  // Strings as long as a prompt kept (the default cuts at 16 KiB).
  const redact = options.redact ?? createRedactor({ maxStringBytes: 2 * 1024 * 1024 });
  const workspace = resolve(options.workspace);
  const copies = resolve(options.copies ?? join(workspace, '.buckley', 'experiments'));

  const read = async (experimentId: string, signal?: AbortSignal) => {
    const events = await store.read(experimentStreamId(checkId('experimentId', experimentId)), signal ? { signal } : {});
    if (events[0]?.type !== 'experiment.started') throw new ExperimentNotFoundError(`experiment ${describeValue(experimentId)} was never started`);
    return events;
  };
  const append = (experimentId: string, events: readonly NewEvent[], expectedVersion: number | 'no_stream' | undefined) =>
    store.append(
      experimentStreamId(experimentId),
      events.map((e) => ({ ...e, data: redact(e.data), metadata: redactMetadata({ ...e.metadata, experimentId }, redact) })),
      expectedVersion === undefined ? {} : { expectedVersion },
    );

  /** Appends `experiment.completed` once every variant has a run; two workers finishing together write it once. */
  const completeIfDone = async (experimentId: string) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const events = await read(experimentId);
      const report = fold(events);
      if (report.status === 'completed' || report.runs.length < report.variants.length) return;
      try {
        await append(
          experimentId,
          [
            {
              type: 'experiment.completed',
              data: {
                experimentId,
                outcome: report.runs.some((r) => r.outcome === 'success') ? 'success' : 'failure',
                summary: `${report.runs.filter((r) => r.outcome === 'success').length} of ${report.runs.length} runs succeeded; best ${report.ranking[0]}`,
                ranking: [...report.ranking],
              },
              metadata: { outcome: report.runs.some((r) => r.outcome === 'success') ? 'success' : 'failure' },
            },
          ],
          events.at(-1)!.version,
        );
        return;
      } catch (error) {
        if (!isWrongExpectedVersionError(error)) throw error;
      }
    }
  };

  const runOne = async (experimentId: string, variantId: string, taskId: string, attempt: number, signal: AbortSignal): Promise<JsonObject> => {
    const report = fold(await read(experimentId));
    const done = report.runs.find((r) => r.variantId === variantId);
    // A run recorded by an attempt whose completion was lost: never run it again.
    if (done !== undefined) {
      await completeIfDone(experimentId);
      return { variantId, score: done.score, repeated: true };
    }
    const variant = report.variants.find((v) => v.variantId === variantId);
    if (variant === undefined) throw new InvalidOrchestratorInputError(`variant ${describeValue(variantId)} is not part of the experiment`);
    const copy = join(copies, experimentId, variantId);
    const sessionId = `experiment:${experimentId}:${variantId}`;
    const attribution = { experimentId, taskId, agentId: `experiment:${variantId}` };
    const t0 = performance.now();
    const record = async (run: ExperimentRun) => {
      await append(
        experimentId,
        [
          {
            type: 'experiment.run_completed',
            data: toJson(run),
            metadata: { taskId, modelId: variant.modelId, outcome: run.outcome, durationMs: run.durationMs },
          },
        ],
        undefined,
      );
      await completeIfDone(experimentId);
      return { variantId, score: run.score };
    };
    let env: ExperimentEnvironment | undefined;
    try {
      const kind = await prepareCopy(workspace, copy);
      await append(
        experimentId,
        [
          {
            type: 'experiment.run_started',
            data: { variantId, modelId: variant.modelId, sessionId, attempt, copy: kind },
            metadata: { taskId, modelId: variant.modelId },
          },
        ],
        undefined,
      );
      env = await options.environment({ experimentId, variant, workspace: copy });
      // A retried attempt continues the same session (the agent resumes it), in the same copy.
      const existing = await orchestrator.getSession(sessionId).catch(() => undefined);
      if (existing === undefined) {
        await orchestrator.startSession({ sessionId, title: `${report.name} / ${variantId}` });
        await orchestrator.addMessage(sessionId, { role: 'user', content: report.prompt });
      }
      const result = await env.agent.run(sessionId, { signal, attribution, ...(variant.limits ? { limits: variant.limits } : {}) });
      const criteria: CriterionResult[] = [];
      for (const criterion of report.criteria) criteria.push(await judge(criterion, env, signal));
      return await record({
        variantId,
        modelId: variant.modelId,
        sessionId,
        outcome: result.outcome,
        stopReason: result.stopReason,
        error: result.error,
        criteria,
        score: scoreOf(criteria),
        durationMs: Math.round(performance.now() - t0),
        costUsd: result.usage.costUsd,
        inputTokens: result.usage.inputTokens,
        outputTokens: result.usage.outputTokens,
        steps: result.steps,
      });
    } catch (error) {
      // The run could not be made (no copy, no environment, no session): a failed run, scored 0, so the experiment still ends.
      // A session another run still holds (a crashed attempt's lease) is retried by the coordinator instead.
      if (signal.aborted || isOrchestratorError(error, OrchestratorErrorCode.SessionBusy)) throw error;
      return await record({
        variantId,
        modelId: variant.modelId,
        sessionId,
        outcome: 'failure',
        stopReason: 'error',
        error: {
          code: (error as { code?: unknown }).code === undefined ? 'UNKNOWN' : String((error as { code?: unknown }).code),
          message: error instanceof Error ? error.message : String(error),
        },
        criteria: report.criteria.map((c) => ({
          criterion: c.name,
          passed: false,
          weight: c.weight ?? 1,
          details: 'the run failed before it could be judged',
        })),
        score: 0,
        durationMs: Math.round(performance.now() - t0),
        costUsd: 0,
        inputTokens: 0,
        outputTokens: 0,
        steps: 0,
      });
    } finally {
      await env?.close();
    }
  };

  return {
    async start(spec, startOptions = {}) {
      const checked = checkSpec(spec);
      try {
        await append(checked.experimentId, [{ type: 'experiment.started', data: toJson({ ...checked, variant: '' }), metadata: {} }], 'no_stream');
      } catch (error) {
        if (isWrongExpectedVersionError(error))
          throw new ExperimentExistsError(`experiment ${describeValue(checked.experimentId)} was already started`, { cause: error });
        throw error;
      }
      for (const variant of checked.variants) {
        await coordinator.submit({
          id: `experiment:${checked.experimentId}:${variant.variantId}`,
          type: EXPERIMENT_RUN_TASK,
          payload: { experimentId: checked.experimentId, variantId: variant.variantId },
          ...(startOptions.signal ? { signal: startOptions.signal } : {}),
        });
      }
      return fold(await read(checked.experimentId));
    },
    work(workOptions) {
      return runTaskWorker(coordinator, {
        workerId: workOptions.workerId,
        concurrency: workOptions.concurrency ?? 1,
        ...(workOptions.signal ? { signal: workOptions.signal } : {}),
        ...(workOptions.onError ? { onError: workOptions.onError } : {}),
        handler: async (lease, context) => {
          if (lease.type !== EXPERIMENT_RUN_TASK) throw new InvalidOrchestratorInputError(`task type ${describeValue(lease.type)} is not an experiment run`);
          const { experimentId, variantId } = lease.payload as { experimentId: string; variantId: string };
          return runOne(experimentId, variantId, lease.taskId, context.attempt, context.signal);
        },
      });
    },
    async get(experimentId, getOptions = {}) {
      return fold(await read(experimentId, getOptions.signal));
    },
    async rescore(experimentId, rescoreOptions) {
      const report = fold(await read(experimentId));
      const weights = rescoreOptions.weights ?? {};
      for (const [name, w] of Object.entries(weights))
        if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0))
          throw new InvalidOrchestratorInputError(`weight of ${describeValue(name)} must be a finite number >= 0`);
      const only = rescoreOptions.only === undefined ? undefined : new Set(rescoreOptions.only);
      const runs = report.runs.map((run) => {
        const criteria = run.criteria
          .filter((c) => only === undefined || only.has(c.criterion))
          .map((c) => ({ ...c, weight: weights[c.criterion] ?? c.weight }));
        return { ...run, criteria, score: scoreOf(criteria) };
      });
      return { ...report, runs, ranking: rank(runs) };
    },
  };
}

function checkSpec(spec: ExperimentSpec): Required<Omit<ExperimentSpec, 'hypothesis'>> & { hypothesis: string } {
  if (spec === null || typeof spec !== 'object') throw new InvalidOrchestratorInputError(`experiment must be an object, got ${describeValue(spec)}`);
  const experimentId = checkId('experimentId', spec.experimentId ?? uuidv7());
  if (experimentId.length > 60) throw new InvalidOrchestratorInputError(`experimentId must be at most 60 characters, got ${describeValue(experimentId)}`);
  const name = checkText('name', spec.name, 200);
  const hypothesis = checkText('hypothesis', spec.hypothesis ?? '', 2000, true);
  const prompt = checkText('prompt', spec.prompt, 512 * 1024);
  if (!Array.isArray(spec.variants) || spec.variants.length === 0 || spec.variants.length > 100)
    throw new InvalidOrchestratorInputError('variants must be an array of 1 to 100 variants');
  const ids = new Set<string>();
  for (const v of spec.variants) {
    checkId('variantId', v?.variantId);
    if (v.variantId.length > 64) throw new InvalidOrchestratorInputError(`variantId must be at most 64 characters, got ${describeValue(v.variantId)}`);
    checkText('modelId', v.modelId, 200);
    if (ids.has(v.variantId)) throw new InvalidOrchestratorInputError(`variant id ${describeValue(v.variantId)} is given twice`);
    ids.add(v.variantId);
  }
  if (!Array.isArray(spec.criteria) || spec.criteria.length > 100) throw new InvalidOrchestratorInputError('criteria must be an array of at most 100 criteria');
  const names = new Set<string>();
  for (const c of spec.criteria) {
    checkText('criterion name', c?.name, 200);
    if (names.has(c.name)) throw new InvalidOrchestratorInputError(`criterion name ${describeValue(c.name)} is given twice`);
    names.add(c.name);
    if (c.weight !== undefined && !(typeof c.weight === 'number' && Number.isFinite(c.weight) && c.weight >= 0))
      throw new InvalidOrchestratorInputError(`weight of criterion ${describeValue(c.name)} must be a finite number >= 0`);
    if (c.kind === 'command_succeeds') checkText('command', c.command, 65_536);
    else if (c.kind === 'file_contains') {
      checkText('path', c.path, 4096);
      checkText('text', c.text, 65_536);
    } else if (c.kind === 'test_count') {
      checkText('command', c.command, 65_536);
      checkText('pattern', c.pattern, 1000);
      try {
        new RegExp(c.pattern);
      } catch {
        throw new InvalidOrchestratorInputError(`pattern of criterion ${describeValue(c.name)} is not a valid regular expression`);
      }
      if (!(Number.isInteger(c.min) && c.min >= 0))
        throw new InvalidOrchestratorInputError(`min of criterion ${describeValue(c.name)} must be an integer >= 0`);
    } else
      throw new InvalidOrchestratorInputError(
        `criterion kind ${describeValue((c as { kind?: unknown }).kind)} is not command_succeeds, file_contains or test_count`,
      );
  }
  return { experimentId, name, hypothesis, prompt, variants: spec.variants, criteria: spec.criteria };
}

/** A git worktree of HEAD when the workspace is a git repository, else a copy (`.buckley` left out). An existing copy is a retried run's: kept. */
async function prepareCopy(workspace: string, copy: string): Promise<'worktree' | 'copy' | 'reused'> {
  if (
    await stat(copy).then(
      () => true,
      () => false,
    )
  )
    return 'reused';
  await mkdir(join(copy, '..'), { recursive: true });
  const isGit = await stat(join(workspace, '.git')).then(
    () => true,
    () => false,
  );
  if (isGit) {
    // Buckley's own git call with a fixed argv (no shell, nothing from the model), on the host: the sandbox keeps .git read-only.
    await execFileAsync('git', ['-C', workspace, 'worktree', 'add', '--detach', '--quiet', copy, 'HEAD'], { timeout: 60_000 });
    return 'worktree';
  }
  // Entry by entry: the copies may live inside the workspace (`.buckley`, left out).
  // Entry by entry (the copies may live inside the workspace, in `.buckley`, which is left out),
  // into a partial directory renamed at the end: a copy cut short by a crash is never reused.
  const partial = `${copy}.partial-${uuidv7()}`;
  await mkdir(partial);
  try {
    for (const entry of await readdir(workspace)) {
      if (entry === '.buckley') continue;
      await cp(join(workspace, entry), join(partial, entry), { recursive: true, verbatimSymlinks: true });
    }
    await rename(partial, copy);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  return 'copy';
}

async function judge(criterion: ExperimentCriterion, env: ExperimentEnvironment, signal: AbortSignal): Promise<CriterionResult> {
  const weight = criterion.weight ?? 1;
  const verdict = (passed: boolean, details: string): CriterionResult => ({ criterion: criterion.name, passed, weight, details });
  try {
    if (criterion.kind === 'file_contains') {
      const text = await env.readFile(criterion.path);
      return text === null
        ? verdict(false, 'the file does not exist')
        : verdict(text.includes(criterion.text), text.includes(criterion.text) ? 'found' : 'not found');
    }
    const result = await env.run(criterion.command, { signal });
    if (criterion.kind === 'command_succeeds') return verdict(result.exitCode === 0, `exit code ${String(result.exitCode)}`);
    const match = new RegExp(criterion.pattern).exec(`${result.stdout}\n${result.stderr}`);
    const count = match?.[1] === undefined ? Number.NaN : Number(match[1]);
    if (!Number.isFinite(count)) return verdict(false, 'the pattern found no count in the output');
    return verdict(count >= criterion.min, `count ${count}, at least ${criterion.min} wanted`);
  } catch (error) {
    return verdict(false, `could not be judged: ${(error as { code?: string }).code ?? 'UNKNOWN'}`);
  }
}

function scoreOf(criteria: readonly CriterionResult[]): number {
  const total = criteria.reduce((n, c) => n + c.weight, 0);
  if (total === 0) return 0;
  return criteria.reduce((n, c) => n + (c.passed ? c.weight : 0), 0) / total;
}

function rank(runs: readonly ExperimentRun[]): string[] {
  return [...runs]
    .sort(
      (a, b) =>
        b.score - a.score ||
        Number(b.outcome === 'success') - Number(a.outcome === 'success') ||
        a.costUsd - b.costUsd ||
        a.durationMs - b.durationMs ||
        (a.variantId < b.variantId ? -1 : 1),
    )
    .map((r) => r.variantId);
}

const toJson = (value: unknown): JsonObject => JSON.parse(JSON.stringify(value)) as JsonObject;

/** The report of an experiment from its events. */
function fold(events: readonly StoredEvent[]): ExperimentReport {
  const started = events[0]!.data as unknown as {
    experimentId: string;
    name: string;
    hypothesis: string;
    prompt: string;
    variants: ExperimentVariant[];
    criteria: ExperimentCriterion[];
  };
  const runs = new Map<string, ExperimentRun>();
  let completed = false;
  for (const e of events) {
    if (e.type === 'experiment.run_completed') {
      const run = e.data as unknown as ExperimentRun;
      if (!runs.has(run.variantId)) runs.set(run.variantId, run);
    } else if (e.type === 'experiment.completed') completed = true;
  }
  const list = started.variants.flatMap((v) => (runs.has(v.variantId) ? [runs.get(v.variantId)!] : []));
  return {
    experimentId: started.experimentId,
    name: started.name,
    hypothesis: started.hypothesis,
    prompt: started.prompt,
    status: completed ? 'completed' : 'running',
    variants: started.variants,
    criteria: started.criteria,
    runs: list,
    ranking: rank(list),
  };
}
