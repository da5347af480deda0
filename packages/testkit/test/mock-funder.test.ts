import { afterEach, describe, expect, it } from "vitest";
import {
  accept,
  byField,
  createMockFunder,
  type MockFunder,
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

const handler = hmacHandler(funderSecret);

describe("mock funder", () => {
  it("listens on a free loopback port and reports its URL", async () => {
    mock = createMockFunder({ handler, codec: jsonCodec, endpoints: {} });
    expect(() => mock?.url).toThrow(/start\(\)/);
    const url = await mock.start();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(mock.url).toBe(url);
  });

  it("leaves idle connections to the client to close, so a POST never meets a connection it just closed", async () => {
    mock = await startMockFunder({
      handler,
      codec: jsonCodec,
      endpoints: { "POST /loan/apply": { answer: () => ({ body: { ok: true } }) } },
    });
    const answer = await fetch(`${mock.url}/loan/apply`, { method: "POST", body: "{}" });
    await answer.text();
    // Kept alive with no idle timeout of the server's (Node's default would say timeout=5).
    expect(answer.headers.get("connection")).toBe("keep-alive");
    expect(answer.headers.get("keep-alive")).toBeNull();
  });

  it("opens the request with the funder's handler and answers with a sealed body", async () => {
    mock = await startMockFunder({
      handler,
      codec: jsonCodec,
      businessKey: byField("loanNo"),
      endpoints: {
        "POST /loan/apply": {
          answer: (call) => ({ body: { echoed: call.body, n: call.n, call: call.call } }),
        },
      },
    });
    const result = await callFunder(mock.url, "/loan/apply", {
      body: { loanNo: "L1", amount: 100 },
    });
    expect(result).toMatchObject({
      kind: "answered",
      status: 200,
      body: { echoed: { loanNo: "L1", amount: 100 }, n: 1, call: 1 },
    });
    const [recorded] = mock.requests();
    expect(recorded).toMatchObject({
      seq: 1,
      endpoint: "POST /loan/apply",
      method: "POST",
      path: "/loan/apply",
      body: { loanNo: "L1", amount: 100 },
      businessKey: "L1",
      n: 1,
      fault: undefined,
      processed: true,
      status: 200,
      outcome: "answered",
      error: undefined,
    });
    expect(recorded?.headers["x-signature"]).toBeTypeOf("string");
    expect(recorded?.finishedAt).toBeGreaterThanOrEqual(recorded?.at ?? Number.POSITIVE_INFINITY);
  });

  it("counts calls per business key, so tests can prove a loan was disbursed exactly once", async () => {
    mock = await startMockFunder({
      handler,
      codec: jsonCodec,
      businessKey: byField("loanNo"),
      endpoints: {
        "POST /loan/apply": { answer: accept() },
        "GET /loan/query": { answer: (call) => ({ body: { n: call.n, call: call.call } }) },
      },
    });
    await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1" } });
    await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L2" } });
    await callFunder(mock.url, "/loan/query", { method: "GET", query: { loanNo: "L1" } });
    const second = await callFunder(mock.url, "/loan/query", {
      method: "GET",
      query: { loanNo: "L1" },
    });
    const other = await callFunder(mock.url, "/loan/query", {
      method: "GET",
      query: { loanNo: "L2" },
    });
    expect(second).toMatchObject({ body: { n: 2, call: 2 } });
    expect(other).toMatchObject({ body: { n: 1, call: 3 } });
    expect(mock.countBy("L1", { path: "/loan/apply" })).toBe(1);
    expect(mock.countBy("L1")).toBe(3);
    expect(mock.countsByBusinessKey({ endpoint: "POST /loan/apply" })).toEqual(
      new Map([
        ["L1", 1],
        ["L2", 1],
      ]),
    );
    expect(mock.requests({ method: "GET" }).map((call) => call.businessKey)).toEqual([
      "L1",
      "L1",
      "L2",
    ]);
  });

  it("turns away a request signed with another key, unprocessed", async () => {
    let ran = false;
    mock = await startMockFunder({
      handler,
      codec: jsonCodec,
      endpoints: {
        "POST /loan/apply": {
          answer: () => {
            ran = true;
            return { body: {} };
          },
        },
      },
    });
    const result = await callFunder(mock.url, "/loan/apply", { handler: hmacHandler("wrong key") });
    expect(result).toMatchObject({ kind: "notOpened", status: 400 });
    expect(ran).toBe(false);
    expect(mock.requests()[0]).toMatchObject({
      processed: false,
      status: 400,
      error: expect.stringContaining("CRYPTO_VERIFY_FAILED"),
    });
  });

  it("answers 404 to an unknown endpoint and records it", async () => {
    mock = await startMockFunder({ handler, codec: jsonCodec, endpoints: {} });
    const result = await callFunder(mock.url, "/nowhere");
    expect(result).toMatchObject({ status: 404 });
    expect(mock.requests()[0]).toMatchObject({
      endpoint: undefined,
      path: "/nowhere",
      status: 404,
      processed: false,
    });
  });

  it("answers 500 with the reason when a script throws", async () => {
    mock = await startMockFunder({
      handler,
      codec: jsonCodec,
      endpoints: {
        "POST /loan/apply": {
          answer: () => {
            throw new Error("script bug");
          },
        },
      },
    });
    const result = await callFunder(mock.url, "/loan/apply");
    expect(result).toMatchObject({ status: 500 });
    expect(mock.requests()[0]).toMatchObject({ processed: false, error: "script bug" });
  });

  it("counts calls in flight, per endpoint and overall, and the most at once", async () => {
    // The funder holds every call until the test opens the gate, so all of them overlap.
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const heldAtTheGate = async () => {
      await gate;
      return { body: {} };
    };
    mock = await startMockFunder({
      handler,
      codec: jsonCodec,
      endpoints: {
        "POST /loan/apply": { answer: heldAtTheGate },
        "POST /loan/query": { answer: heldAtTheGate },
      },
    });
    const url = mock.url;
    const calls = [
      ...Array.from({ length: 5 }, () => callFunder(url, "/loan/apply")),
      ...Array.from({ length: 2 }, () => callFunder(url, "/loan/query")),
    ];
    await expect.poll(() => mock?.inFlight()).toBe(7);
    expect(mock.inFlight("POST /loan/apply")).toBe(5);
    openGate();
    await Promise.all(calls);
    expect(mock.inFlight()).toBe(0);
    expect(mock.maxInFlight("POST /loan/apply")).toBe(5);
    expect(mock.maxInFlight("POST /loan/query")).toBe(2);
    expect(mock.maxInFlight()).toBe(7);
  });

  it("reset forgets calls, call numbers and injected faults", async () => {
    mock = await startMockFunder({
      handler,
      codec: jsonCodec,
      endpoints: { "POST /loan/apply": { answer: (call) => ({ body: { n: call.n } }) } },
    });
    mock.injectFault("POST /loan/apply", { fault: { kind: "httpError", status: 502 } });
    expect(await callFunder(mock.url, "/loan/apply")).toMatchObject({ status: 502 });
    await mock.reset();
    expect(mock.requests()).toEqual([]);
    expect(mock.maxInFlight()).toBe(0);
    expect(await callFunder(mock.url, "/loan/apply")).toMatchObject({
      status: 200,
      body: { n: 1 },
    });
    expect(mock.requests()[0]?.seq).toBe(1);
  });

  it("rejects endpoints that are not '<METHOD> /path'", () => {
    expect(() =>
      createMockFunder({
        handler,
        codec: jsonCodec,
        endpoints: { "/loan/apply": { answer: accept() } },
      }),
    ).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
    mock = createMockFunder({ handler, codec: jsonCodec, endpoints: {} });
    expect(() => mock?.injectFault("POST /nowhere", { fault: { kind: "httpError" } })).toThrow(
      /no endpoint/,
    );
  });
});
