import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import {
  type ChannelDefinition,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  FlowControl,
  InProcessBreakerBoard,
  InProcessLimiter,
  type InstanceRecord,
  jsonCodec,
  ManualClock,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { customerFor, loadExampleDefinitions } from "@capflow/example-demo";
import { lanbankFunder } from "@capflow/example-lanbank";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import { createServer, type FlowStateSources, issueOperatorToken } from "@capflow/server";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import {
  byField,
  createFunderCryptoHandler,
  type MockFunder,
  type PartnerKeySet,
  startMockFunder,
} from "@capflow/testkit";

export const databaseUrl = process.env.DATABASE_URL;
export const redisUrl = process.env.REDIS_URL;

export const databaseMissing = databaseUrl
  ? undefined
  : "console browser tests skipped: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run them";

/** What each business record of the fixture does at Lan Bank's mock. */
export const fixtureKeys = {
  /** Approved by the first query: succeeded. */
  approved: ["CR-1001", "CR-1002", "CR-1003"],
  /** Refused at apply: failed. */
  refused: ["CR-2001"],
  /** Accepted, then "processing" for ever: waiting at awaitResult, hours without a change. */
  stuck: ["CR-3001", "CR-3002"],
  /** Never settles: every query says processing until the schedule runs out, manual review. */
  manual: ["CR-4001"],
  /** Not started by the fixture: refused at its first apply, approved after a second one. */
  declinedOnce: ["CR-6001"],
} as const;

export interface ConsoleServer {
  url: string;
  app: ReturnType<typeof createServer>;
  db: CapflowDatabase;
  engine: Engine;
  funder: MockFunder;
  /** The cluster's flow control state the server shows (Redis when REDIS_URL is set). */
  flow: FlowStateSources & { breakers: NonNullable<FlowStateSources["breakers"]> };
  /** The Redis behind `flow`, keys under its own prefix; absent without REDIS_URL. */
  redis?: CapflowRedis;
  tokens: { viewer: string; operator: string; admin: string };
  /** The engine's clock: advance it to make retries due. */
  clock: ManualClock;
  /** Starts a credit application as the fixture's are started. */
  start(key: string): Promise<InstanceRecord>;
  /** The input of the fixture's credit application with this business key. */
  input(key: string): Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * capflow's server (`createServer`, what `capflow serve` runs) on a fresh PostgreSQL schema, with
 * Lan Bank's definitions and its mock funder (RSA signatures, AES envelope), and credit
 * applications run through the engine on a manual clock started hours ago: some approved, one
 * refused, some stuck waiting for a result, one in manual review. Flow control on Redis when
 * REDIS_URL is set (keys under a prefix of this server's own), like `capflow serve`. Tokens for a
 * viewer, an operator and an admin.
 */
export async function startConsoleServer(): Promise<ConsoleServer> {
  if (!databaseUrl) throw new Error(databaseMissing);
  const schema = `capflow_test_${randomBytes(5).toString("hex")}`;
  const db = openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: 6 } });
  const cleanups: (() => Promise<unknown>)[] = [
    () => db.close(),
    () => db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  ];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    await db.migrate();
    let redis: CapflowRedis | undefined;
    if (redisUrl) {
      const keyPrefix = `capflow-test:${schema}:`;
      const opened = await openRedis({ url: redisUrl, keyPrefix });
      redis = opened;
      cleanups.push(async () => {
        const keys = await opened.client.keys(`${keyPrefix}*`);
        if (keys.length > 0) await opened.client.del(...keys);
        await opened.close();
      });
    }
    const flow = redis
      ? { limiter: redis.limiter, breakers: redis.breakers }
      : { limiter: new InProcessLimiter(), breakers: new InProcessBreakerBoard() };
    // The work started a day ago: what has waited since then is stuck.
    const clock = new ManualClock(Date.now() - 24 * 3_600_000);
    const loaded = await loadExampleDefinitions(lanbankFunder.dir);
    const channel = loaded.channels.find((c) => c.code === "lanbank")!;
    const definitionsDir = join(lanbankFunder.dir, "definitions");
    const partner = JSON.parse(
      await readFile(join(lanbankFunder.dir, "keys", "partner.crypto.json"), "utf8"),
    ) as { keys: PartnerKeySet };
    const handler = await createFunderCryptoHandler(channel.crypto, partner.keys, {
      secrets: createDefaultSecretResolver(),
      baseDir: definitionsDir,
      clock,
    });
    const funder = await startMockFunder({
      handler,
      codec: jsonCodec,
      clock,
      endpoints: {
        "POST /credit/apply": {
          businessKey: byField("applyNo"),
          answer: (request) =>
            (fixtureKeys.refused as readonly string[]).includes(request.businessKey ?? "") ||
            ((fixtureKeys.declinedOnce as readonly string[]).includes(request.businessKey ?? "") &&
              request.n === 1)
              ? { body: { respCode: "2003", respMsg: "borrower not eligible" } }
              : {
                  body: {
                    respCode: "0000",
                    respMsg: "accepted",
                    data: { bankApplyNo: `LBA-${request.businessKey}` },
                  },
                },
        },
        "POST /credit/query": {
          businessKey: byField("applyNo"),
          answer: (request) => ({
            body: {
              respCode: "0000",
              respMsg: "success",
              data: {
                applyNo: request.businessKey,
                creditStatus: (
                  [...fixtureKeys.approved, ...fixtureKeys.declinedOnce] as string[]
                ).includes(request.businessKey ?? "")
                  ? "APPROVED"
                  : "PROCESSING",
                creditLimit: 5_000_000,
                expireDate: "20270101",
              },
            },
          }),
        },
      },
    });
    cleanups.push(() => funder.close());
    await pushDefinitions(db, {
      channels: [pointedAt(channel, funder.url, definitionsDir)],
      behaviors: loaded.behaviors.filter((b) => b.channel === "lanbank"),
    });
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
      clock,
      flowControl: new FlowControl({
        limiter: flow.limiter,
        breakerBoard: flow.breakers,
        clock,
        node: "serve-1",
      }),
      // Settled and attention-needing instances leave a notification for the upstream.
      notifications: true,
    });
    cleanups.push(() => engine.close());

    const input = (key: string) => ({
      applicationNo: key,
      productCode: "LB-CASH-12",
      amount: "50000.00",
      termMonths: 12,
      customer: customerFor(key),
      riskFactors: { score: 712, channel: "app" },
    });
    const start = async (key: string) =>
      engine.start({ channel: "lanbank", behavior: "credit", businessKey: key, input: input(key) });
    const runAll = async () => {
      while ((await engine.runDue({ limit: 16 })) > 0) {}
    };
    // The manual-review one first, so its poll schedule runs out while the others wait.
    for (const key of fixtureKeys.manual) await start(key);
    await runAll();
    for (let hour = 0; hour < 16; hour++) {
      clock.advance(60 * 60_000);
      await runAll();
    }
    for (const key of [...fixtureKeys.approved, ...fixtureKeys.refused, ...fixtureKeys.stuck]) {
      await start(key);
    }
    await runAll();
    // The first poll of awaitResult (5 min): the approved ones settle, the stuck ones wait on.
    clock.advance(6 * 60_000);
    await runAll();

    const app = createServer({
      engine,
      store: db.instances,
      definitions: db.definitions,
      operations: db.operations,
      operators: { tokens: db.operatorTokens },
      flow,
      log: false,
    });
    cleanups.push(() => app.close());
    await app.listen({ port: 0, host: "127.0.0.1" });
    const address = app.server.address();
    if (address === null || typeof address === "string") throw new Error("not on TCP");
    const tokens = {
      viewer: (
        await issueOperatorToken(db.operatorTokens, {
          name: "li.viewer",
          role: "viewer",
          reason: "console tests as a viewer",
        })
      ).token,
      operator: (
        await issueOperatorToken(db.operatorTokens, {
          name: "wang.operator",
          role: "operator",
          reason: "console tests as an operator",
        })
      ).token,
      admin: (
        await issueOperatorToken(db.operatorTokens, {
          name: "zhao.admin",
          role: "admin",
          reason: "console tests as an admin",
        })
      ).token,
    };
    return {
      url: `http://127.0.0.1:${address.port}`,
      app,
      db,
      engine,
      funder,
      flow,
      ...(redis ? { redis } : {}),
      tokens,
      clock,
      start,
      input,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The channel pointed at the mock, its key files referenced by absolute path. */
function pointedAt(channel: ChannelDefinition, baseUrl: string, dir: string): ChannelDefinition {
  const absolute = (value: unknown): unknown => {
    if (typeof value === "string" && value.startsWith("file:")) {
      const path = value.slice("file:".length);
      return isAbsolute(path) ? value : `file:${resolve(dir, path)}`;
    }
    if (Array.isArray(value)) return value.map(absolute);
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, absolute(v)]));
    }
    return value;
  };
  return { ...channel, baseUrl, crypto: absolute(channel.crypto) as ChannelDefinition["crypto"] };
}
