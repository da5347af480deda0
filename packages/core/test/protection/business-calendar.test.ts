import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import type { CalendarDefinition } from "../../src/definition/types.ts";
import { CapflowError } from "../../src/errors.ts";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import {
  BusinessCalendar,
  type UncoveredYear,
} from "../../src/protection/calendar/business-calendar.ts";
import { chinaHolidays2026 } from "../../src/protection/calendar/china-holidays-2026.ts";
import {
  isWorkingDay,
  loadHolidaySchedules,
} from "../../src/protection/calendar/holiday-schedule.ts";
import { channelWith, shanghai } from "../support/calendar-channels.ts";
import { engineHarness } from "../support/harness.ts";

function calendarFor(calendar: CalendarDefinition) {
  const channel = channelWith(calendar);
  const business = new BusinessCalendar({
    definitions: new MemoryDefinitionSource({ channels: [channel] }),
  });
  const gate = (at: string, kind: "call" | "poll" = "call", heldSince?: string) =>
    business.gate({
      channel,
      interfaceName: kind === "call" ? "loan.apply" : "loan.query",
      kind,
      at: shanghai(at),
      ...(heldSince ? { heldSince: shanghai(heldSince) } : {}),
    });
  return { business, gate };
}

describe("business calendars", () => {
  test("a channel's next cut-off is a working day's with workingDaysOnly, any day's without", () => {
    const calendar: CalendarDefinition = { workingDaysOnly: true, holidays: "cn", cutoff: "23:30" };
    const { business } = calendarFor(calendar);
    const channel = channelWith(calendar);
    const after = (at: string) => business.cutoffAfter(channel, shanghai(at));
    expect(after("2026-03-13T10:00:00")).toBe(shanghai("2026-03-13T23:30:00"));
    // After Friday's cut-off and over the weekend: Monday's.
    expect(after("2026-03-13T23:30:00")).toBe(shanghai("2026-03-16T23:30:00"));
    expect(after("2026-03-15T12:00:00")).toBe(shanghai("2026-03-16T23:30:00"));
    // Labour Day (1 to 5 May) is skipped; Saturday 9 May, a make-up working day, has one.
    expect(after("2026-04-30T23:45:00")).toBe(shanghai("2026-05-06T23:30:00"));
    expect(after("2026-05-08T23:45:00")).toBe(shanghai("2026-05-09T23:30:00"));
    const everyDay = channelWith({ cutoff: "23:30" });
    expect(business.cutoffAfter(everyDay, shanghai("2026-03-13T23:45:00"))).toBe(
      shanghai("2026-03-14T23:30:00"),
    );
    // Without a cut-off: local midnight, the end of the working day's date.
    const plain = channelWith({ workingDaysOnly: true });
    expect(business.cutoffAfter(plain, shanghai("2026-03-13T12:00:00"))).toBe(
      shanghai("2026-03-14T00:00:00"),
    );
  });

  test("a 00:00 cut-off ends the date before it: Friday's falls at Saturday 00:00", () => {
    for (const calendar of [
      { workingDaysOnly: true, holidays: "cn" },
      { workingDaysOnly: true, holidays: "cn", cutoff: "00:00" },
    ] satisfies CalendarDefinition[]) {
      const { business } = calendarFor(calendar);
      const channel = channelWith(calendar);
      const after = (at: string) => business.cutoffAfter(channel, shanghai(at));
      // 2026-03-13 is a Friday: its day ends at Saturday 00:00, as a 23:30 cut-off ends it at 23:30.
      expect(after("2026-03-13T12:00:00")).toBe(shanghai("2026-03-14T00:00:00"));
      // Over the weekend: the end of Monday.
      expect(after("2026-03-14T12:00:00")).toBe(shanghai("2026-03-17T00:00:00"));
      // Thursday 30 April, before Labour Day (1 to 5 May): its own end; on the holiday, the end
      // of Wednesday 6 May; Saturday 9 May, a make-up working day, ends at Sunday 00:00.
      expect(after("2026-04-30T12:00:00")).toBe(shanghai("2026-05-01T00:00:00"));
      expect(after("2026-05-02T12:00:00")).toBe(shanghai("2026-05-07T00:00:00"));
      expect(after("2026-05-09T12:00:00")).toBe(shanghai("2026-05-10T00:00:00"));
    }
  });

  test("with a 00:00 cut-off and working days, a call due on Saturday is sent on Monday, one held on Friday expires at Friday's end", () => {
    const lanbank: CalendarDefinition = {
      serviceWindows: ["09:00-17:00"],
      workingDaysOnly: true,
      holidays: "cn",
      cutoff: "00:00",
      atCutoff: "expire",
    };
    const { gate, business } = calendarFor(lanbank);
    // Due on Saturday: it belongs to Monday's business day and is not expired at Monday 00:00.
    expect(gate("2026-03-14T10:00:00", "call", "2026-03-14T10:00:00")).toMatchObject({
      open: false,
      until: shanghai("2026-03-16T09:00:00"),
    });
    expect(gate("2026-03-16T09:00:00", "call", "2026-03-14T10:00:00")).toEqual({ open: true });
    // Held since Friday 18:00, after its window: due again at Friday's end, and expired there.
    expect(gate("2026-03-13T18:00:00", "call", "2026-03-13T18:00:00")).toMatchObject({
      until: shanghai("2026-03-14T00:00:00"),
    });
    expect(gate("2026-03-14T00:00:00", "call", "2026-03-13T18:00:00")).toMatchObject({
      expired: true,
    });
    // The start queue: starts queued over the weekend wait for Monday's end.
    const expiring = (local: string) =>
      business.expiringCutoff({
        channel: channelWith(lanbank),
        interfaceName: "loan.apply",
        kind: "call",
        at: shanghai(local),
      });
    expect(expiring("2026-03-16T10:00:00")).toBe(shanghai("2026-03-14T00:00:00"));
    expect(expiring("2026-03-17T00:00:00")).toBe(shanghai("2026-03-17T00:00:00"));
  });

  test("a service window 00:30–23:30: open inside, closed after until the next opening", () => {
    const { gate } = calendarFor({ serviceWindows: ["00:30-23:30"] });
    expect(gate("2026-03-10T12:00:00")).toEqual({ open: true });
    expect(gate("2026-03-10T23:30:00")).toEqual({
      open: false,
      until: shanghai("2026-03-11T00:30:00"),
      reason: "lanbank is closed until 2026-03-11 00:30 (Asia/Shanghai)",
    });
    expect(gate("2026-03-11T00:10:00")).toMatchObject({ until: shanghai("2026-03-11T00:30:00") });
    // Polls keep running at night unless the channel says otherwise.
    expect(gate("2026-03-10T23:45:00", "poll")).toEqual({ open: true });
  });

  test("a window crossing midnight belongs to the day it opens", () => {
    const { gate } = calendarFor({ serviceWindows: ["22:00-02:00"] });
    expect(gate("2026-03-10T23:00:00")).toEqual({ open: true });
    expect(gate("2026-03-11T01:59:00")).toEqual({ open: true });
    expect(gate("2026-03-11T02:00:00")).toMatchObject({ until: shanghai("2026-03-11T22:00:00") });
  });

  test("working days follow the official Chinese schedule, make-up working days included", () => {
    const { gate } = calendarFor({
      serviceWindows: ["09:00-17:00"],
      workingDaysOnly: true,
      holidays: "cn",
    });
    // Friday evening before the Spring Festival: Saturday 14 February is a make-up working day.
    expect(gate("2026-02-13T18:00:00")).toMatchObject({ until: shanghai("2026-02-14T09:00:00") });
    // During the holiday (15–23 February): the first working day after it.
    expect(gate("2026-02-16T10:00:00")).toMatchObject({ until: shanghai("2026-02-24T09:00:00") });
    // New Year: 1–3 January off, Sunday 4 January worked.
    expect(gate("2026-01-01T10:00:00")).toMatchObject({ until: shanghai("2026-01-04T09:00:00") });
    // An ordinary weekend.
    expect(gate("2026-03-14T10:00:00")).toMatchObject({ until: shanghai("2026-03-16T09:00:00") });
    expect(isWorkingDay(chinaHolidays2026, "2026-10-10", 6)).toBe(true);
    expect(isWorkingDay(chinaHolidays2026, "2026-10-05", 1)).toBe(false);
  });

  test("the shipped schedule file is the built-in schedule; files with one name merge", async () => {
    const file = fileURLToPath(new URL("../../calendars/cn-2026.json", import.meta.url));
    const [loaded] = await loadHolidaySchedules([file]);
    expect(loaded).toEqual(chinaHolidays2026);
  });

  test("a year the schedule does not cover is told once per schedule and year, and asked with covers", async () => {
    const channel = channelWith({
      serviceWindows: ["09:00-17:00"],
      workingDaysOnly: true,
      holidays: "cn",
    });
    const told: UncoveredYear[] = [];
    const business = new BusinessCalendar({
      definitions: new MemoryDefinitionSource({ channels: [channel] }),
      onUncoveredYear: (notice) => told.push(notice),
    });
    const gate = (local: string) =>
      business.gate({ channel, interfaceName: "loan.apply", kind: "call", at: shanghai(local) });
    expect(business.covers("cn", 2026)).toBe(true);
    expect(business.covers("cn", 2027)).toBe(false);
    expect(business.schedules()).toEqual([{ name: "cn", years: [2026] }]);
    expect(gate("2026-03-10T10:00:00")).toEqual({ open: true });
    expect(told).toEqual([]);
    // 2027's Spring Festival is not known: Thursday 11 February is judged a working day.
    expect(gate("2027-02-11T10:00:00")).toEqual({ open: true });
    expect(gate("2027-02-12T10:00:00")).toEqual({ open: true });
    expect(told).toEqual([
      expect.objectContaining({ schedule: "cn", year: 2027, channel: "lanbank", covered: [2026] }),
    ]);

    // Given 2027's file (merged under the same name): covered, nothing told.
    const dir = await mkdtemp(join(tmpdir(), "capflow-holidays-"));
    const file = join(dir, "cn-2027.json");
    await writeFile(
      file,
      JSON.stringify({
        name: "cn",
        holidays: [{ name: "春节", from: "2027-02-06", to: "2027-02-14" }],
      }),
    );
    const withFile = new BusinessCalendar({
      definitions: new MemoryDefinitionSource({ channels: [channel] }),
      holidays: await loadHolidaySchedules([file]),
      onUncoveredYear: (notice) => told.push(notice),
    });
    expect(withFile.schedules()).toEqual([{ name: "cn", years: [2026, 2027] }]);
    expect(
      withFile.gate({
        channel,
        interfaceName: "loan.apply",
        kind: "call",
        at: shanghai("2027-02-11T10:00:00"),
      }),
    ).toMatchObject({ open: false, until: shanghai("2027-02-15T09:00:00") });
    expect(told).toHaveLength(1);
    await rm(dir, { recursive: true });
  });

  test("a schedule file that does not hold is refused naming the file and what to fix", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-holidays-"));
    const cases: [string, string, RegExp][] = [
      [
        "not-json.json",
        "{ name: cn",
        /the holiday schedule .*not-json\.json is not JSON: .*write \{ "name": "cn"/,
      ],
      [
        "no-list.json",
        JSON.stringify({ name: "cn" }),
        /no-list\.json: expected a "name" and a "holidays" list/,
      ],
      [
        "dates.json",
        JSON.stringify({
          name: "cn",
          holidays: [{ name: "春节", from: "2027/02/06", to: "2027-02-14" }],
        }),
        /dates\.json: holidays\[0\] \(春节\) needs dates written YYYY-MM-DD/,
      ],
      [
        "years.json",
        JSON.stringify({ name: "cn", years: "2027", holidays: [] }),
        /years\.json: "years" must list the years the file covers, e\.g\. \[2027\]/,
      ],
    ];
    for (const [name, content, message] of cases) {
      await writeFile(join(dir, name), content);
      const refused = await loadHolidaySchedules([join(dir, name)]).catch((error) => error);
      expect(refused).toBeInstanceOf(CapflowError);
      expect(refused).toMatchObject({ code: "CONFIG_INVALID" });
      expect(refused.message).toMatch(message);
    }
    const missing = await loadHolidaySchedules([join(dir, "absent.json")]).catch((e) => e);
    expect(missing.message).toMatch(
      /cannot read the holiday schedule .*absent\.json: .*check the path/,
    );
    await rm(dir, { recursive: true });
  });

  test("a call held back at the cut-off expires with atCutoff expire, and rolls by default", () => {
    const expiring = calendarFor({
      serviceWindows: ["09:00-17:00"],
      cutoff: "23:30",
      atCutoff: "expire",
    });
    // Held at 18:00: due again at the cut-off, before the next window.
    expect(expiring.gate("2026-03-10T18:00:00")).toMatchObject({
      until: shanghai("2026-03-10T23:30:00"),
    });
    expect(expiring.gate("2026-03-10T23:30:00", "call", "2026-03-10T18:00:00")).toMatchObject({
      open: false,
      expired: true,
    });
    // Due after the cut-off: it belongs to the next business day and waits for its window.
    expect(expiring.gate("2026-03-10T23:40:00", "call", "2026-03-10T23:40:00")).toMatchObject({
      until: shanghai("2026-03-11T09:00:00"),
    });
    const rolling = calendarFor({ serviceWindows: ["09:00-17:00"], cutoff: "23:30" });
    expect(rolling.gate("2026-03-10T23:30:00", "call", "2026-03-10T18:00:00")).toMatchObject({
      until: shanghai("2026-03-11T09:00:00"),
    });
  });

  test("with working days in force only a working day's cut-off counts: a call due after Friday's waits for Monday, and a holiday expires nothing", () => {
    const lanbank: CalendarDefinition = {
      serviceWindows: ["00:30-23:30"],
      workingDaysOnly: true,
      holidays: "cn",
      cutoff: "23:30",
      atCutoff: "expire",
    };
    const { gate, business } = calendarFor(lanbank);
    // 2026-03-13 is a Friday. Due at 23:40, after its cut-off: due again at Monday's opening,
    // not at Saturday's 23:30, and not expired there.
    const friday = gate("2026-03-13T23:40:00", "call", "2026-03-13T23:40:00");
    expect(friday).toMatchObject({ open: false, until: shanghai("2026-03-16T00:30:00") });
    expect(gate("2026-03-14T23:30:00", "call", "2026-03-13T23:40:00")).not.toMatchObject({
      expired: true,
    });
    expect(gate("2026-03-16T00:30:00", "call", "2026-03-13T23:40:00")).toEqual({ open: true });
    // Held since Friday 23:00 (before its cut-off): expired at Friday's cut-off, as before.
    expect(gate("2026-03-13T23:30:00", "call", "2026-03-13T23:00:00")).toMatchObject({
      expired: true,
    });
    // National Day: a call held since 2 October waits for the opening on 8 October, every night
    // of the holiday passing without a cut-off; 30 September's cut-off was the last.
    expect(gate("2026-10-02T23:30:00", "call", "2026-10-02T10:00:00")).toMatchObject({
      open: false,
      until: shanghai("2026-10-08T00:30:00"),
    });
    expect(gate("2026-10-05T23:30:00", "call", "2026-10-02T10:00:00")).not.toMatchObject({
      expired: true,
    });
    // The start queue's cut-off: on Saturday and through the holiday, the last working day's.
    const expiring = (local: string) =>
      business.expiringCutoff({
        channel: channelWith(lanbank),
        interfaceName: "loan.apply",
        kind: "call",
        at: shanghai(local),
      });
    expect(expiring("2026-03-14T23:45:00")).toBe(shanghai("2026-03-13T23:30:00"));
    expect(expiring("2026-03-16T10:00:00")).toBe(shanghai("2026-03-13T23:30:00"));
    expect(expiring("2026-03-16T23:30:00")).toBe(shanghai("2026-03-16T23:30:00"));
    expect(expiring("2026-10-07T23:45:00")).toBe(shanghai("2026-09-30T23:30:00"));
    // The make-up Saturday (10 October) is a working day: its cut-off counts.
    expect(expiring("2026-10-10T23:45:00")).toBe(shanghai("2026-10-10T23:30:00"));
  });

  test("expiringCutoff: the last cut-off that expires waiting calls of an interface", () => {
    const at = (calendar: CalendarDefinition, local: string, interfaceName = "loan.apply") => {
      const channel = channelWith(calendar);
      return calendarFor(calendar).business.expiringCutoff({
        channel,
        interfaceName,
        kind: "call",
        at: shanghai(local),
      });
    };
    const expiring: CalendarDefinition = {
      serviceWindows: ["09:00-17:00"],
      cutoff: "23:30",
      atCutoff: "expire",
    };
    expect(at(expiring, "2026-03-10T23:30:00")).toBe(shanghai("2026-03-10T23:30:00"));
    expect(at(expiring, "2026-03-10T23:29:00")).toBe(shanghai("2026-03-09T23:30:00"));
    // Calls that roll, or an interface the cut-off does not apply to: none.
    expect(at({ ...expiring, atCutoff: "roll" }, "2026-03-10T23:30:00")).toBeUndefined();
    expect(
      at({ ...expiring, interfaces: { "loan.apply": ["serviceWindows"] } }, "2026-03-10T23:30:00"),
    ).toBeUndefined();
  });

  test("per interface: a poll held to the windows, a call free of them", () => {
    const { gate } = calendarFor({
      serviceWindows: ["09:00-17:00"],
      interfaces: { "loan.query": ["serviceWindows"], "loan.apply": [] },
    });
    expect(gate("2026-03-10T20:00:00", "call")).toEqual({ open: true });
    expect(gate("2026-03-10T20:00:00", "poll")).toMatchObject({
      until: shanghai("2026-03-11T09:00:00"),
    });
  });

  test("routing sees a closed channel as closed", async () => {
    const { business } = calendarFor({ serviceWindows: ["09:00-17:00"] });
    expect(await business.isOpen("lanbank", shanghai("2026-03-10T20:00:00"))).toEqual({
      open: false,
      reason: "lanbank is closed until 2026-03-11 09:00 (Asia/Shanghai)",
    });
    expect(await business.isOpen("other", shanghai("2026-03-10T20:00:00"))).toEqual({ open: true });
  });
});

