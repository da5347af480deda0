import { parseDuration } from "../../definition/duration.ts";
import { checkStartInput } from "../../engine/check-start-input.ts";
import type { ChannelStartRequest } from "../../engine/start-instance.ts";
import { CapflowError, type ErrorCode } from "../../errors.ts";
import { evaluateExpression } from "../../message/cel.ts";
import type { Clock } from "../../ports/clock.ts";
import type { DefinitionSource } from "../../ports/definition-source.ts";
import { type InstanceRecord, isSettled } from "../../ports/instance-store.ts";
import type { CachedAnswer, QueryCacheStore } from "../../ports/query-cache-store.ts";
import { publicError } from "../../public-error.ts";
import { BusinessCalendar, nextCutoff } from "../calendar/business-calendar.ts";

export interface CachedQueriesOptions {
  engine: {
    start(request: ChannelStartRequest): Promise<InstanceRecord>;
    getInstance(id: string): Promise<InstanceRecord | undefined>;
  };
  definitions: DefinitionSource;
  store: QueryCacheStore;
  clock: Clock;
  /**
   * Where the `cutoff` lifetime ends: the channel's next working day's cut-off (日切). Give the
   * calendar the engine uses, so the holiday schedules it was given count; a channel naming a
   * schedule this calendar was not given is refused (`CONFIG_INVALID`). Default: a calendar with
   * the built-in schedules (`cn`); for a channel naming another schedule, which it cannot count,
   * every day's cut-off ends the answer (never later than the working day's would).
   */
  calendar?: BusinessCalendar;
  /**
   * Waits until the instance settles, is parked for an operator (`nextRunAt` null with a
   * `lastError`), or an open circuit holds its call (flow control refused it last for
   * `circuit-open` and it is due again later), and returns it. Default: reads it every 50 ms (real time) while
   * workers run it, for up to `settleLimitMs`, then gives up with `QUERY_TIMEOUT` (nothing cached;
   * the next request for the key waits for the same instance).
   */
  settle?: (instanceId: string) => Promise<InstanceRecord>;
  /** How long the default `settle` reads an instance that does not settle. Default 60 000 ms. */
  settleLimitMs?: number;
}

export interface QueryAnswer {
  value: CachedAnswer["value"];
  /** Served from the cache, without a call to the funder. */
  cached: boolean;
  instanceId: string;
  /**
   * Until when this answer is served from the cache: a succeeded one until the end of its
   * lifetime; one that did not succeed until its `failures` time passed (its settling time
   * without one: the next request asks again).
   */
  expiresAt: number;
}

/**
 * Synchronous queries with a shared cache: the behavior's `cache.key` (CEL over the input) names
 * the answer; while a succeeded answer for that key is valid (until the channel's next working
 * day's cut-off, 日切, or a duration), it is served from the database every node shares, and the
 * funder is not called. An answer that did not succeed is not kept (or only for `cache.failures`): the next
 * request runs the behavior again, as a new instance. Concurrent requests for one key share one
 * run: in this process they wait for the same promise, across nodes they start the same instance
 * (named by key, lifetime and run). Limits and breakers apply to the one call that is made, as to
 * any other. A request with an `upstreamClient` (the intake sets it) is that client's: its key is
 * cached apart from every other client's, and its runs are started as the client's instances.
 *
 * ```ts
 * const queries = new CachedQueries({ engine, definitions, store: new KnexQueryCacheStore(db), clock, calendar });
 * const trial = await queries.query({ channel: "lanbank", behavior: "repay-trial", businessKey: "T-1", input: { loanNo: "L-1" } });
 * ```
 */
export class CachedQueries {
  readonly #options: CachedQueriesOptions;
  readonly #calendar: BusinessCalendar;
  /** The holiday schedules `#calendar` knows, by name. */
  readonly #schedules: ReadonlySet<string>;
  readonly #inFlight = new Map<string, Promise<QueryAnswer>>();

  constructor(options: CachedQueriesOptions) {
    this.#options = options;
    this.#calendar = options.calendar ?? new BusinessCalendar({ definitions: options.definitions });
    this.#schedules = new Set(this.#calendar.schedules().map((schedule) => schedule.name));
  }

