import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { Agent, request as httpRequest } from "node:http";
import {
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  StartQueue,
  systemClock,
  type UpstreamClientDefinition,
} from "@capflow/core";
import {
  type CapflowDatabase,
  KnexIntakeStore,
  KnexStartQueueStore,
  openPgliteStore,
  openPostgresStore,
  pushDefinitions,
} from "@capflow/store-knex";
import Fastify, { type FastifyInstance } from "fastify";
import { Bench } from "tinybench";
import { createServer, signedString } from "../src/index.ts";
import { orderBehavior, shopChannel } from "../test/support/shop-definitions.ts";

/**
 * Intake requests per second over HTTP on loopback, 16 in flight on keep-alive connections: a
 * signed start (HMAC-SHA256 over the raw body, a new nonce, an Idempotency-Key, the instance
 * created) next to a bare Fastify route answering the same JSON body, and next to `engine.start`
 * called in process (what the intake adds to the start itself), and the same signed start of a
 * behavior with a queue policy (queued, answered 202; no admission runs) next to the direct one.
 * PostgreSQL with DATABASE_URL, in-memory PGlite otherwise.
 */
const inFlight = 16;
const databaseUrl = process.env.DATABASE_URL;
const secret = "intake-bench-secret-0123456789abcdef";

const intakeTask = `intake: signed start with Idempotency-Key (${inFlight} in flight)`;
const bareTask = `bare Fastify: POST answering JSON (${inFlight} in flight)`;
const startTask = `engine.start in process (${inFlight} in flight)`;
const queuedTask = `intake: signed start of a queued behavior with Idempotency-Key (${inFlight} in flight)`;

export const comparisons = [
  { measured: intakeTask, baseline: bareTask },
  { measured: intakeTask, baseline: startTask },
  { measured: queuedTask, baseline: intakeTask },
];

export const rounds = 3;

/** Each iteration sends (or starts) `inFlight` at once: requests per second, not iterations. */
export function report(opsPerSecond: (task: string) => number): string[] {
  return [intakeTask, queuedTask, bareTask, startTask].map(
    (task) => `${task}: ${Math.round(opsPerSecond(task) * inFlight)} requests/s`,
  );
}

let cleanup: (() => Promise<void>) | undefined;

export async function teardown(): Promise<void> {
  await cleanup?.();
}

const client: UpstreamClientDefinition = {
  id: "bench",
  signature: {
    algorithm: "hmac-sha256",
    key: { ref: "env:CAPFLOW_INTAKE_BENCH_SECRET" },
    canonical: "rawBody",
  },
  allowedIps: ["127.0.0.1/32", "::1/128"],
  allow: { behaviors: ["shop/order", "shop/queued-order"] },
};
const queuedOrder = { ...orderBehavior, code: "queued-order" };

export default async function intakeBench(): Promise<Bench> {
  process.env.CAPFLOW_INTAKE_BENCH_SECRET = secret;
  const schema = databaseUrl ? `capflow_bench_${randomUUID().slice(0, 8)}` : "capflow";
  const db: CapflowDatabase = databaseUrl
    ? openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: inFlight } })
    : await openPgliteStore();
  await db.migrate();
  await pushDefinitions(db, {
    channels: [shopChannel],
    behaviors: [orderBehavior, queuedOrder],
    clients: [client],
  });
  const engine: Engine = createEngine({
    store: db.instances,
    definitions: db.definitions,
    processors: registerBuiltinProcessors(new ProcessorRegistry()),
  });
  const queue = new StartQueue({
    store: new KnexStartQueueStore(db),
    engine,
    definitions: db.definitions,
    clock: systemClock,
    policies: [{ channel: "shop", behavior: "queued-order", ratePerSecond: 1, ttl: "1h" }],
  });
  const app = createServer({
    log: false,
    engine,
    intake: {
      definitions: db.definitions,
      store: new KnexIntakeStore(db.knex, { schema: db.schema }),
      secrets: createDefaultSecretResolver(),
      queue,
    },
  });
  const bare: FastifyInstance = Fastify({ logger: false });
  bare.post("/v1/instances", async (request) => ({ instance: request.body }));
  const intakePort = await listen(app);
  const barePort = await listen(bare);
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  cleanup = async () => {
    agent.destroy();
    await app.close();
    await bare.close();
    await engine.close();
    if (databaseUrl) await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
  };

  let serial = 0;
  const startBody = (behavior = "order") => {
    serial++;
    const key = `B-${process.pid}-${serial}`;
    return {
      key,
      body: Buffer.from(
        JSON.stringify({
          channel: "shop",
          behavior,
          businessKey: key,
          input: { mobile: "13800138000", amount: 100 },
        }),
      ),
    };
  };

  const signedRequest = (port: number, behavior = "order") => {
    const { key, body } = startBody(behavior);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString("hex");
    const data = signedString({
      method: "POST",
      path: "/v1/instances",
      timestamp,
      nonce,
      body,
      fields: undefined,
      canonical: "rawBody",
    });
    return post(agent, port, body, {
      "x-capflow-client": "bench",
      "x-capflow-timestamp": timestamp,
      "x-capflow-nonce": nonce,
      "x-capflow-signature": createHmac("sha256", secret).update(data).digest("base64"),
      "idempotency-key": `idem-${key}`,
    });
  };

  const slots = Array.from({ length: inFlight }, (_, i) => i);
  const bench = new Bench({ name: "intake", time: 1500, warmupTime: 300, iterations: 10 });
  bench.add(intakeTask, async () => {
    await Promise.all(slots.map(() => signedRequest(intakePort)));
  });
  bench.add(queuedTask, async () => {
    await Promise.all(slots.map(() => signedRequest(intakePort, "queued-order")));
  });
  bench.add(bareTask, async () => {
    await Promise.all(slots.map(() => post(agent, barePort, startBody().body, {})));
  });
  bench.add(startTask, async () => {
    await Promise.all(
      slots.map(() => {
        const { key } = startBody();
        return engine.start({
          channel: "shop",
          behavior: "order",
          businessKey: key,
          input: { mobile: "13800138000", amount: 100 },
        });
      }),
    );
  });
  return bench;
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: "127.0.0.1" });
  return (app.server.address() as { port: number }).port;
}

function post(
  agent: Agent,
  port: number,
  body: Buffer,
  headers: Record<string, string>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        agent,
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/instances",
        headers: {
          ...headers,
          "content-type": "application/json",
          "content-length": String(body.length),
        },
      },
      (response) => {
        response.resume();
        response.on("end", () => {
          if (response.statusCode === 200 || response.statusCode === 202) resolve();
          else reject(new Error(`answered ${response.statusCode}`));
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}
