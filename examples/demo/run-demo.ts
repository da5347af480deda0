import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  type EngineEvent,
  FlowControl,
  InProcessLimiter,
  type InstanceRecord,
  loadDefinitionsOrThrow,
  ProcessorRegistry,
  registerBuiltinProcessors,
  type SweepInboxResult,
  UndiciTransport,
  Worker,
} from "@capflow/core";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import {
  type CapflowDatabase,
  openPgliteStore,
  openPostgresStore,
  pushDefinitions,
  syncProcessors,
} from "@capflow/store-knex";
import { createFunderCryptoHandler, type MockFunder, type PartnerKeySet } from "@capflow/testkit";
import { type CallbackServer, startCallbackServer } from "./callback-server.ts";
import { FastClock, ScaledTransport } from "./fast-clock.ts";
import { FunderBook, type FunderProfile } from "./mock-funders.ts";
import { createProgressReporter, formatClockSpan } from "./progress.ts";
import { buildScenario, type ScenarioCase } from "./scenario.ts";
import { checkRun, type DemoRun, formatSummary, type StepLogRow } from "./summary.ts";

export interface DemoOptions {
  /** The funders that take part: each example folder exports its own (`mock-funder.ts`). */
  funders: readonly FunderProfile[];
  /** Business records in all. Default 300. */
  total?: number;
  /** Only these kinds of scenario case (see `caseKinds`). Default: all. */
  onlyKinds?: readonly string[];
  /** Seed of the scenario mix and of the mock funders' faults. Default 2026. */
  seed?: number;
  /** How much faster than real time the demo clock runs. Default 20. */
  speed?: number;
  /** PostgreSQL instead of PGlite; the demo works in a fresh schema it drops at the end. */
  databaseUrl?: string;
  /** Redis locks and cluster-wide limits instead of in-process ones. */
  redisUrl?: string;
  /** Where to write. Default: standard output. */
  write?: (text: string) => void;
  /** Rewrite the progress line in place. Default: when standard output is a terminal. */
  tty?: boolean;
  /** Print the progress line at all. Default true. */
  progress?: boolean;
  /** Give up waiting for instances to settle after this many real milliseconds. Default 50 000. */
  timeoutMs?: number;
}

/** DATABASE_URL, REDIS_URL, DEMO_TOTAL and DEMO_SEED, as demo options. */
export function demoOptionsFromEnv(env: NodeJS.ProcessEnv): Omit<DemoOptions, "funders"> {
  return {
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    ...(env.DEMO_TOTAL ? { total: Number(env.DEMO_TOTAL) } : {}),
    ...(env.DEMO_SEED ? { seed: Number(env.DEMO_SEED) } : {}),
  };
}

export interface DemoResult {
  readonly ok: boolean;
  /** What differed from the scenario's expectations, one line each. */
  readonly problems: readonly string[];
  /** The summary table, as printed. */
  readonly summary: string;
  readonly run: DemoRun;
}

