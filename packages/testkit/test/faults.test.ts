import { afterEach, describe, expect, it } from "vitest";
import {
  accept,
  byField,
  type FaultRule,
  type MockFunder,
  type MockFunderOptions,
  startMockFunder,
} from "../src/index.ts";
import { callFunder, funderSecret } from "./support/engine-client.ts";
import { hmacHandler } from "./support/hmac-handler.ts";
import { jsonCodec } from "./support/json-codec.ts";

let mock: MockFunder | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

/** A funder with one endpoint, `POST /loan/apply`, answering SUCCESS, with these fault rules. */
async function funderWith(
  faults: readonly FaultRule[],
  extra: Partial<MockFunderOptions> = {},
): Promise<MockFunder> {
  mock = await startMockFunder({
    handler: hmacHandler(funderSecret),
    codec: jsonCodec,
    businessKey: byField("loanNo"),
    endpoints: { "POST /loan/apply": { answer: accept(), faults } },
    ...extra,
  });
  return mock;
}

const apply = (funder: MockFunder, loanNo = "L1", timeoutMs = 2_000) =>
  callFunder(funder.url, "/loan/apply", { body: { loanNo }, timeoutMs });

describe("fault injection, observed from the client", () => {
  it("latency: the answer comes late but comes", async () => {
    const funder = await funderWith([{ fault: { kind: "latency", ms: 200 } }]);
    const started = Date.now();
    expect(await apply(funder)).toMatchObject({ kind: "answered", status: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(funder.requests()[0]).toMatchObject({ fault: "latency", processed: true });
  });

  it("latency longer than the client waits: the client times out, the funder still processes the call", async () => {
    const funder = await funderWith([{ fault: { kind: "latency", ms: 300 } }]);
    expect(await apply(funder, "L1", 100)).toEqual({ kind: "timedOut" });
    await expect.poll(() => funder.requests()[0]?.processed).toBe(true);
    expect(funder.requests()[0]).toMatchObject({ outcome: "clientGaveUp", status: undefined });
  });

  it("timeout after processing: the call is processed, the client gets nothing and gives up (unknown outcome)", async () => {
    const funder = await funderWith([{ fault: { kind: "timeoutAfterProcessing" } }]);
    const started = Date.now();
    expect(await apply(funder, "L1", 300)).toEqual({ kind: "timedOut" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await expect.poll(() => funder.requests()[0]?.outcome).toBe("held");
    expect(funder.requests()[0]).toMatchObject({
      fault: "timeoutAfterProcessing",
      processed: true,
      status: undefined,
    });
    expect(funder.inFlight()).toBe(0);
  });

  it("the held connection counts as in flight until the client gives up", async () => {
    const funder = await funderWith([{ fault: { kind: "timeoutAfterProcessing" } }]);
    const call = apply(funder, "L1", 400);
    await expect.poll(() => funder.requests()[0]?.processed).toBe(true);
    expect(funder.inFlight("POST /loan/apply")).toBe(1);
    await call;
    await expect.poll(() => funder.inFlight("POST /loan/apply")).toBe(0);
  });

  it("reset before processing: the connection is reset and the call is not processed", async () => {
    let processed = 0;
    mock = await startMockFunder({
      handler: hmacHandler(funderSecret),
      codec: jsonCodec,
      endpoints: {
        "POST /loan/apply": {
          answer: () => {
            processed += 1;
            return { body: {} };
          },
          faults: [{ fault: { kind: "resetBeforeProcessing" } }],
        },
      },
    });
    expect(await apply(mock)).toEqual({ kind: "connectionLost", code: "ECONNRESET" });
    expect(processed).toBe(0);
    expect(mock.requests()[0]).toMatchObject({
      fault: "resetBeforeProcessing",
      processed: false,
      outcome: "reset",
      status: undefined,
    });
  });

  it("reset after processing: the connection is reset but the call was processed (unknown outcome)", async () => {
    const funder = await funderWith([{ fault: { kind: "resetAfterProcessing" } }]);
    expect(await apply(funder)).toEqual({ kind: "connectionLost", code: "ECONNRESET" });
    expect(funder.requests()[0]).toMatchObject({
      fault: "resetAfterProcessing",
      processed: true,
      outcome: "reset",
    });
  });

  it("HTTP 5xx: an unsealed error page, not processed unless asked", async () => {
    const funder = await funderWith([
      { fault: { kind: "httpError" }, calls: [1] },
      {
        fault: { kind: "httpError", status: 500, body: "boom", afterProcessing: true },
        calls: [2],
      },
    ]);
    const first = await apply(funder);
    expect(first).toMatchObject({ kind: "notOpened", status: 503 });
    const second = await apply(funder);
    expect(second).toMatchObject({ kind: "notOpened", status: 500, wire: { body: "boom" } });
    expect(funder.requests().map((call) => [call.fault, call.processed, call.status])).toEqual([
      ["httpError", false, 503],
      ["httpError", true, 500],
    ]);
  });

  it("malformed body: processed, but the answer cannot be opened", async () => {
    const funder = await funderWith([{ fault: { kind: "malformedBody" } }]);
    const result = await apply(funder);
    expect(result).toMatchObject({ kind: "notOpened", status: 200 });
    expect(funder.requests()[0]).toMatchObject({ fault: "malformedBody", processed: true });
  });

  it("malformed body with a given text", async () => {
    const funder = await funderWith([{ fault: { kind: "malformedBody", body: "<html>oops" } }]);
    expect(await apply(funder)).toMatchObject({ kind: "notOpened", wire: { body: "<html>oops" } });
  });

  it("wrongly signed answer: the body still decodes but verification fails", async () => {
    const funder = await funderWith([{ fault: { kind: "badSignature" } }]);
    const result = await apply(funder);
    expect(result).toMatchObject({ kind: "notOpened", status: 200, code: "CRYPTO_VERIFY_FAILED" });
    if (result.kind !== "notOpened") throw new Error("unreachable");
    expect(JSON.parse(result.wire.body)).toMatchObject({ status: "SUCCESS" });
    expect(funder.requests()[0]).toMatchObject({ fault: "badSignature", processed: true });
  });

  it("wrongly signed answer with a scheme-specific tampering", async () => {
    const funder = await funderWith([
      {
        fault: {
          kind: "badSignature",
          tamper: (answer) => ({ ...answer, body: answer.body.replace("SUCCESS", "FAILED") }),
        },
      },
    ]);
    expect(await apply(funder)).toMatchObject({ kind: "notOpened", code: "CRYPTO_VERIFY_FAILED" });
  });

  it("selects calls by number and by predicate; the first matching rule wins", async () => {
    const funder = await funderWith([
      { fault: { kind: "httpError", status: 502 }, calls: [2] },
      { fault: { kind: "httpError", status: 504 }, when: (call) => call.businessKey === "L9" },
    ]);
    const statuses = [];
    for (const loanNo of ["L1", "L9", "L9", "L2"]) {
      const result = await apply(funder, loanNo);
      statuses.push("status" in result ? result.status : result.kind);
    }
    expect(statuses).toEqual([200, 502, 504, 200]);
  });

  it("injected faults apply before the endpoint's own", async () => {
    const funder = await funderWith([{ fault: { kind: "httpError", status: 502 } }]);
    funder.injectFault("POST /loan/apply", {
      fault: { kind: "resetBeforeProcessing" },
      calls: [1],
    });
    expect(await apply(funder)).toMatchObject({ kind: "connectionLost" });
    expect(await apply(funder)).toMatchObject({ status: 502 });
  });
});

describe("probabilistic faults", () => {
  const rules: FaultRule[] = [
    { fault: { kind: "httpError", status: 503 }, probability: 0.3 },
    { fault: { kind: "malformedBody" }, probability: 0.2 },
  ];

  async function faultsOfTwentyCalls(seed: number): Promise<(string | undefined)[]> {
    const funder = await funderWith(rules, { seed });
    for (let index = 0; index < 20; index++) await apply(funder, `L${index}`);
    const faults = funder.requests().map((call) => call.fault);
    await funder.close();
    return faults;
  }

  it("replay identically with the same seed, and differently with another", async () => {
    const first = await faultsOfTwentyCalls(42);
    const again = await faultsOfTwentyCalls(42);
    const other = await faultsOfTwentyCalls(7);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(first.filter((fault) => fault === "httpError").length).toBeGreaterThan(0);
    expect(first.filter((fault) => fault === undefined).length).toBeGreaterThan(0);
  });

  it("replay from the start after reset", async () => {
    const funder = await funderWith(rules, { seed: 42 });
    for (let index = 0; index < 10; index++) await apply(funder, `L${index}`);
    const before = funder.requests().map((call) => call.fault);
    await funder.reset();
    for (let index = 0; index < 10; index++) await apply(funder, `L${index}`);
    expect(funder.requests().map((call) => call.fault)).toEqual(before);
    expect(funder.seed).toBe(42);
  });
});
