import { describe, expect, test } from "vitest";
import {
  BusinessCalendar,
  type CalendarDefinition,
  MemoryDefinitionSource,
  validateDefinitions,
} from "../../src/index.ts";
import {
  channelWith,
  lunchCutoffCalendar,
  nightBatchCalendar as nightBatch,
  shanghai,
} from "../support/calendar-channels.ts";

/** The calendar's three answers that depend on the day a cut-off ends, for one channel. */
function calendarOf(calendar: CalendarDefinition) {
  const channel = channelWith(calendar);
  const business = new BusinessCalendar({
    definitions: new MemoryDefinitionSource({ channels: [channel] }),
  });
  return {
    /** When a cached answer asked at `at` ends (lifetime `cutoff`). */
    cutoffAfter: (at: string) => business.cutoffAfter(channel, shanghai(at)),
    /** The cut-off before which queued starts expire, asked at `at`. */
    expiring: (at: string) =>
      business.expiringCutoff({
        channel,
        interfaceName: "loan.apply",
        kind: "call",
        at: shanghai(at),
      }),
    /** The gate for a call at `at`, held since `heldSince`. */
    gate: (at: string, heldSince: string) =>
      business.gate({
        channel,
        interfaceName: "loan.apply",
        kind: "call",
        at: shanghai(at),
        heldSince: shanghai(heldSince),
      }),
  };
}

function problemsOf(calendar: CalendarDefinition) {
  return validateDefinitions({
    channels: [{ file: "lanbank.channel.json", definition: channelWith(calendar) }],
    behaviors: [],
  }).problems.filter((problem) => problem.code === "ambiguous-cutoff");
}

