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
import { DemoClock, DemoTransport, demoCallHeader } from "./demo-clock.ts";
import { FunderBook, type FunderProfile } from "./mock-funders.ts";
import { createProgressReporter, formatClockSpan } from "./progress.ts";
import { runProtectionEpilogue } from "./protection-epilogue.ts";
import { reconcileDemoStatements } from "./reconcile-statements.ts";
import { type RoutingDemo, runRoutingEpilogue } from "./routing-epilogue.ts";
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
  /**
   * Stop waiting after this many real milliseconds, reporting what is still running (tests set it
   * so that a hang fails them). Default: no limit; a slow machine only makes the demo slower.
   */
  timeoutMs?: number;
  /** Real milliseconds between "still running" lines once the run is slower than usual. Default 15 000. */
  slowNoticeEveryMs?: number;
  /**
   * Products served by these funders, and business to start through them after the run: where
   * routing sent each, the quotas, the failovers, checked like the rest.
   */
  routing?: RoutingDemo;
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
  /** Every problem: the money-rule violations, then the other differences from the scenario. */
  readonly problems: readonly string[];
  /** Broken money rules only (a money call sent twice, a settled instance moved back …). */
  readonly violations: readonly string[];
  /** Business records still running when the run stopped waiting (`timeoutMs`). */
  readonly stillRunning: number;
  /** The summary table, as printed. */
  readonly summary: string;
  readonly run: DemoRun;
}

