import { randomBytes } from "node:crypto";
import {
  type BehaviorDefinition,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  ManualClock,
  ProcessorRegistry,
  registerBuiltinProcessors,
  StartQueue,
  type UpstreamClientDefinition,
} from "@capflow/core";
import {
  type CapflowDatabase,
  KnexIntakeStore,
  KnexStartQueueStore,
  openPostgresStore,
  pushDefinitions,
} from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer } from "../src/index.ts";
import { hmacIntakeRequest, type IntakeAnswer } from "./support/hmac-intake-request.ts";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import { databaseUrl, skipMessage } from "./support/test-server.ts";

const secrets = {
  "lender-a": "lender-a-secret-0123456789",
  "lender-b": "lender-b-secret-9876543210",
};
type ClientId = keyof typeof secrets;

/** Two upstream clients allowed on the same behaviors, each with its own HMAC secret. */
function lender(id: ClientId): UpstreamClientDefinition {
  return {
    id,
    signature: {
      algorithm: "hmac-sha256",
      key: { ref: `env:OWNERSHIP_TEST_${id === "lender-a" ? "A" : "B"}` },
      canonical: "rawBody",
      encoding: "hex",
    },
    allowedIps: ["127.0.0.0/8", "::1/128"],
    allow: { behaviors: ["shop/order", "shop/order.queued"] },
  };
}

const order: BehaviorDefinition = {
  ...orderBehavior,
  inputSchema: {
    type: "object",
    required: ["idCardNo", "amount"],
    properties: { idCardNo: { type: "string" }, amount: { type: "integer", minimum: 1 } },
  },
};
/** The same behavior with a queue policy: its intake starts are queued (peak shaving). */
const queuedOrder: BehaviorDefinition = { ...order, code: "order.queued" };