/**
 * Runs the demo: the example funders as mock servers on loopback, the engine on PGlite (or
 * PostgreSQL and Redis), a worker, a callback endpoint, and a seeded batch of business records
 * whose funders misbehave in every way the mock funder kit knows. Resolves with what happened and
 * whether it all matched the scenario; prints progress and a summary on the way.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const funders = options.funders;
  const total = options.total ?? 300;
  const seed = options.seed ?? 2026;
  const speed = options.speed ?? 20;
  const startedAt = performance.now();
  const clock = new FastClock({ speed });
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };

  try {
    // The scenario: who asks for what, and how each funder will behave.
    const cases = buildScenario({
      total,
      seed,
      ...(options.onlyKinds ? { kinds: options.onlyKinds } : {}),
      behaviors: funders.flatMap((funder) => funder.behaviors),
      inputFor: (traits, key, plan) =>
        funderOf(funders, traits.channel).inputFor(traits, key, plan),
    });

    // The store: PGlite in memory, or a fresh schema on PostgreSQL.
    const schema = `capflow_demo_${Date.now().toString(36)}`;
    const db: CapflowDatabase = options.databaseUrl
      ? openPostgresStore({ connectionString: options.databaseUrl, schema, pool: { max: 12 } })
      : await openPgliteStore();
    cleanups.push(() => db.close());
    if (options.databaseUrl) {
      cleanups.push(() => db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    }
    // Migrating PGlite takes seconds: let it run while the funders start.
    const migrated = db.migrate();
    migrated.catch(() => undefined);

    const redis: CapflowRedis | undefined = options.redisUrl
      ? await openRedis({ url: options.redisUrl, keyPrefix: `${schema}:` })
      : undefined;
    if (redis) cleanups.push(() => redis.close());

    // Processors: the built-in ones, plus each example's own (examples/<name>/processors.ts).
    const processors = registerBuiltinProcessors(new ProcessorRegistry());
    for (const funder of funders) {
      const module = join(funder.dir, "processors.ts");
      if (!existsSync(module)) continue;
      const loaded = (await import(pathToFileURL(module).href)) as {
        registerProcessors?: (registry: ProcessorRegistry) => unknown;
      };
      await loaded.registerProcessors?.(processors);
    }

    // One mock funder per channel, with the funder's side of the channel's crypto, then the
    // definitions pushed with each channel pointed at its mock.
    const mocks = new Map<string, MockFunder>();
    const channels: ChannelDefinition[] = [];
    const behaviors: BehaviorDefinition[] = [];
    for (const funder of funders) {
      const definitionsDir = join(funder.dir, "definitions");
      const loaded = await loadDefinitionsOrThrow(definitionsDir);
      const channel = loaded.channels.find((candidate) => candidate.code === funder.channel);
      if (channel === undefined) {
        throw new Error(`${definitionsDir} has no channel "${funder.channel}"`);
      }
      const partner = JSON.parse(
        await readFile(join(funder.dir, "keys", "partner.crypto.json"), "utf8"),
      ) as { keys: PartnerKeySet };
      const handler = await createFunderCryptoHandler(channel.crypto, partner.keys, {
        secrets: createDefaultSecretResolver(),
        baseDir: definitionsDir,
        clock,
      });
      const funderCases = cases.filter((scenarioCase) => scenarioCase.channel === funder.channel);
      const mock = await funder.startMock({
        cases: funderCases,
        book: new FunderBook(funderCases),
        handler,
        clock,
        seed,
      });
      cleanups.push(() => mock.close());
      mocks.set(funder.channel, mock);
      channels.push(pointedAt(channel, mock.url, definitionsDir));
      behaviors.push(
        ...loaded.behaviors.filter((behavior) =>
          funder.behaviors.some((traits) => traits.behavior === behavior.code),
        ),
      );
    }
    await migrated;
    await syncProcessors(db, processors.list(), clock.now());
    await pushDefinitions(db, { channels, behaviors });

    // The engine, as a host service embeds it.
    const events = { callbacks: 0, duplicates: 0, rejected: 0, ownershipLost: 0 };
    const transport = new ScaledTransport(new UndiciTransport(), { speed, minTimeoutMs: 1_500 });
    const engine: Engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors,
      clock,
      transport,
      // Leases and locks far longer than any step: the demo shows no crashed workers.
      leaseMs: 10 * 60_000,
      lockTtlMs: 10 * 60_000,
      // A full bulkhead makes a step wait 100 ms and try again; on the demo clock that would be a
      // retry every 10 ms of real time, each one a commit. Keep the real-time pace.
      flowControl: new FlowControl({
        limiter: redis?.limiter ?? new InProcessLimiter({ clock }),
        clock,
        bulkheadRetryAfterMs: 100 * speed,
      }),
      ...(redis ? { locks: redis.locks } : {}),
      onEvent: (event: EngineEvent) => {
        if (event.type === "callback.received") {
          events.callbacks++;
          if (event.duplicate) events.duplicates++;
        } else if (event.type === "callback.rejected") events.rejected++;
        else if (event.type === "ownership.lost") events.ownershipLost++;
      },
    });
    cleanups.push(() => engine.close());
    const callbackServer: CallbackServer = await startCallbackServer(engine);
    cleanups.push(() => callbackServer.close());
    for (const [channel, mock] of mocks) {
      mock.setCallbackUrl(`${callbackServer.url}/callbacks/${channel}`);
    }

    const workerErrors: unknown[] = [];
    const worker = new Worker(engine, {
      clock,
      // PGlite has one connection: two rounds in flight keep it busy; an idle worker asks again
      // after 200 ms of real time (its wait is on the demo clock).
      concurrency: 4,
      batchSize: 16,
      idleMs: 200 * speed,
      onError: (error) => workerErrors.push(error),
    }).start();
    cleanups.push(() => worker.stop());

    const target = options.databaseUrl
      ? `PostgreSQL, schema ${schema}${redis ? ", Redis locks and limits" : ""}`
      : `PGlite in memory${redis ? ", Redis locks and limits" : ""}`;
    write(
      `\ncapflow demo: ${cases.length} business records on ${funders.length} funder${funders.length === 1 ? "" : "s"} (${target}), seed ${seed}\n`,
    );

    // Submit the batch, as the lending platform would.
    let submitting = true;
    const submission = submitAll(engine, cases).finally(() => {
      submitting = false;
    });

    // Run until everything settled, skipping the demo clock over idle stretches.
    const busy = () =>
      submitting ||
      transport.inFlight > 0 ||
      callbackServer.inFlight > 0 ||
      [...mocks.values()].some((mock) => mock.inFlight() > 0 || pendingCallbacks(mock) > 0);
    const progress = createProgressReporter({
      write,
      tty: options.tty ?? process.stdout.isTTY === true,
    });
    const deadline = startedAt + (options.timeoutMs ?? 50_000);
    let counts = await statusCounts(db);
    let countedAt = performance.now();
    while (performance.now() < deadline) {
      await new Promise((resolveTick) => setTimeout(resolveTick, 25));
      // The database is the bottleneck (PGlite has one connection): ask it only when the answer
      // may let the clock skip, or for the progress line about once a second.
      const idle = !busy();
      if (!idle && performance.now() - countedAt < 1_000) continue;
      counts = await statusCounts(db);
      countedAt = performance.now();
      const unsettled = (counts.byStatus.active ?? 0) + (counts.byStatus.waiting ?? 0);
      if (options.progress !== false) {
        progress.update(
          progressLine(performance.now() - startedAt, counts, cases.length, mocks, clock),
        );
      }
      if (!submitting && unsettled === 0 && counts.total >= cases.length) break;
      const nextDue = counts.nextDueAt;
      const now = clock.now();
      // Nothing in flight and nobody due: jump to the next due time (see FastClock).
      if (idle && nextDue !== undefined && nextDue > now && !busy()) {
        clock.skipTo(Math.min(nextDue, now + maxSkipMs));
      }
    }
    progress.done();
    await submission;
    // Let the funders finish delivering (late duplicates included) before counting.
    const drainUntil = performance.now() + 3_000;
    while (
      performance.now() < drainUntil &&
      [...mocks.values()].some((mock) => pendingCallbacks(mock) > 0)
    ) {
      await new Promise((resolveTick) => setTimeout(resolveTick, 20));
    }
    await worker.stop();
    // Notifications that came after their instance settled (the worker sweeps those older than
    // 10 minutes every minute; at the end, take them all).
    const late = await engine.sweepInbox({ olderThanMs: 0 });

    const run = await collectRun({
      db,
      cases,
      funders,
      mocks,
      events,
      callbacksReceived: callbackServer.received,
      late,
      workerErrors,
      speed,
      clock,
      realMs: performance.now() - startedAt,
      target,
    });
    const problems = checkRun(run);
    const summary = formatSummary(run, problems);
    write(summary);
    return { ok: problems.length === 0, problems, summary, run };
  } finally {
    await cleanUp();
  }
}

/**
 * The longest jump of the demo clock. A skip happens only when nothing is in flight, so no sealed
 * message can go stale across it; the cap bounds the damage should that check ever be wrong (a
 * stale message is refused by the other side and shows up as a difference, never silently).
 */
