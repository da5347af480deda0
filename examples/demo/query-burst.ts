import {
  CachedQueries,
  type Engine,
  type InstanceRecord,
  isSettled,
  type QueryAnswer,
} from "@capflow/core";
import { type CapflowDatabase, KnexQueryCacheStore } from "@capflow/store-knex";
import type { MockFunder } from "@capflow/testkit";
import type { DemoClock } from "./demo-clock.ts";

/** What a burst of cached queries did. */
export interface QueryBurstResult {
  /** Requests asked, all at once, then once more per key once answered. */
  readonly requests: number;
  readonly keys: number;
  /** Calls the funder received meanwhile. */
  readonly funderCalls: number;
  /** Answers that waited for another request's run, or came from the stored cache. */
  readonly fromCache: number;
  /** Answers read back from the stored cache (the second round). */
  readonly fromStore: number;
  /** Answers whose run did not succeed. */
  readonly failed: number;
  /** False when `deadline` passed first. */
  readonly finished: boolean;
}

/**
 * A peak of synchronous queries (`CachedQueries`, as `POST /v1/queries` runs them): `perKey`
 * requests for each input at once, then one more per input once answered. The worker has stopped,
 * so the burst runs the engine itself: due instances run, and when none is due, funder time moves
 * to the soonest due query (a call the limiter held back), so a busy machine makes it slower,
 * never different.
 */
export async function runQueryBurst(parts: {
  db: CapflowDatabase;
  engine: Engine;
  clock: DemoClock;
  mock: MockFunder;
  channel: string;
  behavior: string;
  inputs: readonly Record<string, unknown>[];
  perKey: number;
  /** Stop waiting at this `performance.now()`. */
  deadline: number;
}): Promise<QueryBurstResult> {
  const { db, engine, clock } = parts;
  const waiting = new Map<string, (instance: InstanceRecord) => void>();
  const queries = new CachedQueries({
    engine,
    definitions: db.definitions,
    store: new KnexQueryCacheStore(db),
    clock,
    settle: (instanceId) => new Promise((resolve) => waiting.set(instanceId, resolve)),
  });
  const callsBefore = parts.mock.requests().length;
  let asked = 0;
  const ask = (input: Record<string, unknown>) =>
    queries.query({
      channel: parts.channel,
      behavior: parts.behavior,
      businessKey: `QUERY-${++asked}`,
      input,
    });

  const burst: Promise<QueryAnswer>[] = [];
  for (let round = 0; round < parts.perKey; round++) {
    for (const input of parts.inputs) burst.push(ask(input));
  }
  const first = await drive(Promise.all(burst), {
    engine,
    clock,
    waiting,
    runs: parts.inputs.length,
    deadline: parts.deadline,
  });
  if (first === undefined) return unfinished(parts, asked);
  const again: QueryAnswer[] = [];
  for (const input of parts.inputs) again.push(await ask(input));

  const answers = [...first, ...again];
  return {
    requests: answers.length,
    keys: parts.inputs.length,
    funderCalls: parts.mock.requests().length - callsBefore,
    fromCache: answers.filter((answer) => answer.cached).length,
    fromStore: again.filter((answer) => answer.cached).length,
    failed: answers.filter((answer) => answer.value.status !== "succeeded").length,
    finished: true,
  };
}

/**
 * Runs the engine until `answers` resolve; undefined when the deadline passed first. The engine
 * runs nothing before every one of the `runs` has started, so their calls reach the limiter
 * together, however slow the machine.
 */
async function drive<T>(
  answers: Promise<T>,
  parts: {
    engine: Engine;
    clock: DemoClock;
    waiting: Map<string, (instance: InstanceRecord) => void>;
    runs: number;
    deadline: number;
  },
): Promise<T | undefined> {
  const { engine, clock, waiting } = parts;
  let result: { value: T } | undefined;
  let failure: { error: unknown } | undefined;
  answers.then(
    (value) => {
      result = { value };
    },
    (error: unknown) => {
      failure = { error };
    },
  );
  while (waiting.size < parts.runs && result === undefined) {
    if (failure !== undefined) throw failure.error;
    if (performance.now() > parts.deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  while (result === undefined) {
    if (failure !== undefined) throw failure.error;
    if (performance.now() > parts.deadline) return undefined;
    const ran = await engine.runDue({ limit: 32 });
    let soonest = Number.POSITIVE_INFINITY;
    for (const [id, resolve] of waiting) {
      const instance = await engine.getInstance(id);
      if (instance && isSettled(instance.status)) {
        waiting.delete(id);
        resolve(instance);
      } else if (instance?.nextRunAt != null) {
        soonest = Math.min(soonest, instance.nextRunAt);
      }
    }
    if (ran > 0) continue;
    if (Number.isFinite(soonest) && soonest > clock.now()) {
      // Nothing due: a call held back by the limiter is the next thing to happen. On Redis the
      // rate window runs on Redis' own clock, not the demo's: give it a moment of real time too,
      // rather than ask again at once.
      clock.skipTo(soonest);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } else {
      // Starts or cache writes under way.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  return result.value;
}

function unfinished(parts: { inputs: readonly unknown[] }, asked: number): QueryBurstResult {
  return {
    requests: asked,
    keys: parts.inputs.length,
    funderCalls: 0,
    fromCache: 0,
    fromStore: 0,
    failed: 0,
    finished: false,
  };
}
