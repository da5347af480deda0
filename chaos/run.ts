/**
 * `pnpm chaos [--short] [--seed N] [--instances N] [--workers N]`: the process-level fault suite.
 *
 * Runs several `capflow worker` processes on PostgreSQL and Redis against two mock funders that
 * count every create per business number (one of them does not deduplicate), starts instances
 * with scripted outcomes and faults (hang, reset after processing, callbacks first, duplicate and
 * lost callbacks, duplicate starts), and meanwhile, at seeded random points, SIGKILLs workers
 * (restarting them), SIGSTOPs them past their lease, kills their Redis connections (`CLIENT KILL`)
 * and terminates their PostgreSQL backends (`pg_terminate_backend`). Servers are never restarted:
 * other work may share them. Then it lets the workers finish and checks the money rules:
 *
 * - no business number created twice at a funder;
 * - no instance lost (every start has its instance) or stuck (unsettled at the end);
 * - no backwards move (each instance's history is one unbroken chain of versions, a summary of
 *   refusals standing for the versions it counts, nothing after it settled);
 * - capflow's outcome equals the funder's (an instance parked for review only when the funder
 *   never received the order).
 *
 * Exits 1 on any violation. Needs DATABASE_URL and REDIS_URL. Workers use Redis database 11.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  callbackRequestListener,
  createEngine,
  type InstanceRecord,
  ProcessorRegistry,
  validateDefinitions,
} from "@capflow/core";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import { seededRandom } from "@capflow/testkit";
import { Redis } from "ioredis";
import { type ChaosChannel, chaosBehavior, chaosChannel, chaosChannels } from "./definitions.ts";
import { ChaosFunder, type Fault, type OrderPlan } from "./funder.ts";
import { WorkerProcess } from "./workers.ts";

interface ChaosOptions {
  short: boolean;
  seed: number;
  instances: number;
  workers: number;
}

function parseOptions(argv: readonly string[]): ChaosOptions {
  const value = (name: string) => {
    const at = argv.indexOf(name);
    if (at < 0) return undefined;
    const n = Number(argv[at + 1]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} takes a whole number`);
    return n;
  };
  const short = argv.includes("--short");
  return {
    short,
    seed: value("--seed") ?? 20_261_206,
    instances: value("--instances") ?? (short ? 300 : 1_000),
    workers: value("--workers") ?? (short ? 3 : 4),
  };
}

const faultWeights: [Fault, number][] = [
  ["none", 40],
  ["hang", 10],
  ["reset", 10],
  ["callbacksFirst", 15],
  ["duplicateCallbacks", 15],
  ["lostCallback", 10],
];

function pick<T>(random: () => number, weighted: readonly [T, number][]): T {
  const total = weighted.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [item, w] of weighted) {
    r -= w;
    if (r < 0) return item;
  }
  return weighted[weighted.length - 1]![0];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) {
    console.error("pnpm chaos needs DATABASE_URL=postgres://… and REDIS_URL=redis://…");
    return 2;
  }
  const random = seededRandom(options.seed);
  const runId = `${options.seed.toString(36)}${Date.now().toString(36)}`.slice(-10);
  const schema = `capflow_chaos_${runId}`;
  const applicationName = `capflow-chaos-${runId}`;
  const startWindowMs = options.short ? 25_000 : 90_000;
  const faultWindowMs = options.short ? 35_000 : 110_000;
  const drainDeadlineMs = options.short ? 60_000 : 120_000;
  const began = Date.now();
  console.log(
    `chaos: seed ${options.seed}, ${options.instances} instances, ${options.workers} workers, schema ${schema}`,
  );

  // The plan: every business number's funder, outcome and fault, drawn from the seed.
  const plans = new Map<string, OrderPlan>();
  for (let i = 0; i < options.instances; i++) {
    plans.set(`CH${runId}-${i}`, {
      channel: random() < 0.5 ? "chaos-once" : "chaos-dedupe",
      outcome: random() < 0.7 ? "SUCCESS" : "FAIL",
      fault: pick(random, faultWeights),
      answersAtOnce: random() < 0.5,
    });
  }

  const db = openPostgresStore({ connectionString: databaseUrl, schema });
  const admin = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const engine = createEngine({
    store: db.instances,
    definitions: db.definitions,
    processors: new ProcessorRegistry(),
  });
  const callbacks = createServer(callbackRequestListener(engine));
  await new Promise<void>((resolve) => callbacks.listen(0, "127.0.0.1", resolve));
  const callbackOrigin = `http://127.0.0.1:${(callbacks.address() as AddressInfo).port}`;
  const funder = new ChaosFunder(plans, callbackOrigin);
  const funderOrigin = await funder.start();
  const workers: WorkerProcess[] = [];
  // Never leave a worker behind, whatever ends this process.
  process.once("exit", () => {
    for (const worker of workers) void worker.kill();
  });
  const counts = { kills: 0, freezes: 0, redisKills: 0, pgTerminations: 0, duplicateStarts: 0 };
  try {
    await admin.connect();
    await db.migrate();
    const channels = chaosChannels.map((code) => chaosChannel(code, funderOrigin));
    const behaviors = chaosChannels.map((code) => chaosBehavior(code));
    const { problems } = validateDefinitions({
      channels: channels.map((definition) => ({ file: `${definition.code}.json`, definition })),
      behaviors: behaviors.map((definition) => ({
        file: `${definition.channel}.json`,
        definition,
      })),
    });
    if (problems.length > 0) throw new Error(`definitions: ${JSON.stringify(problems)}`);
    await pushDefinitions(db, { channels, behaviors });

    const workerDatabaseUrl = `${databaseUrl}${databaseUrl.includes("?") ? "&" : "?"}application_name=${applicationName}`;
    const workerRedis = new URL(redisUrl);
    workerRedis.pathname = "/11";
    for (let i = 0; i < options.workers; i++) {
      const worker = new WorkerProcess(`w${i + 1}`, {
        databaseUrl: workerDatabaseUrl,
        schema,
        redisUrl: workerRedis.toString(),
        lease: "3s",
        lockTtl: "2s",
        slots: 16,
        // The database may be shared: 4 connections suffice, partner calls hold none.
        pool: 4,
      });
      worker.start();
      workers.push(worker);
    }

    // Starts, spread over the start window, some business numbers started twice.
    const keys = [...plans.keys()];
    const starting = (async () => {
      const interval = startWindowMs / keys.length;
      const pending: Promise<unknown>[] = [];
      for (const [i, key] of keys.entries()) {
        const plan = plans.get(key)!;
        const start = () =>
          engine.start({
            channel: plan.channel,
            behavior: "loan",
            businessKey: key,
            input: { applyNo: key, amount: "1000.00" },
          });
        pending.push(start());
        if (random() < 0.1) {
          counts.duplicateStarts++;
          pending.push(sleep(random() * 2_000).then(start));
        }
        await sleep(Math.max(0, began + (i + 1) * interval - Date.now()));
      }
      await Promise.all(pending);
    })();

    // Faults at seeded random points.
    const restarts: Promise<unknown>[] = [];
    const faultsEnd = Date.now() + faultWindowMs;
    while (Date.now() < faultsEnd) {
      await sleep(400 + random() * 1_600);
      const action = pick(random, [
        ["kill", 30],
        ["freeze", 25],
        ["redis", 20],
        ["postgres", 25],
      ] as const);
      const worker = workers[Math.floor(random() * workers.length)]!;
      switch (action) {
        case "kill": {
          if (!worker.alive || worker.stopped) break;
          counts.kills++;
          const downMs = 300 + random() * 1_500;
          restarts.push(
            worker.kill().then(async () => {
              await sleep(downMs);
              worker.start();
            }),
          );
          break;
        }
        case "freeze": {
          if (!worker.alive || worker.stopped) break;
          counts.freezes++;
          worker.freeze();
          // Often past the 3 s lease and the 2 s lock: others take its instances meanwhile.
          const frozenMs = 1_000 + random() * 4_500;
          restarts.push(sleep(frozenMs).then(() => worker.thaw()));
          break;
        }
        case "redis":
          counts.redisKills += await killRedisClients(admin, 11);
          break;
        case "postgres":
          counts.pgTerminations += await terminateBackends(db.knex, applicationName);
          break;
      }
    }
    await Promise.all(restarts);
    for (const worker of workers) {
      if (worker.stopped) worker.thaw();
      if (!worker.alive) worker.start();
    }
    await starting;

    // Let the workers finish; nothing may stay unsettled.
    const deadline = Date.now() + drainDeadlineMs;
    let unsettled = Number.POSITIVE_INFINITY;
    while (Date.now() < deadline) {
      unsettled = await countUnsettled(db.knex);
      if (unsettled === 0) break;
      await sleep(500);
    }
    // A worker restarted by the last faults may still be booting, before its signal handlers
    // exist; the clean-stop check is about running workers, so let those finish starting.
    await sleep(5_000);
    const stopStarted = Date.now();
    const exitCodes = await Promise.all(workers.map((worker) => worker.terminate()));
    const stopMs = Date.now() - stopStarted;
    await funder.close();

    const violations = await checkMoneyRules(db.knex, plans, funder);
    // Exit code 1 only says the worker reported errors (the faults above); killed is unclean.
    for (const [i, code] of exitCodes.entries()) {
      if (code === null) {
        violations.push(`worker ${workers[i]!.name} did not exit by itself on SIGTERM`);
      }
    }
    const instances = (await db.knex.raw(
      "SELECT status, count(*)::int AS n FROM instances GROUP BY status ORDER BY status",
    )) as { rows: { status: string; n: number }[] };
    const resends = [...funder.applies.values()].filter((n) => n > 1).length;
    const summary = {
      seed: options.seed,
      instances: options.instances,
      workers: options.workers,
      ...Object.fromEntries(instances.rows.map((row) => [row.status, row.n])),
      "funder creates": [...funder.creates.values()].reduce((a, b) => a + b, 0),
      "numbers resent (same serial, deduplicated)": resends,
      "worker restarts after SIGKILL": counts.kills,
      "SIGSTOPs (1–5.5 s)": counts.freezes,
      "Redis clients killed": counts.redisKills,
      "PostgreSQL backends terminated": counts.pgTerminations,
      "duplicate starts": counts.duplicateStarts,
      "clean stop (s)": (stopMs / 1000).toFixed(1),
      "run (s)": ((Date.now() - began) / 1000).toFixed(0),
      violations: violations.length,
    };
    console.table(summary);
    if (violations.length > 0) {
      console.error(`chaos: ${violations.length} violations (seed ${options.seed}):`);
      for (const violation of violations.slice(0, 50)) console.error(`  ${violation}`);
      for (const worker of workers) {
        if (worker.errors.length > 0) {
          console.error(
            `  ${worker.name} stderr (last lines):\n    ${worker.errors.join("\n    ")}`,
          );
        }
      }
      return 1;
    }
    console.log("chaos: the money rules held");
    return 0;
  } finally {
    await Promise.allSettled(workers.map((worker) => worker.kill()));
    callbacks.closeAllConnections();
    callbacks.close();
    await engine.close().catch(() => {});
    await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await db.close();
    admin.disconnect();
  }
}

/** `CLIENT KILL` for every client connected to database `db` (only the workers use it). */
async function killRedisClients(admin: Redis, db: number): Promise<number> {
  const list = (await admin.call("CLIENT", "LIST")) as string;
  let killed = 0;
  for (const line of list.split("\n")) {
    const fields = Object.fromEntries(
      line
        .split(" ")
        .map((pair) => pair.split("="))
        .filter((pair) => pair.length === 2),
    );
    if (fields.db !== String(db) || !fields.id) continue;
    await admin.call("CLIENT", "KILL", "ID", fields.id).catch(() => {});
    killed++;
  }
  return killed;
}

