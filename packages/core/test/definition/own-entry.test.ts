import { expect, test } from "vitest";
import { ownEntry } from "../../src/definition/own-entry.ts";

test("finds a map's own entries only, never Object's members", () => {
  const accounts = JSON.parse(
    '{"shop-a": {"merchantId": "M-A"}, "constructor": {"merchantId": "M-C"}}',
  );
  expect(ownEntry(accounts, "shop-a")).toEqual({ merchantId: "M-A" });
  // An account may be called "constructor": then it is its own entry.
  expect(ownEntry(accounts, "constructor")).toEqual({ merchantId: "M-C" });
  for (const name of ["__proto__", "toString", "hasOwnProperty", "valueOf", "nosuch"]) {
    expect(ownEntry(accounts, name), name).toBeUndefined();
  }
  expect(ownEntry({}, "constructor")).toBeUndefined();
  expect(ownEntry(undefined, "shop-a")).toBeUndefined();
  expect(ownEntry(accounts, undefined)).toBeUndefined();
  expect(ownEntry(accounts, null)).toBeUndefined();
});
