import {
  type ChannelDefinition,
  Engine,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  ProcessorRegistry,
  type QueueEvent,
  StartQueue,
} from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import { ScriptedTransport } from "../../core/test/support/scripted-transport.ts";
import { KnexInstanceStore, KnexStartQueueStore, knexExclusiveRunner } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

const meadow: ChannelDefinition = { ...structuredClone(testChannel), code: "meadow" };

describe.skipIf(!databaseUrl)(
  databaseUrl ? "queued starts on PostgreSQL: one flooded queue starves no other" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      db = await openTestPostgres();
    });
    afterAll(async () => {
      await db.drop();
    });
    beforeEach(async () => {
      await truncateRuntimeTables(db);
      await db.knex.raw(`TRUNCATE "${db.schema}".queued_starts`);
    });

    /**
     * Lan Bank's loans flooded at 40 a second, Meadow's at 5; `startMs` is how long one start of
     * Lan Bank takes on the manual clock (a busy database).
     */
    function world(startMs = 0) {
      const clock = new ManualClock();
      const meadowLoan = loanBehavior();
      meadowLoan.channel = "meadow";
      const engine = new Engine({
        store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
        definitions: new MemoryDefinitionSource({
          channels: [testChannel, meadow],
          behaviors: [loanBehavior(), meadowLoan],
        }),
        processors: new ProcessorRegistry(),
        transport: new ScriptedTransport(),
        clock,
        locks: new InProcessLockProvider({ clock }),
      });
      const events: QueueEvent[] = [];
      const queue = new StartQueue({
        store: new KnexStartQueueStore(db),
        engine: {
          async start(request) {
            const instance = await engine.start(request);
            if (request.channel === "lanbank") await clock.advance(startMs);
            return instance;
          },
        },
        clock,
        exclusive: knexExclusiveRunner(db),
        policies: [
          { channel: "lanbank", behavior: "loan", ratePerSecond: 40, ttl: "1h" },
          { channel: "meadow", behavior: "loan", ratePerSecond: 5, ttl: "1h" },
        ],
        onEvent: (event) => events.push(event),
      });
      const enqueue = (channel: string, loanNo: string) =>
        queue.enqueue({
          channel,
          behavior: "loan",
          businessKey: loanNo,
          input: { loanNo, amount: 100, idCardNo: "110101199003071234" },
        });
      const admitted = (channel: string) =>
        events
          .filter((e) => e.type === "start.admitted" && e.queued.channel === channel)
          .map((e) => e.queued.businessKey);
      return { clock, queue, enqueue, admitted };
    }

    test("a queue flooded with 2,000 starts takes its own rate; another queue's starts are admitted at theirs, first in first out", async () => {
      const w = world();
      for (let i = 0; i < 2_000; i += 1) await w.enqueue("lanbank", `L-${i}`);
      for (let i = 0; i < 20; i += 1) await w.enqueue("meadow", `M-${i}`);
      for (let second = 0; second < 4; second += 1) {
        await w.queue.admit();
        await w.clock.advance(1_000);
      }
      expect(w.admitted("lanbank")).toEqual(Array.from({ length: 160 }, (_, i) => `L-${i}`));
      expect(w.admitted("meadow")).toEqual(Array.from({ length: 20 }, (_, i) => `M-${i}`));
    });

    test("when the flooded queue's starts take a whole round, the other queue is still admitted near its rate", async () => {
      // 40 Lan Bank starts of 25 ms each: a round takes a second of the clock; rounds every 200 ms.
      const w = world(25);
      for (let i = 0; i < 1_000; i += 1) await w.enqueue("lanbank", `L-${i}`);
      for (let i = 0; i < 100; i += 1) await w.enqueue("meadow", `M-${i}`);
      const until = w.clock.now() + 10_000;
      while (w.clock.now() < until) {
        await w.queue.admit();
        await w.clock.advance(200);
      }
      // Meadow's five a second come at a round's start, and a round comes 1.2 to 1.4 s after the
      // one before: at least 4 a second over the 10 s, first in first out. (Judged at the round's
      // start, the flooded queue's admissions of the round before counted as recent and took
      // every other turn of Meadow's: 3 a second.)
      const meadowAdmitted = w.admitted("meadow");
      expect(meadowAdmitted.length).toBeGreaterThanOrEqual(40);
      expect(meadowAdmitted).toEqual(
        Array.from({ length: meadowAdmitted.length }, (_, i) => `M-${i}`),
      );
      expect(meadowAdmitted.length).toBeLessThanOrEqual(50);
      // Neither queue goes above its rate.
      expect(w.admitted("lanbank").length).toBeLessThanOrEqual(400);
    }, 60_000);
  },
);
