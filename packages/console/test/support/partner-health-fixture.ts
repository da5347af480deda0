import { randomUUID } from "node:crypto";
import { FlowControl } from "@capflow/core";
import { flowRequestFor } from "@capflow/core/internal";
import { pushDefinitions } from "@capflow/store-knex";
import type { ConsoleServer } from "./console-server.ts";

/** Lan Bank's calls of the last hour, by interface (milliseconds), as other nodes made them. */
export const latencySamples = {
  "credit.apply": [120, 180, 240, 260, 310, 350, 420, 480, 900, 1_600],
  "credit.query": [40, 60, 80],
};

/**
 * Lan Bank's merchant accounts and their own limits, and the calls each has in flight or in its
 * window (through credit.query, which has no limits of its own): shop-a full, shop-b two fifths
 * of its rate, shop-c idle; shop-d has no limits of its own, so no row.
 */
export const accountLimits = {
  "shop-a": { concurrency: 2, calls: 2 },
  "shop-b": { rate: { limit: 5, per: "1h" }, calls: 2 },
  "shop-c": { concurrency: 4, calls: 0 },
  "shop-d": { calls: 0 },
} as const;

/**
 * What the overview's partner table shows on a cluster: the last hour's calls in the step logs
 * (written as the store's commit writes them, for an instance of their own so no timeline
 * changes), credit.query's breaker held open by a second node after two failures, and
 * credit.apply's concurrency (8) taken whole by calls in flight; Lan Bank's accounts as
 * `accountLimits` says.
 */
export async function seedPartnerHealth(server: ConsoleServer): Promise<void> {
  const stepLogs = `"${server.db.schema}"."step_logs"`;
  let version = 0;
  for (const [name, durations] of Object.entries(latencySamples)) {
    for (const durationMs of durations) {
      await server.db.knex.raw(
        `INSERT INTO ${stepLogs} (id, instance_id, version, step, attempt, event, started_at,
           duration_ms, channel, interface)
         VALUES (?, 'latency-samples', ?, 'apply', 1, 'call', now() - interval '10 minutes', ?,
           'lanbank', ?)`,
        [randomUUID(), ++version, durationMs, name],
      );
    }
  }
  const stored = (await server.db.definitions.getChannel("lanbank"))!.definition;
  const accounts = Object.fromEntries(
    Object.entries(accountLimits).map(([code, { calls: _calls, ...limits }]) => [code, limits]),
  );
  await pushDefinitions(server.db, { channels: [{ ...stored, accounts }] });
  // Channels are cached until the definitions' revision moves: read it now, not in a few seconds.
  await server.db.definitions.revision();
  const definition = (await server.db.definitions.getChannel("lanbank"))!.definition;
  const worker2 = new FlowControl({
    limiter: server.flow.limiter,
    breakerBoard: server.flow.breakers,
    node: "worker-2",
  });
  const query = {
    ...flowRequestFor(definition, "credit.query"),
    breaker: { minimumCalls: 2, sampleSize: 2, cooldownMs: 20 * 60_000 },
  };
  for (let i = 0; i < 2; i++) {
    const entry = await worker2.enter(query);
    if (entry.admitted) await entry.ticket.complete("failure");
  }
  const worker3 = new FlowControl({ limiter: server.flow.limiter, node: "worker-3" });
  for (const [code, { calls }] of Object.entries(accountLimits)) {
    const request = {
      ...flowRequestFor(definition, "credit.query", code),
      permitTtlMs: 20 * 60_000,
    };
    for (let i = 0; i < calls; i++) {
      if (!(await worker3.enter(request)).admitted) {
        throw new Error(`account ${code}'s limits should have room for ${calls} calls`);
      }
    }
  }
  const apply = { ...flowRequestFor(definition, "credit.apply"), permitTtlMs: 20 * 60_000 };
  for (let i = 0; i < 8; i++) {
    if (!(await worker2.enter({ ...apply, bulkhead: 100 })).admitted) {
      throw new Error("credit.apply's limit should have room for 8 calls");
    }
  }
}