/**
 * Runs the demo: the example funders as mock servers on loopback, the engine on PGlite (or
 * PostgreSQL and Redis), a worker, a callback endpoint, and a seeded batch of business records
 * whose funders misbehave in every way the mock funder kit knows. Resolves with what happened and
 * whether it all matched the scenario; prints progress and a summary on the way.
 *
 * Longer than most files on purpose: the demo is a script read top to bottom by new users, so its
 * orchestration stays in one place; the scenario, clock and checks have their own files.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const funders = options.funders;
  const total = options.total ?? 300;
  const seed = options.seed ?? 2026;
  const startedAt = performance.now();
  const clock = new DemoClock();
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
    const books = new Map<string, FunderBook>();
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
      const book = new FunderBook(funderCases);
      books.set(funder.channel, book);
      const mock = await funder.startMock({
        cases: funderCases,
        book,
        handler,
        clock,
        seed,
      });
      cleanups.push(() => mock.close());
      mocks.set(funder.channel, mock);
      channels.push(pointedAt(channel, mock.url, definitionsDir));
      behaviors.push(
        ...loaded.behaviors.filter(
          (behavior) =>
            funder.behaviors.some((traits) => traits.behavior === behavior.code) ||
            funder.cachedQuery?.behavior === behavior.code,
        ),
      );
    }
    await migrated;
    await syncProcessors(db, processors.list(), clock.now());
    await pushDefinitions(db, { channels, behaviors, products: options.routing?.products ?? [] });

    // The engine, as a host service embeds it.
    const events = { callbacks: 0, duplicates: 0, rejected: 0, ownershipLost: 0 };
    let engineEvents = 0;
    // The epilogues' listeners (the alert monitor), for the time they run.
    const engineListeners = new Set<(event: EngineEvent) => void>();
    const watchEngine = (listener: (event: EngineEvent) => void) => {
      engineListeners.add(listener);
      return () => {
        engineListeners.delete(listener);
      };
    };
    // Enough connections that no call waits in the pool: a call's timeout runs from its send.
    const transport = new DemoTransport(new UndiciTransport({ connections: 512 }), { clock });
    const engine: Engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors,
      clock,
      transport,
      // Leases and locks far longer than any step: the demo shows no crashed workers.
      leaseMs: 10 * 60_000,
      lockTtlMs: 10 * 60_000,
      flowControl: new FlowControl({
        limiter: redis?.limiter ?? new InProcessLimiter({ clock }),
        clock,
        bulkheadRetryAfterMs: 2_000,
      }),
      ...(redis ? { locks: redis.locks } : {}),
      onEvent: (event: EngineEvent) => {
        engineEvents++;
        if (event.type === "callback.received") {
          events.callbacks++;
          if (event.duplicate) events.duplicates++;
        } else if (event.type === "callback.rejected") events.rejected++;
        else if (event.type === "ownership.lost") events.ownershipLost++;
        for (const listener of engineListeners) listener(event);
      },
    });
    cleanups.push(() => engine.close());
    const callbackServer: CallbackServer = await startCallbackServer(engine);
    cleanups.push(() => callbackServer.close());
    for (const [channel, mock] of mocks) {
      mock.setCallbackUrl(`${callbackServer.url}/callbacks/${channel}`);
    }

    const workerErrors: unknown[] = [];
    // The worker idles on its own view of the clock: its wake-ups are not "the next thing due".
    const workerClock = clock.view();
    const worker = new Worker(engine, {
      clock: workerClock,
      // PGlite has one connection: two rounds in flight keep it busy.
      concurrency: 4,
      batchSize: 16,
      idleMs: 1_000,
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

    // Run until every instance has settled (or is parked, waiting for an operator). Funder time
    // moves only when the system is quiet (see DemoClock), so the run takes as long as the work
    // takes: a busy machine makes it slower, never different. It says so while it waits.
    const progress = createProgressReporter({
      write,
      tty: options.tty ?? process.stdout.isTTY === true,
    });
    const slowNotice = createSlowNotice({
      write: (line) => {
        progress.done();
        write(line);
      },
      everyMs: options.slowNoticeEveryMs ?? 15_000,
      startedAt,
    });
    const quiet = createQuietDetector({
      transport,
      callbackServer,
      mocks: [...mocks.values()],
      engineEvents: () => engineEvents,
      stepsRunning: () => worker.inFlight,
    });
    let counts = await statusCounts(db);
    let countedAt = performance.now();
    let timedOut = false;
    let stuck = false;
    for (;;) {
      await new Promise((resolveTick) => setTimeout(resolveTick, 10));
      if (options.timeoutMs !== undefined && performance.now() - startedAt > options.timeoutMs) {
        timedOut = true;
        break;
      }
      const isQuiet = !submitting && quiet.check();
      // The database is the bottleneck (PGlite has one connection): ask it only when funder time
      // may move, or for the progress line about once a second.
      if (!isQuiet && performance.now() - countedAt < 1_000) continue;
      counts = await statusCounts(db);
      countedAt = performance.now();
      if (options.progress !== false) {
        progress.update(
          progressLine(performance.now() - startedAt, counts, cases.length, mocks, clock),
        );
        slowNotice.check(counts, cases.length);
      }
      if (!isQuiet || !quiet.check()) continue;
      const now = clock.now();
      const dueNow = counts.nextDueAt !== undefined && counts.nextDueAt <= now;
      if (!dueNow && counts.running === 0 && counts.total >= cases.length && !anyPending(mocks)) {
        break;
      }
      // The next thing due: an instance's due time or the end of a sleep. With an instance due
      // now, the worker is idling: wake it (its sleep is the earliest).
      const candidates = dueNow
        ? [clock.nextWakeAt()]
        : [counts.nextDueAt, clock.nextWakeAt([clock])];
      const next = Math.min(...candidates.filter((at): at is number => at !== undefined));
      if (!Number.isFinite(next)) {
        // Nothing will ever happen again, yet instances are not settled: report it, do not wait.
        stuck = counts.running > 0;
        break;
      }
      clock.skipTo(Math.min(Math.max(next, now + 1), now + maxSkipMs));
      quiet.reset();
    }
    progress.done();
    await submission;
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
      clock,
      realMs: performance.now() - startedAt,
      target,
    });
    const { violations, differences, stillRunning } = checkRun(run, {
      finished: !timedOut && !stuck,
    });
    const summary = formatSummary(run, { violations, differences, stillRunning });
    write(summary);
    // The next morning: each funder's statement of the day, reconciled against the instances.
    const reconciliation = await reconcileDemoStatements(db, funders);
    write(reconciliation.text);
    // Then fund routing: business started through products, by weight, eligibility and quota.
    const routed = options.routing
      ? await runRoutingEpilogue({
          db,
          engine,
          clock,
          transport,
          callbackServer,
          books,
          routing: options.routing,
          ...(options.timeoutMs === undefined ? {} : { deadline: startedAt + options.timeoutMs }),
        })
      : { text: "", problems: [] };
    write(routed.text);
    // Then the business protection layer: cached queries behind a limiter, forged callbacks,
    // queued starts expiring, a stuck order, and their alerts.
    const protection = await runProtectionEpilogue({
      db,
      engine,
      clock,
      cases,
      funders,
      mocks,
      callbackUrl: callbackServer.url,
      watchEngine,
      ...(options.timeoutMs === undefined ? {} : { deadline: startedAt + options.timeoutMs }),
    });
    write(protection.text);
    const problems = [
      ...violations,
      ...differences,
      ...reconciliation.problems,
      ...routed.problems,
      ...protection.problems,
    ];
    if (stuck) {
      problems.push(
        `${stillRunning.length} business records wait for something that never comes (nothing due, nothing in flight)`,
      );
    } else if (timedOut) {
      problems.push(
        `stopped waiting after ${Math.round((performance.now() - startedAt) / 1000)} s with ${stillRunning.length} business records still running`,
      );
    }
    return {
      ok: problems.length === 0,
      problems,
      violations,
      stillRunning: stillRunning.length,
      summary,
      run,
    };
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
  /** Unsettled instances with a due time: the run is not over while there are any. */
  running: number;
  /** Unsettled instances without a due time: parked, waiting for an operator. */
  parked: number;
  nextDueAt: number | undefined;
}