const maxSkipMs = 30 * 60_000;

function funderOf(funders: readonly FunderProfile[], channel: string): FunderProfile {
  const funder = funders.find((candidate) => candidate.channel === channel);
  if (funder === undefined) throw new Error(`no funder for channel ${channel}`);
  return funder;
}

/**
 * The channel as pushed for the demo: its base URL is the mock funder's, and its key files are
 * referenced by absolute path (the store serves several examples, each with its own keys folder).
 * The files on disk are not changed.
 */
export function pointedAt(
  channel: ChannelDefinition,
  baseUrl: string,
  definitionsDir: string,
): ChannelDefinition {
  const absolute = (value: unknown): unknown => {
    if (typeof value === "string" && value.startsWith("file:")) {
      const path = value.slice("file:".length);
      return isAbsolute(path) ? value : `file:${resolve(definitionsDir, path)}`;
    }
    if (Array.isArray(value)) return value.map(absolute);
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, absolute(item)]));
    }
    return value;
  };
  return { ...channel, baseUrl, crypto: absolute(channel.crypto) as ChannelDefinition["crypto"] };
}

async function submitAll(engine: Engine, cases: readonly ScenarioCase[]): Promise<void> {
  let next = 0;
  const submitOne = async (): Promise<void> => {
    while (next < cases.length) {
      const scenarioCase = cases[next++]!;
      await engine.start({
        channel: scenarioCase.channel,
        behavior: scenarioCase.behavior,
        businessKey: scenarioCase.key,
        input: scenarioCase.input,
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, submitOne));
}

function pendingCallbacks(mock: MockFunder): number {
  const counts = mock.callbackCounts();
  return counts.scheduled - counts.acknowledged - counts.exhausted;
}

interface StatusCounts {
  total: number;
  byStatus: Partial<Record<string, number>>;
  nextDueAt: number | undefined;
}

async function statusCounts(db: CapflowDatabase): Promise<StatusCounts> {
  const result = (await db.knex.raw(
    `SELECT status, count(*)::int AS n, min(next_run_at) AS next
     FROM "${db.schema}".instances GROUP BY status`,
  )) as { rows: { status: string; n: number; next: Date | string | null }[] };
  const byStatus: Partial<Record<string, number>> = {};
  let total = 0;
  let nextDueAt: number | undefined;
  for (const row of result.rows) {
    byStatus[row.status] = Number(row.n);
    total += Number(row.n);
    if ((row.status === "active" || row.status === "waiting") && row.next !== null) {
      const at = new Date(row.next).getTime();
      nextDueAt = nextDueAt === undefined ? at : Math.min(nextDueAt, at);
    }
  }
  return { total, byStatus, nextDueAt };
}

function progressLine(
  elapsedMs: number,
  counts: StatusCounts,
  expected: number,
  mocks: Map<string, MockFunder>,
  clock: FastClock,
): string {
  const settled = counts.total - (counts.byStatus.active ?? 0) - (counts.byStatus.waiting ?? 0);
  const calls = [...mocks.values()].reduce((sum, mock) => sum + mock.requests().length, 0);
  const callbacks = [...mocks.values()].reduce(
    (sum, mock) => sum + mock.callbackCounts().attempts,
    0,
  );
  return [
    `[${(elapsedMs / 1000).toFixed(1).padStart(5)}s]`,
    `${settled}/${expected} settled`,
    `${counts.byStatus.active ?? 0} active`,
    `${counts.byStatus.waiting ?? 0} waiting`,
    `${calls} partner calls`,
    `${callbacks} callbacks`,
    `demo clock +${formatClockSpan(clock.now() - clock.startMs)}`,
  ].join(" · ");
}

async function collectRun(parts: {
  db: CapflowDatabase;
  cases: readonly ScenarioCase[];
  funders: readonly FunderProfile[];
  mocks: Map<string, MockFunder>;
  events: DemoRun["events"];
  callbacksReceived: number;
  late: SweepInboxResult;
  workerErrors: unknown[];
  speed: number;
  clock: FastClock;
  realMs: number;
  target: string;
}): Promise<DemoRun> {
  const { db } = parts;
  const instances: InstanceRecord[] = await db.instances.listInstances({});
  const logs = (
    (await db.knex.raw(
      `SELECT instance_id, version, event, outcome, from_status, to_status, duration_ms
       FROM "${db.schema}".step_logs ORDER BY instance_id, version`,
    )) as { rows: StepLogRow[] }
  ).rows;
  const inbox = (
    (await db.knex.raw(
      `SELECT count(*)::int AS stored, count(processed_at)::int AS applied FROM "${db.schema}".inbox`,
    )) as { rows: { stored: number; applied: number }[] }
  ).rows[0] ?? { stored: 0, applied: 0 };
  return {
    cases: parts.cases,
    funders: parts.funders,
    instances,
    logs,
    mocks: parts.mocks,
    events: parts.events,
    callbacks: {
      received: parts.callbacksReceived,
      stored: Number(inbox.stored),
      applied: Number(inbox.applied) - parts.late.recorded - parts.late.conflicts,
      late: parts.late,
    },
    workerErrors: parts.workerErrors,
    speed: parts.speed,
    clockSpanMs: parts.clock.now() - parts.clock.startMs,
    skippedMs: parts.clock.skippedMs,
    realMs: parts.realMs,
    target: parts.target,
  };
}
