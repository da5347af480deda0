import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { accept, startMockFunder } from "../src/index.ts";
import { startCallbackReceiver } from "./support/callback-receiver.ts";
import { callFunder, funderSecret } from "./support/engine-client.ts";
import { hmacHandler } from "./support/hmac-handler.ts";
import { jsonCodec } from "./support/json-codec.ts";

/** Sockets, servers and timers alive in this process, by kind. */
function openResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (/TCP|Timeout|Immediate/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

describe("mock funder lifecycle", () => {
  it("close leaves nothing behind: held connections, calls in progress, pending callbacks and timers", async () => {
    const engine = await startCallbackReceiver(() => "fail");
    const before = openResources();
    const mock = await startMockFunder({
      handler: hmacHandler(funderSecret),
      codec: jsonCodec,
      callbacks: { url: engine.url, attempts: 100, intervalMs: 20 },
      endpoints: {
        "POST /held": {
          answer: { body: {}, callbacks: [{ body: { late: true }, delayMs: 60_000 }] },
          faults: [{ fault: { kind: "timeoutAfterProcessing" } }],
        },
        "POST /slow": { answer: accept(), latencyMs: 60_000 },
      },
    });
    const held = callFunder(mock.url, "/held", { timeoutMs: 60_000 });
    const slow = callFunder(mock.url, "/slow", { timeoutMs: 60_000 });
    const retrying = mock.sendCallback({ name: "retried", body: {} });
    await expect.poll(() => mock.requests({ processed: true }).length).toBe(1);
    await expect.poll(() => mock.inFlight()).toBe(2);
    await expect
      .poll(() => mock.callbacks({ name: "retried" })[0]?.attempts.length ?? 0)
      .toBeGreaterThan(1);

    await mock.close();
    expect(await held).toMatchObject({ kind: "connectionLost" });
    expect(await slow).toMatchObject({ kind: "connectionLost" });
    expect((await retrying).state).toBe("cancelled");
    expect(mock.callbacks().map((delivery) => delivery.state)).toEqual(["cancelled", "cancelled"]);
    expect(mock.inFlight()).toBe(0);
    await nextTurn();
    // The peers' ends (test client, fake engine) close when they see the reset: give them a moment.
    const leftOpen = () =>
      Object.entries(openResources())
        .filter(([kind, count]) => count > (before[kind] ?? 0))
        .map(([kind]) => kind);
    await expect.poll(leftOpen, { timeout: 1_000 }).toEqual([]);
    await engine.close();
  });

  it("can start again after close, on a new port", async () => {
    const mock = await startMockFunder({
      handler: hmacHandler(funderSecret),
      codec: jsonCodec,
      endpoints: { "POST /loan/apply": { answer: accept() } },
    });
    const first = mock.url;
    await mock.close();
    await mock.close();
    expect(() => mock.url).toThrow();
    const second = await mock.start();
    expect(await callFunder(second, "/loan/apply")).toMatchObject({ status: 200 });
    expect(mock.requests()).toHaveLength(1);
    expect(first).not.toBe("");
    await mock.close();
  });

  it("reset cancels pending callbacks", async () => {
    const engine = await startCallbackReceiver();
    const mock = await startMockFunder({
      handler: hmacHandler(funderSecret),
      codec: jsonCodec,
      callbacks: { url: engine.url },
      endpoints: {},
    });
    const pending = mock.sendCallback({ body: {}, delayMs: 60_000 });
    await mock.reset();
    expect((await pending).state).toBe("cancelled");
    expect(mock.callbacks()).toEqual([]);
    expect(engine.received).toEqual([]);
    await mock.close();
    await engine.close();
  });
});
