import {
  createEngine,
  type Engine,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { loadExampleDefinitions } from "@capflow/example-demo";
import { lanbankFunder } from "@capflow/example-lanbank";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import { createServer, issueOperatorToken } from "@capflow/server";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import { Bench } from "tinybench";

/**
 * `pnpm bench console`: the console's reads over HTTP with 1,000,000 instances in PostgreSQL
 * (generated in SQL with generate_series: 3 channels x 3 behaviors, 60 days of history, most
 * settled, ~3% unsettled, some parked and in manual review) and a step log entry of a partner call
 * per instance plus a busy last hour of 20,000 calls (the overview's latency percentiles), next to a
 * primary-key lookup in the same run. With REDIS_URL the overview also reads every interface's
 * limiter and the breaker board from Redis, as `capflow serve` does. Target: each read answers in under 300 ms (mean and p99 are printed with the tasks).
 * CONSOLE_BENCH_ROWS changes the count; CONSOLE_BENCH_KEEP=1 keeps the schema for the next run.
 *
 * Needs DATABASE_URL; without it the file measures nothing and says so.
 */
const databaseUrl = process.env.DATABASE_URL;
const rows = Number(process.env.CONSOLE_BENCH_ROWS ?? 1_000_000);
const schema = "capflow_bench_console";
const keep = process.env.CONSOLE_BENCH_KEEP === "1";

const reference = "reference: one instance by primary key (SQL)";
const tasks = {
  overview: "GET /v1/ops/overview",
  businessKey: "GET /v1/ops/instances?businessKey=…",
  waiting: "GET /v1/ops/instances?status=waiting (first page)",
  deepPage: "GET /v1/ops/instances?channel&behavior&cursor (page deep in the middle)",
  idle: "GET /v1/ops/instances?status=active,waiting&idleFor=1h",
  parked: "GET /v1/ops/attention/parked",
};

export const comparisons = databaseUrl
  ? Object.values(tasks).map((measured) => ({ measured, baseline: reference }))
  : [];

let cleanup: (() => Promise<void>) | undefined;

export async function teardown(): Promise<void> {
  await cleanup?.();
}

let measured: Bench | undefined;

export function report(): string[] {
  if (!databaseUrl) return ["console bench skipped: set DATABASE_URL to measure it"];
  const latency = (name: string) => {
    const result = measured?.tasks.find((task) => task.name === name)?.result as
      | { latency?: { mean: number; p99: number } }
      | undefined;
    return result?.latency;
  };
  return Object.values(tasks).map((name) => {
    const l = latency(name);
    if (!l) return `${name}: not measured`;
    const verdict = l.p99 < 300 ? "under 300 ms" : "OVER 300 ms";
    return `${name}: mean ${l.mean.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms (${verdict}) at ${rows.toLocaleString("en")} instances`;
  });
}

const channels = ["lanbank", "meadow", "jade"];
const behaviors = ["credit", "loan", "repay"];

/** Fills the schema's instances table in one statement per 250,000 rows. */
async function generate(db: CapflowDatabase): Promise<void> {
  const table = `"${schema}"."instances"`;
  const now = Date.now();
  for (let from = 1; from <= rows; from += 250_000) {
    const to = Math.min(rows, from + 250_000 - 1);
    await db.knex.raw(
      `INSERT INTO ${table} (id, channel, behavior, behavior_version, business_key, input,
         input_digest, step, status, context, snapshot, version, attempt, last_error, next_run_at,
         created_at, updated_at)
       SELECT 'i' || lpad(n::text, 9, '0'),
         (ARRAY['lanbank','meadow','jade'])[1 + n % 3],
         (ARRAY['credit','loan','repay'])[1 + (n / 3) % 3],
         1,
         'BK' || lpad(n::text, 9, '0'),
         '{}'::jsonb, 'd', s.step, s.status, '{}'::jsonb, '{}'::jsonb, 3, 0,
         CASE WHEN s.parked THEN '{"code":"ROUTE_NOT_FOUND","message":"no route"}'::jsonb END,
         CASE WHEN s.status IN ('active','waiting') AND NOT s.parked
              THEN created + interval '15 minutes' END,
         created, created + interval '7 minutes'
       FROM generate_series(?::int, ?::int) AS n,
         LATERAL (SELECT to_timestamp(? / 1000.0) - (n::float / ? * interval '60 days') AS created) c,
         LATERAL (SELECT
           CASE WHEN n % 100 < 90 THEN 'succeeded' WHEN n % 100 < 94 THEN 'failed'
                WHEN n % 100 < 95 THEN 'manual' WHEN n % 100 < 97 THEN 'cancelled'
                WHEN n % 100 < 99 THEN 'waiting' ELSE 'active' END AS status,
           CASE WHEN n % 100 < 90 THEN 'done' WHEN n % 100 < 94 THEN 'rejected'
                WHEN n % 100 < 95 THEN 'manualReview' WHEN n % 100 < 97 THEN 'cancelled'
                WHEN n % 100 < 99 THEN 'awaitResult' ELSE 'apply' END AS step,
           n % 1000 = 999 AS parked) s`,
      [from, to, now, rows],
    );
  }
  await db.knex.raw(`VACUUM ANALYZE ${table}`);
  // One partner call per instance a minute after it started, and a busy last hour on top.
  const stepLogs = `"${schema}"."step_logs"`;
  const interfaces = `(ARRAY['credit.apply','loan.apply','repay.apply'])`;
  for (let from = 1; from <= rows; from += 250_000) {
    const to = Math.min(rows, from + 250_000 - 1);
    await db.knex.raw(
      `INSERT INTO ${stepLogs} (id, instance_id, version, step, attempt, event, started_at,
         duration_ms, channel, interface)
       SELECT gen_random_uuid(), 'i' || lpad(n::text, 9, '0'), 1, 'apply', 1, 'call',
         to_timestamp(? / 1000.0) - (n::float / ? * interval '60 days') + interval '1 minute',
         40 + (n * 37) % 900, (ARRAY['lanbank','meadow','jade'])[1 + n % 3],
         ${interfaces}[1 + (n / 3) % 3]
       FROM generate_series(?::int, ?::int) AS n`,
      [now, rows, from, to],
    );
  }
  await db.knex.raw(
    `INSERT INTO ${stepLogs} (id, instance_id, version, step, attempt, event, started_at,
       duration_ms, channel, interface)
     SELECT gen_random_uuid(), 'busy' || n, 1, 'apply', 1, 'call',
       to_timestamp(? / 1000.0) - (n::float / 20000 * interval '1 hour'),
       40 + (n * 37) % 900, (ARRAY['lanbank','meadow','jade'])[1 + n % 3],
       ${interfaces}[1 + (n / 3) % 3]
     FROM generate_series(1, 20000) AS n`,
    [now],
  );
  await db.knex.raw(`VACUUM ANALYZE ${stepLogs}`);
}

export default async function consoleBench(): Promise<Bench> {
  const bench = new Bench({ time: 1_500, warmupTime: 300 });
  if (!databaseUrl) return bench;
  const db = openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: 8 } });
  await db.migrate();
  const { count } = (
    await db.knex.raw(`SELECT count(*)::int AS count FROM "${schema}"."instances"`)
  ).rows[0] as { count: number };
  if (count !== rows) {
    await db.knex.raw(`TRUNCATE "${schema}"."instances", "${schema}"."step_logs"`);
    const started = Date.now();
    await generate(db);
    console.log(`generated ${rows.toLocaleString("en")} instances in ${Date.now() - started} ms`);
  }
  const loaded = await loadExampleDefinitions(lanbankFunder.dir);
  const lanbank = loaded.channels.find((c) => c.code === "lanbank")!;
  await pushDefinitions(db, {
    channels: channels.map((code) => ({ ...lanbank, code })),
    behaviors: channels.flatMap((channel) =>
      loaded.behaviors
        .filter((b) => b.channel === "lanbank" && behaviors.includes(b.code))
        .map((b) => ({ ...b, channel })),
    ),
  });
  const engine: Engine = createEngine({
    store: db.instances,
    definitions: db.definitions,
    processors: registerBuiltinProcessors(new ProcessorRegistry()),
  });
  const redisUrl = process.env.REDIS_URL;
  const redis: CapflowRedis | undefined = redisUrl
    ? await openRedis({ url: redisUrl, keyPrefix: `${schema}:` })
    : undefined;
  const app = createServer({
    engine,
    store: db.instances,
    definitions: db.definitions,
    operations: db.operations,
    operators: { tokens: db.operatorTokens },
    ...(redis ? { flow: { limiter: redis.limiter, breakers: redis.breakers } } : {}),
    log: false,
    console: false,
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as { port: number };
  const { token } = await issueOperatorToken(db.operatorTokens, {
    name: `bench-${Date.now()}`,
    role: "viewer",
    reason: "console bench",
  });
  cleanup = async () => {
    await app.close();
    await engine.close();
    await redis?.close();
    if (!keep) await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
  };
  const get = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/ops${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<{ nextCursor?: string | null }>;
  };
  // A cursor halfway through one channel's behavior (by creation time).
  const middle = (
    await db.knex.raw(
      `SELECT created_at, id FROM "${schema}"."instances" WHERE id = 'i' || lpad(?::text, 9, '0')`,
      [Math.floor(rows / 2)],
    )
  ).rows[0] as { created_at: Date; id: string };
  const cursor = Buffer.from(JSON.stringify([middle.created_at.getTime(), middle.id])).toString(
    "base64url",
  );
  let key = 0;
  const nextKey = () => `BK${String(1 + ((key++ * 7919) % rows)).padStart(9, "0")}`;
  const nextId = () => `i${String(1 + ((key++ * 7919) % rows)).padStart(9, "0")}`;

  bench
    .add(reference, async () => {
      await db.knex.raw(`SELECT * FROM "${schema}"."instances" WHERE id = ?`, [nextId()]);
    })
    .add(tasks.overview, () => get("/overview"))
    .add(tasks.businessKey, () => get(`/instances?businessKey=${nextKey()}`))
    .add(tasks.waiting, () => get("/instances?status=waiting&limit=25"))
    .add(tasks.deepPage, () =>
      get(`/instances?channel=lanbank&behavior=credit&limit=25&cursor=${cursor}`),
    )
    .add(tasks.idle, () => get("/instances?status=active,waiting&idleFor=1h&limit=25"))
    .add(tasks.parked, () => get("/attention/parked?limit=25"));
  measured = bench;
  return bench;
}