/**
 * Terminates the workers' PostgreSQL backends (named by their application name; a group commit
 * in flight runs as `<name> commit <id>`, and is cut too).
 */
async function terminateBackends(
  knex: CapflowDatabase["knex"],
  applicationName: string,
): Promise<number> {
  const result = (await knex.raw(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
     WHERE application_name = ? OR application_name LIKE ?`,
    [applicationName, `${applicationName} commit %`],
  )) as { rows: { n: number }[] };
  return result.rows[0]?.n ?? 0;
}

async function countUnsettled(knex: CapflowDatabase["knex"]): Promise<number> {
  const result = (await knex.raw(
    "SELECT count(*)::int AS n FROM instances WHERE status IN ('active', 'waiting')",
  )) as { rows: { n: number }[] };
  return result.rows[0]?.n ?? 0;
}

interface LogRow {
  instance_id: string;
  version: number;
  to_status: string | null;
  refusals: { count: number } | null;
}

async function checkMoneyRules(
  knex: CapflowDatabase["knex"],
  plans: Map<string, OrderPlan>,
  funder: ChaosFunder,
): Promise<string[]> {
  const violations: string[] = [];
  for (const [key, creates] of funder.creates) {
    if (creates > 1) violations.push(`${key}: created ${creates} times at the funder`);
  }
  const instances = (
    (await knex.raw(
      `SELECT id, channel, business_key AS "businessKey", status, step, version, attempt,
         extract(epoch FROM next_run_at - now())::int AS "dueInS",
         extract(epoch FROM lease_until - now())::int AS "leaseLeftS",
         last_error->>'code' AS "lastError",
         -- Refusals counted since the last history entry: the stored run is the row's while its
         -- version is the row's (see store-knex's rows.ts).
         CASE WHEN (refusals->>'version')::int = version THEN (refusals->>'count')::int ELSE 0 END
           AS "heldRefusals"
       FROM instances`,
    )) as {
      rows: (Pick<InstanceRecord, "id" | "businessKey" | "status" | "step" | "version"> & {
        channel: ChaosChannel;
        attempt: number;
        dueInS: number | null;
        leaseLeftS: number | null;
        lastError: string | null;
        heldRefusals: number;
      })[];
    }
  ).rows;
  const byKey = new Map<string, typeof instances>();
  for (const instance of instances) {
    byKey.set(instance.businessKey, [...(byKey.get(instance.businessKey) ?? []), instance]);
  }
  for (const [key, plan] of plans) {
    const found = byKey.get(key) ?? [];
    if (found.length === 0) {
      violations.push(`${key}: started, but no instance (lost)`);
      continue;
    }
    if (found.length > 1) violations.push(`${key}: ${found.length} instances for one business`);
    const instance = found[0]!;
    if (instance.channel !== plan.channel) violations.push(`${key}: on ${instance.channel}`);
    const order = funder.orders.get(key);
    switch (instance.status) {
      case "active":
      case "waiting":
        // Whether it was slow or truly stuck: when it is due, whose lease holds it, its last error.
        violations.push(
          `${key}: stuck ${instance.status} at ${instance.step} (attempt ${instance.attempt}, due in ${instance.dueInS ?? "never"} s, lease ${instance.leaseLeftS ?? "none"} s, last error ${instance.lastError ?? "none"})`,
        );
        break;
      case "succeeded":
        if (order !== "SUCCESS") violations.push(`${key}: succeeded, the funder says ${order}`);
        break;
      case "failed":
        if (order !== "FAIL") violations.push(`${key}: failed, the funder says ${order}`);
        break;
      case "manual":
        // Parked for review is right only when the funder never received the order (a worker
        // killed between its intent and its send): nothing may be guessed then.
        if (order !== undefined) {
          violations.push(`${key}: parked for review, yet the funder has it (${order})`);
        }
        break;
      default:
        violations.push(`${key}: ${instance.status}`);
    }
  }
  // Every history is one unbroken chain of versions, nothing after it settled. A summary of
  // refusals stands for as many versions as it counts (each refusal was a commit of its own).
  const logs = (
    (await knex.raw(
      "SELECT instance_id, version, to_status, refusals FROM step_logs ORDER BY instance_id, version",
    )) as { rows: LogRow[] }
  ).rows;
  const settled = new Set(["succeeded", "failed", "manual", "cancelled"]);
  const byInstance = new Map<string, LogRow[]>();
  for (const row of logs) {
    byInstance.set(row.instance_id, [...(byInstance.get(row.instance_id) ?? []), row]);
  }
  for (const instance of instances) {
    const history = byInstance.get(instance.id) ?? [];
    let previous: number | undefined;
    let settledAt: number | undefined;
    for (const row of history) {
      const expected = previous === undefined ? row.version : previous + (row.refusals?.count ?? 1);
      previous = row.version;
      if (row.version !== expected) {
        violations.push(`${instance.businessKey}: history jumps to version ${row.version}`);
        break;
      }
      if (settledAt !== undefined) {
        violations.push(
          `${instance.businessKey}: moved after it settled (version ${row.version} after ${settledAt})`,
        );
        break;
      }
      if (row.to_status && settled.has(row.to_status)) settledAt = row.version;
    }
    const last = history[history.length - 1];
    if (last !== undefined && last.version + instance.heldRefusals !== instance.version) {
      violations.push(`${instance.businessKey}: history ends before the instance's version`);
    }
  }
  return violations;
}

// Exits even if a funder notification or a keep-alive socket is still open.
process.exit(await main());