async function statusCounts(db: CapflowDatabase): Promise<StatusCounts> {
  const result = (await db.knex.raw(
    `SELECT status, count(*)::int AS n, count(next_run_at)::int AS due, min(next_run_at) AS next
     FROM "${db.schema}".instances GROUP BY status`,
  )) as { rows: { status: string; n: number; due: number; next: Date | string | null }[] };
  const byStatus: Partial<Record<string, number>> = {};
  let total = 0;
  let running = 0;
  let parked = 0;
  let nextDueAt: number | undefined;
  for (const row of result.rows) {
    byStatus[row.status] = Number(row.n);
    total += Number(row.n);
    if (row.status === "active" || row.status === "waiting") {
      running += Number(row.due);
      parked += Number(row.n) - Number(row.due);
      if (row.next !== null) {
        const at = new Date(row.next).getTime();
        nextDueAt = nextDueAt === undefined ? at : Math.min(nextDueAt, at);
      }
    }
  }
  return { total, byStatus, running, parked, nextDueAt };
}

function progressLine(
  elapsedMs: number,
  counts: StatusCounts,
  expected: number,
  mocks: Map<string, MockFunder>,
  clock: DemoClock,
): string {
  const settled = counts.total - counts.running - counts.parked;
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
    ...(counts.parked > 0 ? [`${counts.parked} parked`] : []),
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
  clock: DemoClock;
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
    clockSpanMs: parts.clock.now() - parts.clock.startMs,
    realMs: parts.realMs,
    target: parts.target,
  };
}

/**
 * Once a run takes longer than a quiet machine needs, a line every `everyMs` says it is still
 * running and how far it got: slowness is reported as slowness, never as broken rules.
 */
function createSlowNotice(options: {
  write: (line: string) => void;
  everyMs: number;
  startedAt: number;
}) {
  let nextAt = options.startedAt + options.everyMs * 3;
  return {
    check(counts: StatusCounts, expected: number) {
      const now = performance.now();
      if (now < nextAt) return;
      nextAt = now + options.everyMs;
      const settled = counts.total - counts.running - counts.parked;
      options.write(
        `still running after ${Math.round((now - options.startedAt) / 1000)} s: ${settled} of ${expected} business records settled, ${counts.running} in progress (a busy machine makes the demo slower, not wrong)\n`,
      );
    },
  };
}

function anyPending(mocks: Map<string, MockFunder>): boolean {
  return [...mocks.values()].some((mock) => pendingCallbacks(mock) > 0);
}

/**
 * Tells when the system is quiet: nothing changed over two looks (no engine event, no partner call
 * or callback begun or answered), no callback being handled, and every partner call in flight
 * waiting on the demo clock (a funder's latency, a call held until the engine's timeout, an answer
 * held back until its callback went out). Only then may funder time move.
 *
 * Every step the worker runs must be such a call, too: on a busy machine a step can spend longer
 * than two looks between events (rendering, sealing, its intent commit) without being idle, and
 * moving time under it could outlast its lease while it works, so that its own send is refused as
 * no longer its to make.
 */
function createQuietDetector(parts: {
  transport: DemoTransport;
  callbackServer: CallbackServer;
  mocks: readonly MockFunder[];
  engineEvents: () => number;
  stepsRunning: () => number;
}) {
  let last = "";
  let sameLooks = 0;
  const fingerprint = () =>
    [
      parts.engineEvents(),
      parts.transport.sent,
      parts.transport.inFlight,
      parts.callbackServer.received,
      parts.callbackServer.inFlight,
      ...parts.mocks.flatMap((mock) => [mock.inFlight(), mock.callbackCounts().attempts]),
    ].join(",");
  // Only calls still in flight count: a call the transport has just given up on may still look
  // pending at the funder for a moment, and must not stand in for a new one on its way there.
  const callsWaitingOnTheClock = () => {
    const inFlight = parts.transport.callsInFlight;
    return parts.mocks.reduce(
      (sum, mock) =>
        sum +
        mock
          .requests({ outcome: "pending" })
          .filter(
            (request) =>
              inFlight.has(request.headers[demoCallHeader] ?? "") &&
              (request.fault === "latency" ||
                request.fault === "callbackBeforeResponse" ||
                (request.fault === "timeoutAfterProcessing" && request.processed)),
          ).length,
      0,
    );
  };
  return {
    check(): boolean {
      const now = fingerprint();
      sameLooks = now === last ? sameLooks + 1 : 0;
      last = now;
      if (sameLooks < 2 || parts.callbackServer.inFlight > 0) return false;
      const waiting = callsWaitingOnTheClock();
      if (parts.stepsRunning() > waiting) return false;
      return parts.transport.inFlight <= waiting;
    },
    reset() {
      sameLooks = 0;
    },
  };
}
