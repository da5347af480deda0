import { expect, test } from "vitest";
import { Bulkhead } from "../../../src/runtime/flow-control/bulkhead.ts";

test("a bulkhead bounds in-flight calls per channel, independently of other channels", () => {
  const bulkhead = new Bulkhead();
  expect(bulkhead.tryEnter("slow", 2)).toBe(true);
  expect(bulkhead.tryEnter("slow", 2)).toBe(true);
  expect(bulkhead.tryEnter("slow", 2)).toBe(false);
  expect(bulkhead.tryEnter("fast", 2)).toBe(true);
  expect(bulkhead.inFlight("slow")).toBe(2);
  bulkhead.leave("slow");
  expect(bulkhead.tryEnter("slow", 2)).toBe(true);
  bulkhead.leave("slow");
  bulkhead.leave("slow");
  bulkhead.leave("fast");
  expect(bulkhead.inFlight("slow")).toBe(0);
  expect(bulkhead.inFlight("fast")).toBe(0);
});
