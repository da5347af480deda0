import {
  type Engine,
  type InstanceRecord,
  isCapflowError,
  type ProductDefinition,
  type QuotaKey,
} from "@capflow/core";
import type { CapflowDatabase } from "@capflow/store-knex";
import type { CallbackServer } from "./callback-server.ts";
import type { DemoClock, DemoTransport } from "./demo-clock.ts";
import type { FunderBook } from "./mock-funders.ts";

/** Products the demo starts business through, after the channel-by-channel run. */
export interface RoutingDemo {
  /** The products, served by the demo's funders (e.g. `examples/products`). */
  readonly products: readonly ProductDefinition[];
  /** The business started through them, in this order. */
  readonly starts: readonly RoutedStart[];
}

export interface RoutedStart {
  readonly product: string;
  readonly key: string;
  readonly input: Record<string, unknown>;
  /** Funders that decline this business at its apply; the others approve it. */
  readonly declinedBy?: readonly string[];
}

/**
 * Fund routing on the same database and funders: business started through products (one served
 * by three funders, by weight, eligibility and a daily quota; one whose declined applications
 * fail over to the other funder), run to the end, then summed up: where each went and by which
 * rule, how full each quota is, the failovers. A quota over its limit, a failover that did not
 * happen or a business that did not end approved is a problem.
 */
export async function runRoutingEpilogue(parts: {
  db: CapflowDatabase;
  engine: Engine;
  clock: DemoClock;
  transport: DemoTransport;
  callbackServer: CallbackServer;
  books: ReadonlyMap<string, FunderBook>;
  routing: RoutingDemo;
  /** Stop waiting at this `performance.now()` (the demo's `timeoutMs`), reporting what runs. */
  deadline?: number;
}): Promise<{ text: string; problems: string[] }> {
  const { db, engine, routing } = parts;
  const problems: string[] = [];
  const startedAt = performance.now();
  for (const start of routing.starts) {
    const product = routing.products.find((candidate) => candidate.code === start.product);
    for (const channel of start.declinedBy ?? []) {
      const entry = product?.channels.find((candidate) => candidate.channel === channel);
      parts.books.get(channel)?.add({
        key: start.key,
        channel,
        behavior: entry?.behavior ?? "",
        kind: "declined at apply",
        plan: {
          decision: "decline",
          refuseAtApply: true,
          processingPolls: 0,
          notify: false,
          progressNotice: false,
          nothingDue: false,
        },
        input: start.input,
        aliases: [],
        expected: "failed",
      });
    }
  }

  let refused = 0;
  for (const start of routing.starts) {
    try {
      await engine.start({ product: start.product, businessKey: start.key, input: start.input });
    } catch (error) {
      if (!isCapflowError(error, "ROUTING_NO_CHANNEL")) throw error;
      refused++;
    }
  }
  if (!(await runUntilSettled(parts))) {
    problems.push("routing: stopped waiting with routed business still running (timeoutMs)");
  }

  const lines = [
    "",
    `Fund routing: ${routing.starts.length} business records through ${routing.products.length} products, settled in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`,
  ];
  for (const product of routing.products) {
    const instances = await db.instances.listInstances({ product: product.code });
    const starts = routing.starts.filter((start) => start.product === product.code);
    if (starts.length === 0) continue;
    const first = instances.filter((instance) => instance.failoverOf === null);
    const byChannel = product.channels.map(
      ({ channel, weight }) =>
        `${channel} ${first.filter((instance) => instance.channel === channel).length} (weight ${weight})`,
    );
    const rules = countBy(first, (instance) => instance.routing?.rule ?? "none");
    lines.push(
      `  ${product.code.padEnd(16)}  ${starts.length} started: ${byChannel.join(", ")}; chosen by ${Object.entries(
        rules,
      )
        .map(([rule, n]) => `${rule} ${n}`)
        .join(", ")}`,
    );
    for (const quota of await quotaLines(db, first))
      lines.push(`  ${"".padEnd(16)}  ${quota.text}`);
    problems.push(...(await quotaProblems(db, first)));

    for (const next of instances.filter((instance) => instance.failoverOf !== null)) {
      const from = instances.find((instance) => instance.id === next.failoverOf);
      lines.push(
        `  ${"".padEnd(16)}  failover: ${next.businessKey} ${from?.channel ?? "?"} ${from?.step ?? "?"} → ${next.channel} ${next.step} (${next.status})`,
      );
    }
    // Each business ends approved: on its first funder, or on the one it failed over to.
    for (const start of starts) {
      const tries = instances.filter((instance) => instance.businessKey === start.key);
      const last = tries.find(
        (instance) => !tries.some((other) => other.failoverOf === instance.id),
      );
      if (last === undefined) continue;
      if (last.status !== "succeeded") {
        problems.push(
          `routing: ${product.code} ${start.key} ended ${last.status} on ${last.channel} at ${last.step}`,
        );
      }
      if ((start.declinedBy?.length ?? 0) > 0 && tries.length < 2) {
        problems.push(`routing: ${product.code} ${start.key} was declined but did not fail over`);
      }
    }
    const missing = starts.length - first.length;
    if (missing > refused) problems.push(`routing: ${missing} ${product.code} starts are missing`);
  }
  if (refused > 0) lines.push(`  ${refused} starts refused: no funder had room`);
  lines.push("");
  return { text: lines.join("\n"), problems };
}

