import {
  type BehaviorDefinition,
  BusinessCalendar,
  type CalendarDefinition,
  type ChannelDefinition,
  Engine,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  ProcessorRegistry,
  type QueuedStartNotificationPayload,
  type QueueEvent,
  StartQueue,
} from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import {
  lunchCutoffCalendar,
  nightBatchCalendar,
} from "../../core/test/support/calendar-channels.ts";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import { ScriptedTransport } from "../../core/test/support/scripted-transport.ts";
import { KnexInstanceStore, KnexStartQueueStore, knexExclusiveRunner } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

/** An instant given as Shanghai local time (UTC+8, no daylight saving). */
const shanghai = (local: string) => Date.parse(`${local}+08:00`);

describe.skipIf(!databaseUrl)(
  databaseUrl ? "queued starts keep to their channel's calendar (PostgreSQL)" : skipMessage,
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
      await db.knex.raw(`TRUNCATE "${db.schema}".queued_starts, "${db.schema}".outbox`);
    });

    function world(
      calendar: CalendarDefinition,
      at: string,
      options: {
        ttl?: `${number}h`;
        concurrency?: number;
        behavior?: BehaviorDefinition;
        /** The queue's own default calendar (from its definitions), not the engine's. */
        defaultCalendar?: boolean;
      } = {},
    ) {
      const clock = new ManualClock(shanghai(at));
      const channel: ChannelDefinition = { ...structuredClone(testChannel), calendar };
      const definitions = new MemoryDefinitionSource({
        channels: [channel],
        behaviors: [options.behavior ?? loanBehavior()],
      });
      const transport = new ScriptedTransport().script("/loan/apply", {
        body: { status: "SUCCESS" },
      });
      const businessCalendar = new BusinessCalendar({ definitions });
      const engine = new Engine({
        store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
        definitions,
        processors: new ProcessorRegistry(),
        transport,
        clock,
        locks: new InProcessLockProvider({ clock }),
        calendar: businessCalendar,
      });
      const events: QueueEvent[] = [];
      const raised: string[] = [];
      const store = new KnexStartQueueStore(db);
      const queue = new StartQueue({
        store,
        engine,
        definitions,
        ...(options.defaultCalendar ? {} : { calendar: businessCalendar }),
        clock,
        exclusive: knexExclusiveRunner(db),
        policies: [
          {
            channel: "lanbank",
            behavior: "loan",
            ratePerSecond: 10,
            ttl: options.ttl ?? "24h",
            ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          },
        ],
        notifications: true,
        alerts: {
          async raise(rule, subject, summary) {
            raised.push(`${rule} ${subject}: ${summary}`);
          },
        },
        onEvent: (event) => events.push(event),
      });
      const enqueue = (loanNo: string) =>
        queue.enqueue({
          channel: "lanbank",
          behavior: "loan",
          businessKey: loanNo,
          input: { loanNo, amount: 100, idCardNo: "110101199003071234" },
          upstreamClient: "platform",
        });
      const advanceTo = (local: string) => clock.advance(shanghai(local) - clock.now());
      const instanceOf = (loanNo: string) =>
        engine.findInstance({ channel: "lanbank", behavior: "loan", businessKey: loanNo });
      const notifications = async () =>
        (
          await db.knex.raw(
            `SELECT type, target, payload FROM "${db.schema}".outbox ORDER BY created_at, id`,
          )
        ).rows as { type: string; target: string; payload: QueuedStartNotificationPayload }[];
      return {
        clock,
        engine,
        queue,
        store,
        transport,
        events,
        raised,
        enqueue,
        advanceTo,
        instanceOf,
        notifications,
      };
    }

    test("a start queued while the channel is closed is not admitted; it is admitted at the next opening and its call sent then", async () => {
      const w = world({ serviceWindows: ["00:30-23:30"] }, "2026-03-10T23:40:00");
      await w.enqueue("L-1");
      const night = await w.queue.admit();
      expect(night.started).toBe(0);
      expect(night.closed).toEqual([
        {
          channel: "lanbank",
          behavior: "loan",
          reason: "lanbank is closed until 2026-03-11 00:30 (Asia/Shanghai)",
        },
      ]);
      expect(await w.instanceOf("L-1")).toBeUndefined();

      await w.advanceTo("2026-03-11T00:29:59");
      expect((await w.queue.admit()).started).toBe(0);
      await w.advanceTo("2026-03-11T00:30:00");
      const morning = await w.queue.admit();
      expect(morning).toMatchObject({ started: 1, closed: [] });
      await w.engine.runDue();
      expect(w.transport.count("/loan/apply")).toBe(1);
      expect(await w.instanceOf("L-1")).toMatchObject({ status: "succeeded" });
    });

    test('atCutoff "expire": starts still queued at the cut-off expire unstarted, raise an alert and tell the upstream why; one queued after it waits for the next window', async () => {
      const w = world(
        { serviceWindows: ["09:00-17:00"], cutoff: "23:30", atCutoff: "expire" },
        "2026-03-10T18:00:00",
      );
      const before = await w.enqueue("L-1");
      expect((await w.queue.admit()).started).toBe(0);
      await w.advanceTo("2026-03-10T23:29:59");
      expect((await w.queue.admit()).expired).toEqual([]);

      await w.advanceTo("2026-03-10T23:30:00");
      const cutoff = await w.queue.admit();
      expect(cutoff.expired.map((q) => q.businessKey)).toEqual(["L-1"]);
      expect(await w.store.getQueued(before.id)).toMatchObject({
        status: "expired",
        finishedAt: shanghai("2026-03-10T23:30:00"),
        lastError: {
          code: "CALENDAR_CUTOFF_EXPIRED",
          message:
            "still queued at lanbank's cut-off (23:30 Asia/Shanghai), which expires waiting calls; it was not started",
        },
      });
      expect(w.events).toEqual([
        expect.objectContaining({ type: "start.expired", reason: "cutoff" }),
      ]);
      expect(w.raised).toEqual([
        "queued-starts-expired lanbank/loan: queued start lanbank/loan L-1 was still queued at lanbank's cut-off (23:30 Asia/Shanghai); it expired unstarted",
      ]);
      // The upstream hears it with the reason, written in the same statement as the expiry.
      const [told] = await w.notifications();
      expect(told).toMatchObject({
        type: "start.expired",
        target: "platform",
        payload: {
          id: `${before.id}.start.expired`,
          start: { businessKey: "L-1" },
          error: { code: "CALENDAR_CUTOFF_EXPIRED" },
        },
      });

      // Queued after the cut-off: it belongs to the next business day.
      await w.advanceTo("2026-03-10T23:40:00");
      await w.enqueue("L-2");
      expect(await w.queue.admit()).toMatchObject({ started: 0, expired: [] });
      await w.advanceTo("2026-03-11T09:00:00");
      expect(await w.queue.admit()).toMatchObject({ started: 1, expired: [] });
      await w.engine.runDue();
      expect(w.transport.count("/loan/apply")).toBe(1);
      expect(await w.instanceOf("L-1")).toBeUndefined();
      expect(await w.instanceOf("L-2")).toMatchObject({ status: "succeeded" });
      expect(await w.notifications()).toHaveLength(1);
    });

    test("a funder whose day ends shortly after midnight (01:00-00:30, cut-off 00:30): a start still queued on Friday evening expires at Saturday 00:30, one queued on the day off waits for the next window", async () => {
      // A Friday and its weekend; the day before Labour Day (1 to 5 May) and the holiday.
      for (const [lastDay, ends, dayOff, nextDay] of [
        ["2026-03-13", "2026-03-14", "2026-03-14", "2026-03-16"],
        ["2026-04-30", "2026-05-01", "2026-05-02", "2026-05-06"],
      ] as const) {
        await truncateRuntimeTables(db);
        await db.knex.raw(`TRUNCATE "${db.schema}".queued_starts, "${db.schema}".outbox`);
        const w = world(nightBatchCalendar, `${lastDay}T22:00:00`, { concurrency: 1, ttl: "120h" });
        // The evening's first start takes the one place; the second waits for it.
        await w.enqueue("F-1");
        const waiting = await w.enqueue("F-2");
        expect(await w.queue.admit(), lastDay).toMatchObject({ started: 1, expired: [] });
        await w.advanceTo(`${ends}T00:29:59`);
        expect((await w.queue.admit()).expired, lastDay).toEqual([]);
        // The cut-off that ends the last working day, at 00:30 the next date.
        await w.advanceTo(`${ends}T00:30:00`);
        const cutoff = await w.queue.admit();
        expect(
          cutoff.expired.map((q) => q.businessKey),
          lastDay,
        ).toEqual(["F-2"]);
        expect(await w.store.getQueued(waiting.id), lastDay).toMatchObject({
          status: "expired",
          finishedAt: shanghai(`${ends}T00:30:00`),
          lastError: {
            code: "CALENDAR_CUTOFF_EXPIRED",
            message:
              "still queued at lanbank's cut-off (00:30 Asia/Shanghai), which expires waiting calls; it was not started",
          },
        });
        // F-1's call, held since the window closed, waits for the next working day's window.
        await w.engine.runDue();
        expect(w.transport.count("/loan/apply"), lastDay).toBe(0);

        // Queued on the day off: not expired at the next working day's 00:30, which ends the
        // day off, nor its call; both go at its 01:00 opening.
        await w.advanceTo(`${dayOff}T10:00:00`);
        await w.enqueue("S-1");
        expect(await w.queue.admit(), lastDay).toMatchObject({ started: 0, expired: [] });
        await w.advanceTo(`${nextDay}T00:45:00`);
        expect(await w.queue.admit(), lastDay).toMatchObject({
          started: 0,
          expired: [],
          closed: [{ reason: `lanbank is closed until ${nextDay} 01:00 (Asia/Shanghai)` }],
        });
        await w.advanceTo(`${nextDay}T01:00:00`);
        await w.engine.runDue();
        expect(await w.instanceOf("F-1"), lastDay).toMatchObject({ status: "succeeded" });
        expect(await w.queue.admit(), lastDay).toMatchObject({ started: 1, expired: [] });
        await w.engine.runDue();
        expect(await w.instanceOf("S-1"), lastDay).toMatchObject({ status: "succeeded" });
        expect(w.transport.count("/loan/apply"), lastDay).toBe(2);
        expect(await w.notifications(), lastDay).toHaveLength(1);
      }
    });

    test("a channel stored with an ambiguous cut-off (12:30 over lunch) keeps expiring queued starts at it, as its own date's, never CONFIG_INVALID", async () => {
      const w = world(lunchCutoffCalendar, "2026-03-14T10:00:00", { ttl: "120h" });
      // Queued on Saturday: admitted at Monday's 09:00 window, not expired on the way.
      await w.enqueue("S-1");
      expect(await w.queue.admit()).toMatchObject({ started: 0, expired: [] });
      await w.advanceTo("2026-03-16T09:00:00");
      expect(await w.queue.admit()).toMatchObject({ started: 1, expired: [] });
      await w.engine.runDue();
      expect(await w.instanceOf("S-1")).toMatchObject({ status: "succeeded" });
      // Queued over Monday's lunch: Monday's 12:30 cut-off expires it unstarted.
      await w.advanceTo("2026-03-16T12:10:00");
      const lunch = await w.enqueue("M-1");
      expect(await w.queue.admit()).toMatchObject({ started: 0, expired: [] });
      await w.advanceTo("2026-03-16T12:30:00");
      const cutoff = await w.queue.admit();
      expect(cutoff.expired.map((q) => q.businessKey)).toEqual(["M-1"]);
      expect(await w.store.getQueued(lunch.id)).toMatchObject({
        status: "expired",
        finishedAt: shanghai("2026-03-16T12:30:00"),
        lastError: { code: "CALENDAR_CUTOFF_EXPIRED" },
      });
      expect(await w.instanceOf("M-1")).toBeUndefined();
      expect(w.transport.count("/loan/apply")).toBe(1);
    });

    test('atCutoff "roll" (the default): starts queued at the cut-off roll to the next opening, and their time to live still applies', async () => {
      const w = world({ serviceWindows: ["09:00-17:00"], cutoff: "23:30" }, "2026-03-10T18:00:00", {
        ttl: "12h",
      });
      const early = await w.enqueue("L-1"); // expires at 06:00, before the window opens
      await w.advanceTo("2026-03-10T23:30:00");
      expect(await w.queue.admit()).toMatchObject({ started: 0, expired: [] });
      await w.advanceTo("2026-03-10T23:40:00");
      await w.enqueue("L-2"); // expires at 11:40

      await w.advanceTo("2026-03-11T06:00:00");
      const dawn = await w.queue.admit();
      expect(dawn.expired.map((q) => q.businessKey)).toEqual(["L-1"]);
      expect(w.events).toEqual([expect.objectContaining({ type: "start.expired", reason: "ttl" })]);
      const [told] = await w.notifications();
      expect(told?.payload).toMatchObject({ id: `${early.id}.start.expired`, error: null });

      await w.advanceTo("2026-03-11T09:00:00");
      expect((await w.queue.admit()).started).toBe(1);
      await w.engine.runDue();
      expect(await w.instanceOf("L-2")).toMatchObject({ status: "succeeded" });
    });

    test("with definitions and no calendar given, the queue follows the channels' calendars", async () => {
      const w = world({ serviceWindows: ["09:00-17:00"] }, "2026-03-10T20:00:00", {
        defaultCalendar: true,
      });
      await w.enqueue("L-1");
      expect(await w.queue.admit()).toMatchObject({
        started: 0,
        closed: [{ reason: "lanbank is closed until 2026-03-11 09:00 (Asia/Shanghai)" }],
      });
      await w.advanceTo("2026-03-11T09:00:00");
      expect((await w.queue.admit()).started).toBe(1);
    });

    test("a behavior whose first step does not call the funder is admitted while the channel is closed", async () => {
      const waiting = { ...loanBehavior(), initial: "wait" };
      const w = world({ serviceWindows: ["09:00-17:00"] }, "2026-03-10T20:00:00", {
        behavior: waiting,
      });
      await w.enqueue("L-1");
      expect(await w.queue.admit()).toMatchObject({ started: 1, closed: [] });
      expect(await w.instanceOf("L-1")).toMatchObject({ step: "wait" });
    });
  },
);