// 2026-03-13 is a Friday; Labour Day runs 1 to 5 May 2026 (Thursday 30 April is the day before);
// Saturday 9 May is a make-up working day.
describe("the day a cut-off ends", () => {
  test("a cut-off shortly after midnight, before the day's first opening, ends the previous date's day", () => {
    const { cutoffAfter, expiring } = calendarOf(nightBatch);
    // Friday's work ends at Saturday 00:30, not at Friday 00:30 (then Monday's).
    expect(cutoffAfter("2026-03-13T12:00:00")).toBe(shanghai("2026-03-14T00:30:00"));
    // Friday 00:15 is still Thursday's day (its window runs until 00:30): Thursday's cut-off.
    expect(cutoffAfter("2026-03-13T00:15:00")).toBe(shanghai("2026-03-13T00:30:00"));
    // Asked on Saturday: the end of Monday, Tuesday 00:30.
    expect(cutoffAfter("2026-03-14T12:00:00")).toBe(shanghai("2026-03-17T00:30:00"));
    // The day before a holiday ends at the holiday's 00:30; during it, the end of Wednesday 6 May;
    // the make-up Saturday has its own end.
    expect(cutoffAfter("2026-04-30T12:00:00")).toBe(shanghai("2026-05-01T00:30:00"));
    expect(cutoffAfter("2026-05-02T12:00:00")).toBe(shanghai("2026-05-07T00:30:00"));
    expect(cutoffAfter("2026-05-09T12:00:00")).toBe(shanghai("2026-05-10T00:30:00"));
    // Queued starts: at Monday 00:45, before Monday's window, the last cut-off that counts is
    // Friday's (Saturday 00:30), so a start queued on Saturday has not expired.
    expect(expiring("2026-03-16T00:45:00")).toBe(shanghai("2026-03-14T00:30:00"));
    expect(expiring("2026-03-17T00:30:00")).toBe(shanghai("2026-03-17T00:30:00"));
    // Through Labour Day: Thursday's, at 1 May 00:30.
    expect(expiring("2026-05-06T00:45:00")).toBe(shanghai("2026-05-01T00:30:00"));
  });

  test("calls: one held on Friday evening expires at Saturday 00:30, one due on Saturday is sent on Monday", () => {
    const { gate } = calendarOf({ ...nightBatch, serviceWindows: ["09:00-00:30"] });
    // Held since Friday 08:00, before the window: sent at 09:00, not expired.
    expect(gate("2026-03-13T08:00:00", "2026-03-13T08:00:00")).toMatchObject({
      until: shanghai("2026-03-13T09:00:00"),
    });
    // Held since Saturday 00:40 (after Friday's window): due again at Monday 09:00, never at
    // Monday 00:30, and sent then.
    expect(gate("2026-03-14T00:40:00", "2026-03-14T00:40:00")).toMatchObject({
      open: false,
      until: shanghai("2026-03-16T09:00:00"),
    });
    expect(gate("2026-03-16T09:00:00", "2026-03-14T00:40:00")).toEqual({ open: true });
    // Held since Friday 00:35, after Thursday's cut-off and before Friday's opening: Friday's
    // work, sent at 09:00.
    expect(gate("2026-03-13T00:35:00", "2026-03-13T00:35:00")).toMatchObject({
      until: shanghai("2026-03-13T09:00:00"),
    });
  });

  test("at the cut-off a call held since Friday expires: Saturday 00:30, the end of Friday", () => {
    // Windows that close before the cut-off, so a call can be held on Friday evening.
    const { gate } = calendarOf({ ...nightBatch, serviceWindows: ["01:00-22:00"] });
    expect(gate("2026-03-13T22:30:00", "2026-03-13T22:30:00")).toMatchObject({
      until: shanghai("2026-03-14T00:30:00"),
    });
    expect(gate("2026-03-14T00:30:00", "2026-03-13T22:30:00")).toMatchObject({ expired: true });
    // The day before Labour Day: expired at 1 May 00:30, not on 6 May.
    expect(gate("2026-05-01T00:30:00", "2026-04-30T22:30:00")).toMatchObject({ expired: true });
    // Due during the holiday: waits for Wednesday 6 May's window, not expired on the way.
    expect(gate("2026-05-06T00:30:00", "2026-05-02T10:00:00")).toMatchObject({
      open: false,
      until: shanghai("2026-05-06T01:00:00"),
    });
    expect(gate("2026-05-06T01:00:00", "2026-05-02T10:00:00")).toEqual({ open: true });
  });

  test("a cut-off at the first opening ends the previous date's day (01:00 with a 01:00 window, 00:00 with none)", () => {
    const atOpening = calendarOf({ ...nightBatch, cutoff: "01:00" });
    expect(atOpening.cutoffAfter("2026-03-13T12:00:00")).toBe(shanghai("2026-03-14T01:00:00"));
    expect(atOpening.cutoffAfter("2026-04-30T12:00:00")).toBe(shanghai("2026-05-01T01:00:00"));
    const early = calendarOf({ ...nightBatch, serviceWindows: ["09:00-17:00"], cutoff: "01:00" });
    expect(early.cutoffAfter("2026-03-13T12:00:00")).toBe(shanghai("2026-03-14T01:00:00"));
    expect(early.expiring("2026-03-16T08:00:00")).toBe(shanghai("2026-03-14T01:00:00"));
    const midnight = calendarOf({ workingDaysOnly: true, holidays: "cn", cutoff: "00:00" });
    expect(midnight.cutoffAfter("2026-03-13T12:00:00")).toBe(shanghai("2026-03-14T00:00:00"));
    expect(midnight.cutoffAfter("2026-04-30T12:00:00")).toBe(shanghai("2026-05-01T00:00:00"));
    expect(midnight.cutoffAfter("2026-05-02T12:00:00")).toBe(shanghai("2026-05-07T00:00:00"));
    for (const calendar of [
      nightBatch,
      { ...nightBatch, cutoff: "01:00" },
      { ...nightBatch, serviceWindows: ["09:00-17:00"], cutoff: "01:00" },
      { workingDaysOnly: true, cutoff: "00:00" },
    ]) {
      expect(problemsOf(calendar)).toEqual([]);
    }
  });

  test("ordinary cut-offs (16:00, 22:00, 23:30, 23:59) still end their own date's day", () => {
    for (const [windows, cutoff] of [
      [["09:00-17:00"], "16:00"],
      [["09:00-17:00"], "22:00"],
      [["09:00-17:00"], "23:59"],
      [["00:30-23:30"], "23:30"],
      [undefined, "16:00"],
      [undefined, "23:59"],
    ] as const) {
      const calendar: CalendarDefinition = {
        ...(windows ? { serviceWindows: [...windows] } : {}),
        workingDaysOnly: true,
        holidays: "cn",
        cutoff,
        atCutoff: "expire",
      };
      expect(problemsOf(calendar)).toEqual([]);
      const { cutoffAfter, expiring } = calendarOf(calendar);
      // Friday noon: Friday's own cut-off; Saturday: Monday's; the day before Labour Day: its own.
      expect(cutoffAfter("2026-03-13T12:00:00")).toBe(shanghai(`2026-03-13T${cutoff}:00`));
      expect(cutoffAfter("2026-03-14T12:00:00")).toBe(shanghai(`2026-03-16T${cutoff}:00`));
      expect(cutoffAfter("2026-04-30T12:00:00")).toBe(shanghai(`2026-04-30T${cutoff}:00`));
      expect(cutoffAfter("2026-05-02T12:00:00")).toBe(shanghai(`2026-05-06T${cutoff}:00`));
      expect(expiring("2026-03-16T12:00:00")).toBe(shanghai(`2026-03-13T${cutoff}:00`));
    }
  });

  test("an ambiguous cut-off is refused by validation (ambiguous-cutoff), saying what it is taken to mean and exactly what to write", () => {
    const noWindows: CalendarDefinition = { workingDaysOnly: true, cutoff: "00:30" };
    const [problem] = problemsOf(noWindows);
    expect(problem).toMatchObject({
      code: "ambiguous-cutoff",
      file: "lanbank.channel.json",
      pointer: "/calendar/cutoff",
    });
    expect(problem?.message).toContain(
      "the cut-off 00:30 falls after the day's first opening yet leaves 23h30 of its 24h of service time after it",
    );
    expect(problem?.message).toContain(
      "it is taken to end its own date's day (the one falling on a Friday ends Friday's)",
    );
    expect(problem?.message).toContain('"serviceWindows": ["00:30-00:30"] (open all day)');
    const lunch: CalendarDefinition = {
      serviceWindows: ["09:00-12:00", "13:00-17:00"],
      workingDaysOnly: true,
      cutoff: "12:30",
    };
    expect(problemsOf(lunch)).toHaveLength(1);
    expect(problemsOf(lunch)[0]?.message).toContain(
      'move the cut-off after most of the day\'s windows ("cutoff": "17:00", when the last closes) to keep it ending its own date\'s day, or move the cut-off to the first opening or before it ("cutoff": "09:00")',
    );
    // A cut-off inside the previous date's window crossing midnight, after an earlier window.
    expect(
      problemsOf({
        serviceWindows: ["00:15-00:45", "22:00-02:00"],
        workingDaysOnly: true,
        cutoff: "01:00",
      }),
    ).toHaveLength(1);
    // Without working days every day's cut-off counts: the day it ends changes nothing.
    expect(problemsOf({ cutoff: "00:30" })).toEqual([]);
    expect(problemsOf({ ...lunch, workingDaysOnly: false })).toEqual([]);
    // A scheduled change to such a calendar is refused too.
    const future = validateDefinitions({
      channels: [
        {
          file: "lanbank.channel.json",
          definition: {
            ...channelWith({ workingDaysOnly: true, cutoff: "23:30" }),
            future: [{ effectiveFrom: "2027-01-01", values: { calendar: noWindows } }],
          },
        },
      ],
      behaviors: [],
    }).problems;
    expect(future).toEqual([
      expect.objectContaining({
        code: "future-values",
        message: expect.stringContaining("the cut-off 00:30"),
      }),
    ]);
  });

  test("a channel stored with an ambiguous cut-off keeps running: never refused at run time, its cut-off ends its own date's day, as before the rule", () => {
    // 00:30 without serviceWindows: Friday's 00:30 ends Friday, Saturday's and Sunday's end no
    // working day, Monday's ends Monday.
    const noWindows: CalendarDefinition = {
      workingDaysOnly: true,
      holidays: "cn",
      cutoff: "00:30",
      atCutoff: "expire",
    };
    const { cutoffAfter, expiring, gate } = calendarOf(noWindows);
    expect(cutoffAfter("2026-03-13T12:00:00")).toBe(shanghai("2026-03-16T00:30:00"));
    expect(cutoffAfter("2026-03-13T00:10:00")).toBe(shanghai("2026-03-13T00:30:00"));
    expect(expiring("2026-03-16T00:20:00")).toBe(shanghai("2026-03-13T00:30:00"));
    expect(expiring("2026-03-16T01:00:00")).toBe(shanghai("2026-03-16T00:30:00"));
    // A call held since Saturday goes at Monday's 00:00 opening, not expired on the way.
    expect(gate("2026-03-14T10:00:00", "2026-03-14T10:00:00")).toMatchObject({
      open: false,
      until: shanghai("2026-03-16T00:00:00"),
    });
    expect(gate("2026-03-16T00:00:00", "2026-03-14T10:00:00")).toEqual({ open: true });
    // Between two windows: 12:30 ends its own date's day too.
    const lunch = calendarOf(lunchCutoffCalendar);
    expect(lunch.cutoffAfter("2026-03-13T13:00:00")).toBe(shanghai("2026-03-16T12:30:00"));
    expect(lunch.expiring("2026-03-14T10:00:00")).toBe(shanghai("2026-03-13T12:30:00"));
    // A call held over Monday's lunch expires at Monday's 12:30 cut-off.
    expect(lunch.gate("2026-03-16T12:10:00", "2026-03-16T12:10:00")).toMatchObject({
      open: false,
      until: shanghai("2026-03-16T12:30:00"),
    });
    expect(lunch.gate("2026-03-16T12:30:00", "2026-03-16T12:10:00")).toMatchObject({
      expired: true,
    });
  });
});
