import {
  type CalendarDefinition,
  type ChannelDefinition,
  Engine,
  type EngineEvent,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  ProcessorRegistry,
} from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { lunchCutoffCalendar } from "../../core/test/support/calendar-channels.ts";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import { ScriptedTransport } from "../../core/test/support/scripted-transport.ts";
import { KnexInstanceStore } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

/** An instant given as Shanghai local time (UTC+8, no daylight saving). */
const shanghai = (local: string) => Date.parse(`${local}+08:00`);

describe.skipIf(!databaseUrl)(
  databaseUrl ? "the engine keeps to a channel's calendar on PostgreSQL" : skipMessage,
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
    });

    /** An engine on the test schema whose channel has `calendar`, at a Shanghai local time. */
    function world(calendar: CalendarDefinition, at: string) {
      const clock = new ManualClock(shanghai(at));
      const channel: ChannelDefinition = { ...structuredClone(testChannel), calendar };
      const transport = new ScriptedTransport().script("/loan/apply", {
        body: { status: "SUCCESS" },
      });
      const events: EngineEvent[] = [];
      const store = new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target });
      // The engine's default calendar: a BusinessCalendar over the same definitions.
      const engine = new Engine({
        store,
        definitions: new MemoryDefinitionSource({
          channels: [channel],
          behaviors: [loanBehavior()],
        }),
        processors: new ProcessorRegistry(),
        transport,
        clock,
        locks: new InProcessLockProvider({ clock }),
        onEvent: (event) => events.push(event),
      });
      const start = (loanNo: string) =>
        engine.start({
          channel: "lanbank",
          behavior: "loan",
          businessKey: loanNo,
          input: { loanNo, amount: 100, idCardNo: "110101199003071234" },
        });
      const advanceTo = (local: string) => clock.advance(shanghai(local) - clock.now());
      return { clock, engine, store, transport, events, start, advanceTo };
    }

    test("a call outside the window is not sent; the instance is due at the next opening and sends then", async () => {
      const w = world({ serviceWindows: ["09:00-17:00"] }, "2026-03-10T20:00:00");
      const loan = await w.start("L-1");
      await w.engine.runDue();
      const held = await w.store.getInstance(loan.id);
      expect(held).toMatchObject({ step: "apply", status: "active", attempt: 0 });
      expect(held?.nextRunAt).toBe(shanghai("2026-03-11T09:00:00"));
      expect(held?.lastError?.code).toBe("CALENDAR_CLOSED");
      expect(w.transport.count("/loan/apply")).toBe(0);

      await w.advanceTo("2026-03-11T08:59:59");
      expect(await w.engine.runDue()).toBe(0);
      expect(w.transport.count("/loan/apply")).toBe(0);
      await w.clock.advance(1000);
      await w.engine.runDue();
      expect(w.transport.count("/loan/apply")).toBe(1);
      expect(await w.store.getInstance(loan.id)).toMatchObject({ status: "succeeded" });
    });

    test("a channel stored with an ambiguous cut-off (12:30 over lunch) keeps gating calls, its cut-off ending its own date's day, never CONFIG_INVALID", async () => {
      const w = world(lunchCutoffCalendar, "2026-03-14T10:00:00");
      // Due on Saturday: held until Monday's 09:00 window, not expired on the way.
      const weekend = await w.start("L-1");
      await w.engine.runDue();
      const held = await w.store.getInstance(weekend.id);
      expect(held?.lastError?.code).toBe("CALENDAR_CLOSED");
      expect(held?.nextRunAt).toBe(shanghai("2026-03-16T09:00:00"));
      await w.advanceTo("2026-03-16T09:00:00");
      await w.engine.runDue();
      expect(await w.store.getInstance(weekend.id)).toMatchObject({ status: "succeeded" });
      // Due over Monday's lunch: Monday's 12:30 cut-off expires it unsent.
      await w.advanceTo("2026-03-16T12:10:00");
      const lunch = await w.start("L-2");
      await w.engine.runDue();
      expect((await w.store.getInstance(lunch.id))?.nextRunAt).toBe(
        shanghai("2026-03-16T12:30:00"),
      );
      await w.advanceTo("2026-03-16T12:30:00");
      await w.engine.runDue();
      const parked = await w.store.getInstance(lunch.id);
      expect(parked).toMatchObject({ step: "apply", status: "active", nextRunAt: null });
      expect(parked?.lastError?.code).toBe("CALENDAR_CUTOFF_EXPIRED");
      expect(w.transport.count("/loan/apply")).toBe(1);
    });

    test("atCutoff expire: a call still held back at the cut-off is parked unsent, and retry sends it in the next window", async () => {
      const w = world(
        { serviceWindows: ["09:00-17:00"], cutoff: "23:30", atCutoff: "expire" },
        "2026-03-10T18:00:00",
      );
      const loan = await w.start("L-1");
      await w.engine.runDue();
      // Due again at the cut-off, before the next window.
      expect((await w.store.getInstance(loan.id))?.nextRunAt).toBe(shanghai("2026-03-10T23:30:00"));
      await w.advanceTo("2026-03-10T23:30:00");
      await w.engine.runDue();
      const parked = await w.store.getInstance(loan.id);
      expect(parked).toMatchObject({ step: "apply", status: "active", nextRunAt: null });
      expect(parked?.lastError?.code).toBe("CALENDAR_CUTOFF_EXPIRED");
      expect(w.events).toContainEqual(
        expect.objectContaining({
          type: "instance.attention",
          instanceId: loan.id,
          reason: "parked",
        }),
      );
      // Nothing runs it overnight; an operator's retry holds it until the window opens.
      await w.advanceTo("2026-03-11T09:00:00");
      expect(await w.engine.runDue()).toBe(0);
      expect(w.transport.count("/loan/apply")).toBe(0);
      await w.engine.retryNow(loan.id, { who: "ops", why: "the funder is open again" });
      await w.engine.runDue();
      expect(w.transport.count("/loan/apply")).toBe(1);
      expect(await w.store.getInstance(loan.id)).toMatchObject({ status: "succeeded" });
    });

    test("atCutoff roll (the default): a call still held back at the cut-off waits for the next opening", async () => {
      const w = world({ serviceWindows: ["09:00-17:00"], cutoff: "23:30" }, "2026-03-10T18:00:00");
      const loan = await w.start("L-1");
      await w.engine.runDue();
      // Rolling calls are not woken at the cut-off: due at the next window directly.
      expect((await w.store.getInstance(loan.id))?.nextRunAt).toBe(shanghai("2026-03-11T09:00:00"));
      await w.advanceTo("2026-03-10T23:30:00");
      expect(await w.engine.runDue()).toBe(0);
      await w.advanceTo("2026-03-11T09:00:00");
      await w.engine.runDue();
      expect(w.transport.count("/loan/apply")).toBe(1);
      const sent = await w.store.getInstance(loan.id);
      expect(sent).toMatchObject({ status: "succeeded" });
      expect(w.events).not.toContainEqual(
        expect.objectContaining({ type: "instance.attention", instanceId: loan.id }),
      );
    });

    /** The result notification of `loanNo`, posted to the channel's callback URL. */
    function notify(w: ReturnType<typeof world>, loanNo: string, status: string) {
      return w.engine.receiveCallback("lanbank", "loan.result", {
        method: "POST",
        path: "/callbacks/lanbank/loan.result",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ loanNo, notifyId: `N-${loanNo}`, status }),
      });
    }

    test("callbacks are applied at any time by default; named in calendar.interfaces, a notification is stored at once and applied at the next opening", async () => {
      for (const held of [false, true]) {
        const w = world(
          {
            serviceWindows: ["09:00-17:00"],
            ...(held ? { interfaces: { "loan.result": ["serviceWindows" as const] } } : {}),
          },
          "2026-03-10T10:00:00",
        );
        w.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
        const loan = await w.start(held ? "L-HELD" : "L-NIGHT");
        await w.engine.runDue();
        expect(await w.store.getInstance(loan.id)).toMatchObject({ step: "wait" });

        await w.advanceTo("2026-03-10T20:00:00");
        const ack = await notify(w, loan.businessKey, "SUCCESS");
        expect(ack.status).toBe(200);
        await w.engine.runDue();
        const night = await w.store.getInstance(loan.id);
        if (!held) {
          expect(night).toMatchObject({ status: "succeeded", step: "disbursed" });
          continue;
        }
        expect(night).toMatchObject({ step: "wait", status: "active" });
        expect(night?.nextRunAt).toBe(shanghai("2026-03-11T09:00:00"));
        expect(night?.lastError?.code).toBe("CALENDAR_CLOSED");
        expect(night?.lastError?.message).toMatch(/a notification waits in the inbox until then/);
        const { rows } = await db.knex.raw(
          `SELECT processed_at FROM "${db.schema}".inbox WHERE business_key = ?`,
          [loan.businessKey],
        );
        expect(rows).toEqual([{ processed_at: null }]);

        await w.advanceTo("2026-03-11T08:59:00");
        expect(await w.engine.runDue()).toBe(0);
        await w.advanceTo("2026-03-11T09:00:00");
        await w.engine.runDue();
        expect(await w.store.getInstance(loan.id)).toMatchObject({
          status: "succeeded",
          step: "disbursed",
        });
      }
    });
  },
);