  /**
   * The answer for the request's cache key: from the cache, or from one run of the behavior.
   * `timeoutMs`: how long this request waits (real time), then `QUERY_TIMEOUT`; the run goes on
   * and its answer is cached when it settles, so asking again is answered without another call.
   */
  async query(
    request: ChannelStartRequest,
    options: { timeoutMs?: number } = {},
  ): Promise<QueryAnswer> {
    const { definitions, store, clock } = this.#options;
    const loaded = await definitions.getBehavior(request.channel, request.behavior);
    const cache = loaded?.definition.cache;
    if (!loaded || !cache) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${request.channel}/${request.behavior} declares no cache; add "cache": { "key": … } to the behavior or start it as usual`,
      );
    }
    // Invalid input is refused before the cache is read: a cached answer never hides it.
    checkStartInput(loaded.definition, request.input);
    const keyValue = evaluateExpression(cache.key, { input: request.input });
    if (keyValue === null || keyValue === undefined || keyValue === "") {
      throw new CapflowError(
        "INSTANCE_INPUT_INVALID",
        `the cache key ${JSON.stringify(cache.key)} of ${request.channel}/${request.behavior} is empty for this input`,
      );
    }
    // Each upstream client has its answers and runs of its own: what one asked never shows in
    // another's (cached or not, a run's id, a mismatch of input), and its runs are its instances.
    const scope = request.upstreamClient === undefined ? "" : `${request.upstreamClient}:`;
    const key = `${scope}${request.channel}/${request.behavior}/${String(keyValue)}`;
    const failuresMs = cache.failures === undefined ? 0 : parseDuration(cache.failures);
    const entry = await store.getCached(key, clock.now());
    if (entry && servedUntil(entry, failuresMs) > clock.now()) {
      if (entry.value.status === parkedStatus) throw parkedError(request, entry);
      return answerOf(entry, true, failuresMs);
    }
    const running = this.#inFlight.get(key);
    if (running) return { ...(await within(running, options.timeoutMs, request)), cached: true };
    // After an answer that did not succeed, the next run: every node that read that answer
    // starts the same one.
    const run = this.#run(
      request,
      key,
      cache.lifetime ?? "cutoff",
      failuresMs,
      (entry?.run ?? 0) + 1,
    ).finally(() => this.#inFlight.delete(key));
    // Every asker may have given up waiting before the run ends: its failure is theirs, not the process's.
    run.catch(() => {});
    this.#inFlight.set(key, run);
    return within(run, options.timeoutMs, request);
  }

  async #run(
    request: ChannelStartRequest,
    key: string,
    lifetime: string,
    failuresMs: number,
    run: number,
  ): Promise<QueryAnswer> {
    const { engine, store, clock } = this.#options;
    const now = clock.now();
    const lifetimeMs = lifetime === "cutoff" ? undefined : parseDuration(lifetime);
    // The funder's day ends at its working day's cut-off: an answer asked after Friday's, or on a
    // holiday, stands until the next working day's.
    const cutoff =
      lifetimeMs === undefined ? await this.#cutoffAfter(request.channel, now) : undefined;
    // One instance per key, lifetime and run: a second node asking at once finds the same one.
    // The lifetime is named the same on every node: by its cut-off, or for a duration by the
    // window of that length `now` falls in (only nodes asking across a window's edge make two).
    const generation =
      lifetimeMs === undefined || lifetimeMs <= 0
        ? (cutoff ?? now)
        : Math.floor(now / lifetimeMs) * lifetimeMs;
    const businessKey = run === 1 ? `${key}@${generation}` : `${key}@${generation}#${run}`;
    const instance = await engine.start({ ...request, businessKey });
    // A duration counts from when the run started, so every node sharing it stores the same end.
    const expiresAt = cutoff ?? instance.createdAt + (lifetimeMs ?? 0);
    const limitMs = this.#options.settleLimitMs ?? 60_000;
    const settled = await (
      this.#options.settle ?? ((id) => pollUntilSettled(engine, clock, id, limitMs))
    )(instance.id);
    if (isParked(settled)) {
      // Parked for an operator (a call that could not be sent or whose outcome is unknown, with
      // nowhere to go): an answer that did not succeed, so the next request runs anew.
      const stored = await store.putCached({
        key,
        channel: request.channel,
        behavior: request.behavior,
        instanceId: settled.id,
        run,
        value: { status: parkedStatus, context: settled.context, error: settled.lastError },
        storedAt: clock.now(),
        expiresAt,
      });
      if (stored.value.status === parkedStatus) throw parkedError(request, stored);
      return answerOf(stored, true, failuresMs);
    }
    if (!isSettled(settled.status)) {
      // The interface's breaker is open: the asker hears it now rather than at its timeout. The
      // run goes on, its call sent once the breaker lets one through, and its answer is cached.
      throw new CapflowError(
        "CIRCUIT_OPEN",
        `${request.channel}/${request.behavior} is not asked now: the circuit of its funder's interface is open after repeated failures; ask again after ${new Date(settled.nextRunAt ?? clock.now()).toISOString()}`,
        {
          retryable: true,
          context: { channel: request.channel, behavior: request.behavior, instanceId: settled.id },
        },
      );
    }
    const stored = await store.putCached({
      key,
      channel: request.channel,
      behavior: request.behavior,
      instanceId: settled.id,
      run,
      value: { status: settled.status, context: settled.context },
      storedAt: clock.now(),
      expiresAt,
    });
    return answerOf(stored, stored.instanceId !== settled.id, failuresMs);
  }

