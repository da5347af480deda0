import { DateTime } from "luxon";
import { describe, expect, test } from "vitest";
import { newSerial } from "../../src/engine/new-id.ts";

function dayOf(time: number, zone: string): string {
  return DateTime.fromMillis(time, { zone }).toFormat("yyyyMMdd");
}

describe("newSerial", () => {
  test("is the day in the channel's time zone and 16 digits", () => {
    const time = Date.UTC(2026, 10, 21, 15, 30);
    const serial = newSerial(time, "Asia/Shanghai");
    expect(serial).toMatch(/^20261121\d{16}$/);
    // Same instant, another zone: another day, whatever the first call remembered.
    expect(newSerial(time, "America/Los_Angeles").slice(0, 8)).toBe("20261121");
    expect(newSerial(Date.UTC(2026, 10, 21, 16, 0), "Asia/Shanghai").slice(0, 8)).toBe("20261122");
  });

  test("follows the day across midnights, DST changes and clocks going back", () => {
    const zones = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe"];
    // Every 23 minutes through the DST changes of spring and autumn 2026, then backwards.
    const times: number[] = [];
    for (const [from, until] of [
      [Date.UTC(2026, 2, 7), Date.UTC(2026, 3, 7)],
      [Date.UTC(2026, 9, 24), Date.UTC(2026, 10, 3)],
    ] as const) {
      for (let t = from; t < until; t += 23 * 60_000) times.push(t);
    }
    for (const time of [...times, ...[...times].reverse()]) {
      for (const zone of zones) {
        expect(newSerial(time, zone).slice(0, 8), `${new Date(time).toISOString()} ${zone}`).toBe(
          dayOf(time, zone),
        );
      }
    }
  });

  test("an unknown time zone gives the same as luxon does, every time", () => {
    const time = Date.UTC(2026, 10, 21);
    const first = newSerial(time, "Nowhere/Atlantis").slice(0, -16);
    expect(first).toBe(dayOf(time, "Nowhere/Atlantis"));
    expect(newSerial(time, "Nowhere/Atlantis").slice(0, -16)).toBe(first);
  });
});