type Answer = IntakeAnswer;

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "one upstream client's instances, as another client sees them (PostgreSQL)"
    : skipMessage,
  () => {
    let db: CapflowDatabase;
    let engine: Engine;
    let queue: StartQueue;
    let app: FastifyInstance;
    let baseUrl: string;
    const schema = `capflow_test_${randomBytes(5).toString("hex")}`;

    beforeAll(async () => {
      process.env.OWNERSHIP_TEST_A = secrets["lender-a"];
      process.env.OWNERSHIP_TEST_B = secrets["lender-b"];
      db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
      await db.migrate();
      await pushDefinitions(db, {
        channels: [shopChannel],
        behaviors: [order, queuedOrder],
        clients: [lender("lender-a"), lender("lender-b")],
      });
      engine = createEngine({
        store: db.instances,
        definitions: db.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
      });
      queue = new StartQueue({
        store: new KnexStartQueueStore(db),
        engine,
        definitions: db.definitions,
        clock: new ManualClock(Date.now()),
        policies: [{ channel: "shop", behavior: "order.queued", ratePerSecond: 100, ttl: "1m" }],
      });
      app = createServer({
        log: false,
        engine,
        intake: {
          definitions: db.definitions,
          store: new KnexIntakeStore(db.knex, { schema }),
          secrets: createDefaultSecretResolver(),
          queue,
        },
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      baseUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await engine?.close();
      await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db?.close();
    });

    const count = async (table: string) =>
      (
        (await db.knex.raw(`SELECT count(*)::int AS n FROM "${schema}"."${table}"`)) as {
          rows: { n: number }[];
        }
      ).rows[0]!.n;
    const stored = async () => ({
      instances: await count("instances"),
      queued: await count("queued_starts"),
      keys: await count("intake_requests"),
      stepLogs: await count("step_logs"),
    });

    /**
     * A request over loopback HTTP, signed with `signer`'s secret and naming `client` in
     * X-Capflow-Client (the same one, unless a forgery is being tried).
     */
    const call = (
      signer: ClientId,
      method: "GET" | "POST",
      path: string,
      value?: unknown,
      options: { client?: string; idempotencyKey?: string } = {},
    ): Promise<Answer> =>
      hmacIntakeRequest(baseUrl, {
        client: options.client ?? signer,
        secret: secrets[signer],
        method,
        path,
        value,
        headers: options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {},
      });

    const input = { idCardNo: "110101199003071234", amount: 100 };
    const startBody = (
      businessKey: string,
      behavior = "order",
      given: Record<string, unknown> = input,
    ) => ({
      channel: "shop",
      behavior,
      businessKey,
      input: given,
    });
    const start = (
      client: ClientId,
      businessKey: string,
      options: { behavior?: string; input?: Record<string, unknown>; idempotencyKey?: string } = {},
    ) =>
      call(
        client,
        "POST",
        "/v1/instances",
        startBody(businessKey, options.behavior, options.input),
        options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {},
      );
    const read = (client: ClientId, businessKey: string, behavior = "order") =>
      call(client, "GET", `/v1/instances/shop/${behavior}/${businessKey}`);

    /** The answer for `key`, written as if it were for `as`: to compare two answers byte for byte. */
    const renamed = (answer: Answer, key: string, as: string) => ({
      status: answer.status,
      contentType: answer.contentType,
      text: answer.text.replaceAll(key, as),
    });

    test("client B reading client A's instance gets exactly the answer for a business key that does not exist", async () => {
      const started = await start("lender-a", "OWN-1");
      expect(started.status).toBe(200);
      expect((await read("lender-a", "OWN-1")).json.instance.id).toBe(started.json.instance.id);

      const hidden = await read("lender-b", "OWN-1");
      const missing = await read("lender-b", "NONE-1");
      expect(hidden.status).toBe(404);
      expect(hidden.json.error.code).toBe("INSTANCE_NOT_FOUND");
      expect(renamed(hidden, "OWN-1", "NONE-1")).toEqual(renamed(missing, "NONE-1", "NONE-1"));
      expect(hidden.text).not.toContain(started.json.instance.id);
    });

    test("client B starting with client A's business key is refused with BUSINESS_KEY_TAKEN, the same for any input, and nothing is stored", async () => {
      const started = await start("lender-a", "OWN-2");
      const before = await stored();
      const sameInput = await start("lender-b", "OWN-2", { idempotencyKey: "b-own-2" });
      const guess = await start("lender-b", "OWN-2", {
        input: { idCardNo: "110101199001011111", amount: 100 },
        idempotencyKey: "b-own-2-guess",
      });
      for (const answer of [sameInput, guess]) {
        expect(answer.status).toBe(409);
        expect(answer.json.error.code).toBe("BUSINESS_KEY_TAKEN");
        expect(answer.json.error.message).toMatch(/business key OWN-2 of shop\/order/);
        expect(answer.text).not.toContain(started.json.instance.id);
        expect(answer.text).not.toContain("INSTANCE_INPUT_MISMATCH");
      }
      // No oracle on A's input: a right guess and a wrong one are answered alike.
      expect(guess.text).toBe(sameInput.text);
      expect(await stored()).toEqual(before);
      // A's instance is untouched, and A is answered as before.
      const again = await start("lender-a", "OWN-2");
      expect(again.json.instance).toEqual(started.json.instance);
      // B's refused Idempotency-Key stays free: B may use it for a key of its own.
      const own = await start("lender-b", "B-OWN-2", { idempotencyKey: "b-own-2" });
      expect(own.status).toBe(200);
    });

    test("a forged client (another client's id, signed with one's own key) is refused and reads nothing", async () => {
      await start("lender-a", "OWN-3");
      const before = await stored();
      const forgedRead = await call(
        "lender-b",
        "GET",
        "/v1/instances/shop/order/OWN-3",
        undefined,
        {
          client: "lender-a",
        },
      );
      const forgedStart = await call("lender-b", "POST", "/v1/instances", startBody("OWN-3"), {
        client: "lender-a",
      });
      for (const answer of [forgedRead, forgedStart]) {
        expect(answer.status).toBe(401);
        expect(answer.json.error.code).toBe("AUTH_REQUIRED");
        expect(answer.text).not.toContain("OWN-3");
      }
      expect(await stored()).toEqual(before);
    });

    test("a queued start is another client's business too: hidden from reads, refused to starts, while queued and once admitted", async () => {
      const queued = await start("lender-a", "OWN-Q", { behavior: "order.queued" });
      expect(queued.status).toBe(202);
      const missingWhileQueued = await read("lender-b", "NONE-Q", "order.queued");
      expect(renamed(await read("lender-b", "OWN-Q", "order.queued"), "OWN-Q", "NONE-Q")).toEqual(
        renamed(missingWhileQueued, "NONE-Q", "NONE-Q"),
      );
      const before = await stored();
      for (const given of [input, { idCardNo: "110101199001011111", amount: 100 }]) {
        const refused = await start("lender-b", "OWN-Q", {
          behavior: "order.queued",
          input: given,
        });
        expect(refused.status).toBe(409);
        expect(refused.json.error.code).toBe("BUSINESS_KEY_TAKEN");
        expect(refused.text).not.toContain(queued.json.queuedStart.id);
      }
      expect(await stored()).toEqual(before);

      expect((await queue.admit()).started).toBe(1);
      const admitted = await read("lender-a", "OWN-Q", "order.queued");
      expect(admitted.json.instance.businessKey).toBe("OWN-Q");
      const hidden = await read("lender-b", "OWN-Q", "order.queued");
      expect(renamed(hidden, "OWN-Q", "NONE-Q")).toEqual(
        renamed(await read("lender-b", "NONE-Q", "order.queued"), "NONE-Q", "NONE-Q"),
      );
      const refused = await start("lender-b", "OWN-Q", { behavior: "order.queued" });
      expect(refused.json.error.code).toBe("BUSINESS_KEY_TAKEN");
      expect(refused.text).not.toContain(admitted.json.instance.id);
    });

    test("an instance started without a client (an operator, a host's own code) is seen by every client allowed on its behavior", async () => {
      const shared = await engine.start(startBody("SHARED-1"));
      for (const client of ["lender-a", "lender-b"] as const) {
        expect((await read(client, "SHARED-1")).json.instance.id).toBe(shared.id);
        expect((await start(client, "SHARED-1")).json.instance.id).toBe(shared.id);
      }
      // Started through the intake, an instance is its client's even for an operator's later start.
      await start("lender-a", "OWN-4");
      expect((await engine.start(startBody("OWN-4"))).upstreamClient).toBe("lender-a");
    });

    test("reading another client's instance takes about as long as reading a business key that does not exist", async () => {
      await start("lender-a", "OWN-T");
      const timed = async (key: string) => {
        const at = performance.now();
        const answer = await read("lender-b", key);
        expect(answer.status).toBe(404);
        return performance.now() - at;
      };
      const hidden: number[] = [];
      const missing: number[] = [];
      for (let round = 0; round < 30; round++) {
        hidden.push(await timed("OWN-T"));
        missing.push(await timed("NONE-T"));
      }
      const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
      // The same reads on both paths: only noise tells them apart, on a shared machine generously.
      expect(median(hidden)).toBeLessThan(median(missing) * 2 + 5);
      expect(median(missing)).toBeLessThan(median(hidden) * 2 + 5);
    });
  },
);
