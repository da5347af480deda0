import { expect, test } from "vitest";
import type { ChannelDefinition } from "../../../src/index.ts";
import { flowRequestFor } from "../../../src/runtime/flow-control/flow-request.ts";

const channel: ChannelDefinition = {
  code: "acme",
  name: "Acme Finance",
  baseUrl: "https://acme.example",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "none" },
  bulkhead: 8,
  interfaces: {
    "loan.apply": {
      method: "POST",
      path: "/loan/apply",
      timeout: "10s",
      concurrency: 5,
      rate: { limit: 20, per: "1s" },
      breaker: { consecutiveTimeouts: 3, cooldown: "1m" },
    },
    "loan.query": { method: "POST", path: "/loan/query" },
  },
};

test("the flow request of an interface comes from its definition", () => {
  expect(flowRequestFor(channel, "loan.apply")).toEqual({
    channel: "acme",
    interface: "loan.apply",
    bulkhead: 8,
    limits: { concurrency: 5, rate: { limit: 20, windowMs: 1_000 } },
    // connect + headers + body (each up to the timeout) + slack
    permitTtlMs: 5_000 + 2 * 10_000 + 5_000,
    breaker: { consecutiveTimeouts: 3, cooldownMs: 60_000 },
  });
  const { bulkhead: _bulkhead, ...withoutBulkhead } = channel;
  expect(flowRequestFor(withoutBulkhead, "loan.query")).toEqual({
    channel: "acme",
    interface: "loan.query",
    bulkhead: 16,
    limits: {},
    permitTtlMs: 5_000 + 2 * 30_000 + 5_000,
  });
});

test("the same definition gives the same breaker settings object (no re-validation per call)", () => {
  expect(flowRequestFor(channel, "loan.apply").breaker).toBe(
    flowRequestFor(channel, "loan.apply").breaker,
  );
});

test("an unknown interface is a programming error", () => {
  expect(() => flowRequestFor(channel, "nope")).toThrow(/no interface "nope"/);
});

test("an interface or account named after an Object member is none of the channel's", () => {
  expect(() => flowRequestFor(channel, "constructor")).toThrow(/no interface "constructor"/);
  const withAccounts: ChannelDefinition = {
    ...channel,
    accounts: { "shop-a": { concurrency: 2 } },
  };
  expect(flowRequestFor(withAccounts, "loan.query", "shop-a").account).toEqual({
    code: "shop-a",
    limits: { concurrency: 2 },
  });
  for (const account of ["constructor", "__proto__", "toString"]) {
    expect(flowRequestFor(withAccounts, "loan.query", account).account, account).toBeUndefined();
  }
});