  /** The end of a `cutoff` lifetime begun at `now`: the channel's next working day's cut-off. */
  async #cutoffAfter(channel: string, now: number): Promise<number> {
    const definition = (await this.#options.definitions.getChannel(channel))?.definition;
    // A channel not defined (its start is refused next): local midnight in UTC.
    if (definition === undefined) return nextCutoff("00:00", now, "UTC");
    const calendar = definition.calendar;
    const schedule = calendar?.workingDaysOnly === true ? calendar.holidays : undefined;
    if (schedule !== undefined && !this.#schedules.has(schedule)) {
      if (this.#options.calendar !== undefined) {
        throw new CapflowError(
          "CONFIG_INVALID",
          `channel ${definition.code}'s calendar names the holiday schedule "${schedule}", which the calendar given as CachedQueriesOptions.calendar was not given (${[...this.#schedules].join(", ")} known); give that calendar the schedule (capflow serve: --holidays <file>)`,
        );
      }
      // No calendar to count the schedule with: every day's cut-off, the earliest the working
      // day's can be, so an answer never outlives the funder's day.
      return nextCutoff(calendar?.cutoff ?? "00:00", now, definition.timeZone);
    }
    return this.#calendar.cutoffAfter(definition, now);
  }
}

/** How a run parked for an operator is kept in the cache: an answer that did not succeed. */
const parkedStatus = "parked";

/** Parked: not settled, due never, with the error that stopped it (an operator decides). */
function isParked(instance: InstanceRecord): boolean {
  return !isSettled(instance.status) && instance.nextRunAt === null && instance.lastError !== null;
}

/**
 * The error the askers of a parked run get: its own code, retryable (a query may be asked again).
 * Askers are the upstream, through the intake: the run's error is said in its public form, since
 * the operators' text may name the funder's address or a key's path.
 */
function parkedError(request: ChannelStartRequest, entry: CachedAnswer): CapflowError {
  const error = entry.value.error ?? { code: "INTERNAL", message: "parked" };
  return new CapflowError(
    error.code as ErrorCode,
    `${request.channel}/${request.behavior} got no answer: its run ${entry.instanceId} was parked for an operator (${publicError(error).message}); asking again runs it anew`,
    {
      retryable: true,
      context: {
        channel: request.channel,
        behavior: request.behavior,
        instanceId: entry.instanceId,
      },
    },
  );
}

/** Until when an entry is served: a succeeded answer for its lifetime, another for `failuresMs`. */
function servedUntil(entry: CachedAnswer, failuresMs: number): number {
  if (entry.value.status === "succeeded") return entry.expiresAt;
  return Math.min(entry.storedAt + failuresMs, entry.expiresAt);
}

function answerOf(answer: CachedAnswer, cached: boolean, failuresMs: number): QueryAnswer {
  return {
    value: answer.value,
    cached,
    instanceId: answer.instanceId,
    expiresAt: servedUntil(answer, failuresMs),
  };
}

/** The run's answer, or `QUERY_TIMEOUT` after `timeoutMs`; the run itself goes on. */
function within(
  run: Promise<QueryAnswer>,
  timeoutMs: number | undefined,
  request: ChannelStartRequest,
): Promise<QueryAnswer> {
  if (timeoutMs === undefined) return run;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CapflowError(
            "QUERY_TIMEOUT",
            `${request.channel}/${request.behavior} did not answer within ${timeoutMs} ms; it goes on and its answer is cached when it comes: ask again shortly`,
            { context: { channel: request.channel, behavior: request.behavior } },
          ),
        ),
      timeoutMs,
    );
  });
  return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Whether an open circuit holds the query's call: flow control refused it last for `circuit-open`
 * and it is not due again before the breaker's probe time. Its askers are answered `CIRCUIT_OPEN`
 * at once instead of waiting for it.
 */
function heldByOpenCircuit(instance: InstanceRecord, now: number): boolean {
  return (
    !isSettled(instance.status) &&
    instance.refusals?.reason === "circuit-open" &&
    (instance.nextRunAt ?? 0) > now
  );
}

async function pollUntilSettled(
  engine: CachedQueriesOptions["engine"],
  clock: Clock,
  id: string,
  limitMs: number,
): Promise<InstanceRecord> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const instance = await engine.getInstance(id);
    if (
      instance &&
      (isSettled(instance.status) || isParked(instance) || heldByOpenCircuit(instance, clock.now()))
    ) {
      return instance;
    }
    if (Date.now() > deadline) {
      throw new CapflowError(
        "QUERY_TIMEOUT",
        `query instance ${id} did not settle within ${Math.round(limitMs / 1000)} s; its answer is not cached`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
