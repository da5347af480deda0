import { afterEach, describe, expect, it } from "vitest";
import {
  byField,
  type CallbackOptions,
  type FaultRule,
  type MockFunder,
  processing,
  startMockFunder,
  withCallbacks,
} from "../src/index.ts";
import { startCallbackReceiver } from "./support/callback-receiver.ts";
import { callFunder, funderSecret } from "./support/engine-client.ts";
import { hmacHandler } from "./support/hmac-handler.ts";
import { jsonCodec } from "./support/json-codec.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Receiver = Awaited<ReturnType<typeof startCallbackReceiver>>;

async function receiver(...args: Parameters<typeof startCallbackReceiver>): Promise<Receiver> {
  const started = await startCallbackReceiver(...args);
  cleanups.push(started.close);
  return started;
}

/**
 * A funder whose `POST /loan/apply` answers PROCESSING and notifies the engine twice: an
 * intermediate LENDING after 20 ms and the final SUCCESS after 60 ms.
 */
async function lendingFunder(
  callbackUrl: string,
  options: { faults?: FaultRule[]; callbacks?: Partial<CallbackOptions> } = {},
): Promise<MockFunder> {
  const mock = await startMockFunder({
    handler: hmacHandler(funderSecret),
    codec: jsonCodec,
    businessKey: byField("loanNo"),
    callbacks: { url: callbackUrl, attempts: 4, intervalMs: 30, ...options.callbacks },
    endpoints: {
      "POST /loan/apply": {
        answer: withCallbacks(processing(), (call) => [
          { name: "final", delayMs: 60, body: { loanNo: call.businessKey, status: "SUCCESS" } },
          {
            name: "intermediate",
            delayMs: 20,
            body: { loanNo: call.businessKey, status: "LENDING" },
          },
        ]),
        faults: options.faults ?? [],
      },
    },
  });
  cleanups.push(() => mock.close());
  return mock;
}

const statuses = (engine: Receiver) =>
  engine.received.map((callback) => (callback.body as { status: string }).status);

