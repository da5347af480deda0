import { parseDuration } from "../../definition/duration.ts";
import type { ChannelStartRequest } from "../../engine/start-instance.ts";
import { CapflowError } from "../../errors.ts";
import { evaluateExpression } from "../../message/cel.ts";
import type { Clock } from "../../ports/clock.ts";
import type { DefinitionSource } from "../../ports/definition-source.ts";
import { type InstanceRecord, isSettled } from "../../ports/instance-store.ts";
import type { CachedAnswer, QueryCacheStore } from "../../ports/query-cache-store.ts";
import { nextCutoff } from "../calendar/business-calendar.ts";

export interface CachedQueriesOptions {
  engine: {
    start(request: ChannelStartRequest): Promise<InstanceRecord>;
    getInstance(id: string): Promise<InstanceRecord | undefined>;
  };
  definitions: DefinitionSource;
  store: QueryCacheStore;
  clock: Clock;
  /**
   * Waits until the instance settles and returns it. Default: reads it every 50 ms (real time)
   * for up to 30 s while workers run it, then gives up with `STORE_TIMEOUT` (nothing cached).
   */
  settle?: (instanceId: string) => Promise<InstanceRecord>;
}

export interface QueryAnswer {
  value: CachedAnswer["value"];
  /** Served from the cache, without a call to the funder. */
  cached: boolean;
  instanceId: string;
  expiresAt: number;
}

/**
 * Synchronous queries with a shared cache: the behavior's `cache.key` (CEL over the input) names
 * the answer; while an answer for that key is valid (until the channel's next cut-off, 日切, or a
 * duration), it is served from the database every node shares, and the funder is not called.
 * Concurrent requests for one key in this process wait for the same run. Limits and breakers
 * apply to the one call that is made, as to any other.
 *
 * ```ts
 * const queries = new CachedQueries({ engine, definitions, store: new KnexQueryCacheStore(db), clock });
 * const trial = await queries.query({ channel: "lanbank", behavior: "repay-trial", businessKey: "T-1", input: { loanNo: "L-1" } });
 * ```
 */
export class CachedQueries {
  readonly #options: CachedQueriesOptions;
  readonly #inFlight = new Map<string, Promise<QueryAnswer>>();

  constructor(options: CachedQueriesOptions) {
    this.#options = options;
  }

  async query(request: ChannelStartRequest): Promise<QueryAnswer> {
    const { definitions, store, clock } = this.#options;
    const loaded = await definitions.getBehavior(request.channel, request.behavior);
    const cache = loaded?.definition.cache;
    if (!loaded || !cache) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${request.channel}/${request.behavior} declares no cache; add "cache": { "key": … } to the behavior or start it as usual`,
      );
    }
    const keyValue = evaluateExpression(cache.key, { input: request.input });
    if (keyValue === null || keyValue === undefined || keyValue === "") {
      throw new CapflowError(
        "INSTANCE_INPUT_INVALID",
        `the cache key ${JSON.stringify(cache.key)} of ${request.channel}/${request.behavior} is empty for this input`,
      );
    }
    const key = `${request.channel}/${request.behavior}/${String(keyValue)}`;
    const hit = await store.getCached(key, clock.now());
    if (hit) return answerOf(hit, true);
    const running = this.#inFlight.get(key);
    if (running) return { ...(await running), cached: true };
    const run = this.#run(request, key, cache.lifetime ?? "cutoff").finally(() =>
      this.#inFlight.delete(key),
    );
    this.#inFlight.set(key, run);
    return run;
  }

  async #run(request: ChannelStartRequest, key: string, lifetime: string): Promise<QueryAnswer> {
    const { engine, store, clock, definitions } = this.#options;
    const now = clock.now();
    const channel = (await definitions.getChannel(request.channel))?.definition;
    const expiresAt =
      lifetime === "cutoff"
        ? nextCutoff(channel?.calendar?.cutoff ?? "00:00", now, channel?.timeZone ?? "UTC")
        : now + parseDuration(lifetime);
    // One instance per key and lifetime: a second node asking at once finds the same one.
    const instance = await engine.start({ ...request, businessKey: `${key}@${expiresAt}` });
    const settled = await (this.#options.settle ?? ((id) => pollUntilSettled(engine, id)))(
      instance.id,
    );
    const stored = await store.putCached({
      key,
      channel: request.channel,
      behavior: request.behavior,
      instanceId: settled.id,
      value: { status: settled.status, context: settled.context },
      storedAt: clock.now(),
      expiresAt,
    });
    return answerOf(stored, stored.instanceId !== settled.id);
  }
}

function answerOf(answer: CachedAnswer, cached: boolean): QueryAnswer {
  return {
    value: answer.value,
    cached,
    instanceId: answer.instanceId,
    expiresAt: answer.expiresAt,
  };
}

async function pollUntilSettled(
  engine: CachedQueriesOptions["engine"],
  id: string,
): Promise<InstanceRecord> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const instance = await engine.getInstance(id);
    if (instance && isSettled(instance.status)) return instance;
    if (Date.now() > deadline) {
      throw new CapflowError(
        "STORE_TIMEOUT",
        `query instance ${id} did not settle within 30 s; its answer is not cached`,
        {
          retryable: true,
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
