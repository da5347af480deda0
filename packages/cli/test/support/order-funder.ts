import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import type { CalendarDefinition } from "@capflow/core";
import { digestOf } from "@capflow/core/internal";
import type { CapflowDatabase } from "../../../store-knex/src/index.ts";
import { KnexStartQueueStore } from "../../../store-knex/src/index.ts";

const day = 24 * 60 * 60 * 1000;

/** A funder (time zone UTC, unreachable) with one idempotent `order.apply` interface. */
export function orderChannel(code: string, name: string, calendar: CalendarDefinition) {
  return {
    code,
    name,
    baseUrl: "http://127.0.0.1:9",
    timeZone: "UTC",
    crypto: { handler: "plain" },
    interfaces: {
      "order.apply": { method: "POST", path: "/order/apply", timeout: "1s", idempotent: true },
    },
    statusTable: { code: "body.status", codes: { OK: { outcome: "succeeded" } } },
    calendar,
  };
}

/** Its `apply` behavior: one call sending `body`, then succeeded or failed. */
export function orderBehavior(
  channel: string,
  body: Record<string, string> = { orderNo: "{{input.orderNo}}" },
) {
  return {
    channel,
    code: "apply",
    version: 1,
    initial: "send",
    steps: {
      send: {
        kind: "call",
        interface: "order.apply",
        request: { format: "json", body },
        routes: [{ when: "outcome == 'succeeded'", to: "done" }],
        otherwise: "failed",
      },
      done: { kind: "terminal", outcome: "succeeded" },
      failed: { kind: "terminal", outcome: "failed" },
    },
  };
}

/**
 * The queue of the channel's `apply` starts: its `--queues` file (written to `file`: 10 a second,
 * 7 days to live), its store, and a start queued as the intake would, at `enqueuedAt`.
 */
export async function orderQueue(db: CapflowDatabase, channel: string, file: string) {
  await writeFile(
    file,
    JSON.stringify({ queues: [{ channel, behavior: "apply", ratePerSecond: 10, ttl: "7d" }] }),
  );
  const store = new KnexStartQueueStore(db);
  const queue = (businessKey: string, enqueuedAt: number) =>
    store.enqueue({
      id: randomUUID(),
      channel,
      behavior: "apply",
      businessKey,
      input: { orderNo: businessKey },
      inputDigest: digestOf({ orderNo: businessKey }),
      enqueuedAt,
      expiresAt: enqueuedAt + 7 * day,
    });
  return { store, queue };
}