describe("callbacks", () => {
  it("are sealed, sent after their delay in order, and acknowledged", async () => {
    const engine = await receiver();
    const mock = await lendingFunder(engine.url);
    const answered = Date.now();
    expect(await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1" } })).toMatchObject({
      body: { status: "PROCESSING" },
    });
    await mock.callbacksSettled();
    expect(engine.received.map((callback) => callback.body)).toEqual([
      { loanNo: "L1", status: "LENDING" },
      { loanNo: "L1", status: "SUCCESS" },
    ]);
    expect(engine.received[0]?.path).toBe("/callbacks/demo");
    expect((engine.received[1]?.at ?? 0) - answered).toBeGreaterThanOrEqual(55);
    const [intermediate, final] = mock.callbacks();
    expect(intermediate).toMatchObject({
      name: "intermediate",
      state: "acknowledged",
      triggeredBy: 1,
      copy: 1,
      acknowledgement: { body: { code: "SUCCESS" } },
    });
    expect(intermediate?.attempts).toHaveLength(1);
    expect(final).toMatchObject({ name: "final", state: "acknowledged" });
    expect(mock.callbackCounts()).toEqual({
      scheduled: 2,
      attempts: 2,
      delivered: 2,
      acknowledged: 2,
      exhausted: 0,
    });
  });

  it("are retried until acknowledged, through failures and resets", async () => {
    const answers = ["fail", "reset", "acknowledge"] as const;
    const engine = await receiver((n) => answers[n - 1] ?? "acknowledge");
    const mock = await lendingFunder(engine.url);
    const delivery = await mock.sendCallback({
      name: "late",
      body: { loanNo: "L1", status: "SUCCESS" },
    });
    expect(delivery.state).toBe("acknowledged");
    expect(delivery.attempts.map((attempt) => [attempt.status, attempt.acknowledged])).toEqual([
      [500, false],
      [undefined, false],
      [200, true],
    ]);
    expect(delivery.attempts[1]?.error).toMatch(/ECONNRESET|socket hang up/);
    const [first, , third] = delivery.attempts;
    expect((third?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(55);
  });

  it("stop after the configured attempts when never acknowledged, waiting the listed intervals", async () => {
    const engine = await receiver(() => "fail");
    const mock = await lendingFunder(engine.url, {
      callbacks: { attempts: 3, intervalMs: [10, 250] },
    });
    const delivery = await mock.sendCallback({ body: { loanNo: "L1" } });
    expect(delivery.state).toBe("exhausted");
    expect(delivery.attempts).toHaveLength(3);
    const [first, second, third] = delivery.attempts.map((attempt) => attempt.at);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(245);
    expect((second ?? 0) - (first ?? 0)).toBeLessThan((third ?? 0) - (second ?? 0));
    expect(mock.callbackCounts()).toMatchObject({ delivered: 1, acknowledged: 0, exhausted: 1 });
  });

  it("count an acknowledgement the funder cannot verify as no acknowledgement", async () => {
    const engine = await receiver(() => "unsigned");
    const mock = await lendingFunder(engine.url, { callbacks: { attempts: 2, intervalMs: 5 } });
    const delivery = await mock.sendCallback({ body: { loanNo: "L1" } });
    expect(delivery.state).toBe("exhausted");
    expect(delivery.attempts[0]).toMatchObject({
      status: 200,
      acknowledged: false,
      error: expect.stringContaining("CRYPTO_VERIFY_FAILED"),
    });
  });

  it("accept a custom acknowledgement rule (a funder that only checks the status)", async () => {
    const engine = await receiver(() => "unsigned");
    const mock = await lendingFunder(engine.url, {
      callbacks: { isAcknowledged: (ack) => ack.status === 200 },
    });
    expect((await mock.sendCallback({ body: {} })).state).toBe("acknowledged");
  });

  it("are still sent when the answer to the call never comes (timeout after processing)", async () => {
    const engine = await receiver();
    const mock = await lendingFunder(engine.url, {
      faults: [{ fault: { kind: "timeoutAfterProcessing" } }],
    });
    const call = callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1" }, timeoutMs: 150 });
    await expect.poll(() => mock.requests()[0]?.processed).toBe(true);
    await mock.callbacksSettled();
    expect(statuses(engine)).toEqual(["LENDING", "SUCCESS"]);
    expect(await call).toEqual({ kind: "timedOut" });
  });

  it("are not sent for a call that was not processed", async () => {
    const engine = await receiver();
    const mock = await lendingFunder(engine.url, {
      faults: [{ fault: { kind: "resetBeforeProcessing" } }],
    });
    await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1" } });
    await mock.callbacksSettled();
    expect(mock.callbacks()).toEqual([]);
    expect(engine.received).toEqual([]);
  });

  it("fault duplicateCallbacks: every callback is delivered (and acknowledged) several times", async () => {
    const engine = await receiver();
    const mock = await lendingFunder(engine.url, {
      faults: [{ fault: { kind: "duplicateCallbacks", copies: 3 } }],
    });
    await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1" } });
    await mock.callbacksSettled();
    expect(statuses(engine)).toEqual([
      "LENDING",
      "LENDING",
      "LENDING",
      "SUCCESS",
      "SUCCESS",
      "SUCCESS",
    ]);
    expect(mock.callbacks({ name: "final" }).map((delivery) => delivery.copy)).toEqual([1, 2, 3]);
    expect(mock.callbackCounts().acknowledged).toBe(6);
  });

  it("fault outOfOrderCallbacks: the final notification arrives before the intermediate one", async () => {
    const engine = await receiver();
    const mock = await lendingFunder(engine.url, {
      faults: [{ fault: { kind: "outOfOrderCallbacks" } }],
    });
    await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1" } });
    await mock.callbacksSettled();
    expect(statuses(engine)).toEqual(["SUCCESS", "LENDING"]);
    expect(mock.requests()[0]?.fault).toBe("outOfOrderCallbacks");
  });

  it("fault callbackBeforeResponse: the engine hears the outcome before the answer to its call", async () => {
    const engine = await receiver();
    const mock = await lendingFunder(engine.url, {
      faults: [{ fault: { kind: "callbackBeforeResponse" } }],
    });
    const result = await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1" } });
    const answeredAt = Date.now();
    expect(result).toMatchObject({ kind: "answered", body: { status: "PROCESSING" } });
    expect(statuses(engine)).toEqual(["LENDING", "SUCCESS"]);
    expect(engine.received.every((callback) => callback.at <= answeredAt)).toBe(true);
  });

  it("need a callback URL, which can be set once the engine is listening", async () => {
    const mock = await startMockFunder({
      handler: hmacHandler(funderSecret),
      codec: jsonCodec,
      endpoints: {},
    });
    cleanups.push(() => mock.close());
    expect(() => mock.sendCallback({ body: {} })).toThrow(/setCallbackUrl/);
    const engine = await receiver();
    mock.setCallbackUrl(engine.url);
    expect((await mock.sendCallback({ body: { ok: true }, path: "/callbacks/other" })).state).toBe(
      "acknowledged",
    );
    expect(engine.received[0]?.path).toBe("/callbacks/other");
  });
});
