import { setMaxListeners } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { expect, test } from "vitest";
import { FlowControl, InProcessLimiter } from "../../../src/index.ts";

/**
 * A slow channel must not starve a fast one in the same worker. A worker is modelled as a fixed
 * number of slots, each running one step at a time, as the engine's worker does; a refused step is
 * delayed and the slot moves on to other work.
 *
 * The three workers compared (fast channel alone, next to a slow channel within bulkheads, next to
 * a slow channel that may take every slot) run at the same time against the same partner, so CPU
 * contention from anything else on the machine affects them alike.
 */
const workerSlots = 16;
const fastBulkhead = 8;
const measureMs = 2_500;

/**
 * The partner, answering after 50 ms (fast channel) or 5 s (slow channel). A timer rather than an
 * HTTP server: what is measured is how flow control shares the worker's slots, and a timer keeps
 * the measurement bounded by latency and bulkheads, not by the CPU left over on a busy machine.
 */
async function callPartner(channel: "fast" | "slow", signal: AbortSignal): Promise<void> {
  await delay(channel === "slow" ? 5_000 : 50, undefined, { signal });
}

/** One simulated worker; resolves with the fast channel's completed calls per second. */
async function fastThroughput(
  stop: AbortSignal,
  options: { withSlowChannel: boolean; slowBulkhead: number },
): Promise<number> {
  const flow = new FlowControl({ limiter: new InProcessLimiter(), bulkheadRetryAfterMs: 100 });
  const started = Date.now();
  let fastDone = 0;
  let slowDueAt = 0;

  async function call(channel: "fast" | "slow", bulkhead: number): Promise<number | undefined> {
    const entry = await flow.enter({ channel, interface: "x", limits: {}, bulkhead });
    if (!entry.admitted) return entry.retryAfterMs;
    try {
      await callPartner(channel, stop);
      await entry.ticket.complete("success");
      if (channel === "fast" && !stop.aborted) fastDone++;
    } catch {
      await entry.ticket.complete("not-sent");
    }
    return undefined;
  }

  async function slot(index: number): Promise<void> {
    let turn = index;
    while (!stop.aborted) {
      turn++;
      if (options.withSlowChannel && turn % 2 === 0 && Date.now() >= slowDueAt) {
        const retryAfter = await call("slow", options.slowBulkhead);
        // The refused step is delayed; the slot takes other work at once.
        if (retryAfter !== undefined) slowDueAt = Date.now() + retryAfter;
        continue;
      }
      const retryAfter = await call("fast", fastBulkhead);
      if (retryAfter !== undefined) await delay(Math.min(retryAfter, 10));
    }
  }

  const slots = Array.from({ length: workerSlots }, (_, i) => slot(i));
  await new Promise((resolve) => stop.addEventListener("abort", resolve, { once: true }));
  const rate = (fastDone / (Date.now() - started)) * 1_000;
  await Promise.all(slots);
  return rate;
}

test("a slow channel does not reduce another channel's throughput by more than 10%", async () => {
  const stop = new AbortController();
  // Every slot of the three workers waits on this one signal: many listeners by design.
  setMaxListeners(3 * workerSlots + 8, stop.signal);
  const measured = Promise.all([
    fastThroughput(stop.signal, { withSlowChannel: false, slowBulkhead: 8 }),
    fastThroughput(stop.signal, { withSlowChannel: true, slowBulkhead: 8 }),
    // Control: when the slow channel may take every slot, the fast one starves.
    fastThroughput(stop.signal, { withSlowChannel: true, slowBulkhead: workerSlots }),
  ]);
  await delay(measureMs);
  stop.abort();
  const [alone, nextToSlow, unbounded] = await measured;
  console.log(
    `fast channel calls/s: alone ${alone.toFixed(0)}, next to a slow channel ${nextToSlow.toFixed(0)}, slow channel unbounded ${unbounded.toFixed(0)}`,
  );
  expect(alone).toBeGreaterThan(50); // 8 in flight × 20/s = 160/s at most
  expect(nextToSlow).toBeGreaterThanOrEqual(alone * 0.9);
  expect(unbounded).toBeLessThan(alone * 0.5);
});
