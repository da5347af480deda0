import { randomUUID } from "node:crypto";
import { FlowControl } from "@capflow/core";
import { flowRequestFor } from "@capflow/core/internal";
import type { ConsoleServer } from "./console-server.ts";

/** Lan Bank's calls of the last hour, by interface (milliseconds), as other nodes made them. */
export const latencySamples = {
  "credit.apply": [120, 180, 240, 260, 310, 350, 420, 480, 900, 1_600],
  "credit.query": [40, 60, 80],
};

/**
 * What the overview's partner table shows on a cluster: the last hour's calls in the step logs
 * (written as the store's commit writes them, for an instance of their own so no timeline
 * changes), credit.query's breaker held open by a second node after two failures, and
 * credit.apply's concurrency (8) taken whole by calls in flight.
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
  const apply = { ...flowRequestFor(definition, "credit.apply"), permitTtlMs: 20 * 60_000 };
  for (let i = 0; i < 8; i++) {
    if (!(await worker2.enter({ ...apply, bulkhead: 100 })).admitted) {
      throw new Error("credit.apply's limit should have room for 8 calls");
    }
  }
}