/**
 * Runs the routed business to the end with the worker stopped: due instances run, and when none
 * is due and nothing is in flight, funder time moves to the next thing due (as the demo's main
 * loop does), so a busy machine makes it slower, never different. False when `deadline` passed.
 */
async function runUntilSettled(parts: {
  db: CapflowDatabase;
  engine: Engine;
  clock: DemoClock;
  transport: DemoTransport;
  callbackServer: CallbackServer;
  deadline?: number;
}): Promise<boolean> {
  const { db, engine, clock } = parts;
  let quietLooks = 0;
  for (;;) {
    if (parts.deadline !== undefined && performance.now() > parts.deadline) return false;
    if ((await engine.runDue({ limit: 32 })) > 0) {
      quietLooks = 0;
      continue;
    }
    if (parts.transport.inFlight > 0 || parts.callbackServer.inFlight > 0) {
      quietLooks = 0;
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    // Twice quiet, a moment apart: a callback on its way has had time to arrive.
    if (++quietLooks < 2) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      continue;
    }
    const due = (await db.knex.raw(
      `SELECT count(*)::int AS n, min(next_run_at) AS next FROM "${db.schema}".instances
       WHERE product IS NOT NULL AND status IN ('active', 'waiting')`,
    )) as { rows: { n: number; next: Date | string | null }[] };
    const row = due.rows[0];
    if (!row || Number(row.n) === 0) return true;
    const nextDue = row.next === null ? undefined : new Date(row.next).getTime();
    const next = Math.min(
      ...[nextDue, clock.nextWakeAt()].filter((at): at is number => at !== undefined),
    );
    // Parked (waiting for an operator, nothing due): the checks report it.
    if (!Number.isFinite(next)) return true;
    clock.skipTo(Math.max(next, clock.now() + 1));
    quietLooks = 0;
  }
}

interface QuotaLine {
  key: QuotaKey;
  text: string;
}

/** Each quota the product's starts took room in: used, of its limit. */
async function quotaLines(db: CapflowDatabase, instances: InstanceRecord[]): Promise<QuotaLine[]> {
  const limits = quotaLimits(instances);
  const usage = await db.instances.quotaUsage([...limits.values()].map(({ key }) => key));
  return usage.map((used) => {
    const limit = limits.get(`${used.scope} ${used.period}`)!;
    const amount = limit.limitAmount
      ? `${money(used.usedAmount)} of ${money(limit.limitAmount)}`
      : money(used.usedAmount);
    const count = limit.limitCount === null ? "" : ` of ${limit.limitCount}`;
    return {
      key: { scope: used.scope, period: used.period },
      text: `quota ${used.scope} ${used.period}: ${amount} used, ${used.usedCount}${count} starts (${used.consumedCount} consumed)`,
    };
  });
}

async function quotaProblems(db: CapflowDatabase, instances: InstanceRecord[]): Promise<string[]> {
  const limits = quotaLimits(instances);
  const usage = await db.instances.quotaUsage([...limits.values()].map(({ key }) => key));
  const problems: string[] = [];
  for (const used of usage) {
    const limit = limits.get(`${used.scope} ${used.period}`)!;
    if (limit.limitAmount !== null && cents(used.usedAmount) > cents(limit.limitAmount)) {
      problems.push(`routing: quota ${used.scope} ${used.period} exceeded: ${used.usedAmount}`);
    }
    if (limit.limitCount !== null && used.usedCount > limit.limitCount) {
      problems.push(`routing: quota ${used.scope} ${used.period} exceeded: ${used.usedCount}`);
    }
  }
  return problems;
}

function quotaLimits(instances: InstanceRecord[]) {
  const limits = new Map<
    string,
    { key: QuotaKey; limitAmount: string | null; limitCount: number | null }
  >();
  for (const instance of instances) {
    for (const quota of instance.routing?.quotas ?? []) {
      limits.set(`${quota.scope} ${quota.period}`, {
        key: { scope: quota.scope, period: quota.period },
        limitAmount: quota.limitAmount,
        limitCount: quota.limitCount,
      });
    }
  }
  return limits;
}

function countBy<T>(items: readonly T[], keyOf: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[keyOf(item)] = (counts[keyOf(item)] ?? 0) + 1;
  return counts;
}

/**
 * A decimal string in hundredths, exactly (BigInt): enough to compare the demo's amounts, which
 * have at most two decimals, without a decimal library in the demo kit.
 */
function money(amount: string): string {
  const value = cents(amount);
  return `${(value / 100n).toLocaleString("en-US")}.${String(value % 100n).padStart(2, "0")}`;
}

function cents(amount: string): bigint {
  const [whole = "0", fraction = ""] = amount.split(".");
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, "0").slice(0, 2));
}