describe("the engine keeps to the channel's calendar (manual clock)", () => {
  test("a call outside the window is not sent; the instance is due at the window's start and sends then", async () => {
    const h = engineHarness({ channel: channelWith({ serviceWindows: ["09:00-17:00"] }) });
    h.clock.set(shanghai("2026-03-10T20:00:00"));
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    const loan = await h.startLoan("L-1");
    await h.engine.runDue();
    const held = await h.store.getInstance(loan.id);
    expect(held).toMatchObject({ step: "apply", status: "active", attempt: 0 });
    expect(held?.nextRunAt).toBe(shanghai("2026-03-11T09:00:00"));
    expect(held?.lastError?.code).toBe("CALENDAR_CLOSED");
    expect(h.transport.count("/loan/apply")).toBe(0);

    await h.clock.advance(shanghai("2026-03-11T08:59:59") - h.clock.now());
    expect(await h.engine.runDue()).toBe(0);
    await h.clock.advance(1000);
    await h.engine.runDue();
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(await h.store.getInstance(loan.id)).toMatchObject({ status: "succeeded" });
  });

  test("with atCutoff expire, a call still waiting at the cut-off is parked unsent", async () => {
    const h = engineHarness({
      channel: channelWith({
        serviceWindows: ["09:00-17:00"],
        cutoff: "23:30",
        atCutoff: "expire",
      }),
    });
    h.clock.set(shanghai("2026-03-10T18:00:00"));
    const loan = await h.startLoan("L-1");
    await h.engine.runDue();
    expect((await h.store.getInstance(loan.id))?.nextRunAt).toBe(shanghai("2026-03-10T23:30:00"));
    await h.clock.advance(shanghai("2026-03-10T23:30:00") - h.clock.now());
    await h.engine.runDue();
    const parked = await h.store.getInstance(loan.id);
    expect(parked).toMatchObject({ step: "apply", status: "active", nextRunAt: null });
    expect(parked?.lastError?.code).toBe("CALENDAR_CUTOFF_EXPIRED");
    expect(h.transport.count("/loan/apply")).toBe(0);
    expect(h.events).toContainEqual(
      expect.objectContaining({
        type: "instance.attention",
        instanceId: loan.id,
        reason: "parked",
      }),
    );
  });
});
