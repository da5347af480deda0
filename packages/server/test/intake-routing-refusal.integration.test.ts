import { randomBytes } from "node:crypto";
import {
  type BehaviorDefinition,
  BusinessCalendar,
  CachedQueries,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  systemClock,
  type UpstreamClientDefinition,
} from "@capflow/core";
import {
  type CapflowDatabase,
  KnexIntakeStore,
  KnexQueryCacheStore,
  openPostgresStore,
  pushDefinitions,
} from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer } from "../src/index.ts";
import { closedPort } from "./support/closed-port.ts";
import { hmacIntakeRequest } from "./support/hmac-intake-request.ts";
import { oneCallFunder } from "./support/one-call-funder.ts";
import { databaseUrl, skipMessage } from "./support/test-server.ts";

const clientSecret = "intake-routing-secret-0123456789";

const platform: UpstreamClientDefinition = {
  id: "platform",
  signature: {
    algorithm: "hmac-sha256",
    key: { ref: "env:INTAKE_ROUTING_TEST_SECRET" },
    canonical: "rawBody",
    encoding: "hex",
  },
  allowedIps: ["127.0.0.0/8", "::1/128"],
  allow: { products: ["loans"], behaviors: ["offshore-hidden/trial"] },
};

describe.skipIf(!databaseUrl)(
  databaseUrl ? "a product start no channel can take, as the upstream reads it" : skipMessage,
  () => {
    let db: CapflowDatabase;
    let engine: Engine;
    let app: FastifyInstance;
    let baseUrl: string;
    const lines: string[] = [];
    const schema = `capflow_test_${randomBytes(5).toString("hex")}`;

    beforeAll(async () => {
      process.env.INTAKE_ROUTING_TEST_SECRET = clientSecret;
      const url = `http://127.0.0.1:${await closedPort()}/bank-api`;
      const big = oneCallFunder("bigbank-hidden", url);
      const small = oneCallFunder("smallfund-hidden", url);
      // A query whose channel names a holiday schedule the server was not given.
      const offshore = oneCallFunder("offshore-hidden", url);
      offshore.channel.calendar = { workingDaysOnly: true, holidays: "hk-private" };
      const trial: BehaviorDefinition = {
        ...offshore.behavior,
        code: "trial",
        cache: { key: "input.loanNo", lifetime: "cutoff" },
      };
      db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
      await db.migrate();
      await pushDefinitions(db, {
        channels: [big.channel, small.channel, offshore.channel],
        behaviors: [big.behavior, small.behavior, trial],
        products: [
          {
            code: "loans",
            name: "Loans",
            channels: [
              // Takes only large loans: its rule names what the platform agreed with this funder.
              {
                channel: "bigbank-hidden",
                behavior: "apply",
                weight: 1,
                when: "input.amount > 500000",
              },
              // One loan at a time.
              {
                channel: "smallfund-hidden",
                behavior: "apply",
                weight: 1,
                quotas: { total: { count: 1 } },
              },
            ],
          },
        ],
        clients: [platform],
      });
      engine = createEngine({
        store: db.instances,
        definitions: db.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
      });
      app = createServer({
        log: { level: "info", stream: { write: (line: string) => lines.push(line) } },
        engine,
        store: db.instances,
        definitions: db.definitions,
        intake: {
          definitions: db.definitions,
          store: new KnexIntakeStore(db.knex, { schema }),
          secrets: createDefaultSecretResolver(),
          queries: new CachedQueries({
            engine,
            definitions: db.definitions,
            store: new KnexQueryCacheStore(db),
            clock: systemClock,
            calendar: new BusinessCalendar({ definitions: db.definitions }),
          }),
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

    /** The refusal's log line: the one of the request's id that carries a code. */
    const loggedFor = (requestId: string) =>
      lines
        .map((line) => JSON.parse(line))
        .find((entry) => entry.reqId === requestId && entry.code);

    const start = (loanNo: string, headers?: Record<string, string>) =>
      hmacIntakeRequest(baseUrl, {
        client: "platform",
        secret: clientSecret,
        method: "POST",
        path: "/v1/instances",
        value: { product: "loans", businessKey: loanNo, input: { loanNo, amount: 1000 } },
        ...(headers === undefined ? {} : { headers }),
      });

    test("ROUTING_NO_CHANNEL: the upstream reads the public sentence and the channels' states; operators read each channel's reason in the log", async () => {
      expect((await start("L-1")).status).toBe(200);

      const refused = await start("L-2");
      expect(refused.status).toBe(422);
      expect(refused.json.error).toEqual({
        code: "ROUTING_NO_CHANNEL",
        retryable: true,
        message: "no channel of the product can take this business now",
        requestId: expect.any(String),
        reasons: ["ineligible", "quota-exhausted"],
      });
      for (const detail of ["bigbank", "smallfund", "hidden", "500000", "amount"]) {
        expect(refused.text).not.toContain(detail);
      }

      // The whole refusal, each channel's reason, is logged with the request's id.
      const logged = loggedFor(refused.json.error.requestId);
      expect(logged).toMatchObject({ level: 40, code: "ROUTING_NO_CHANNEL" });
      expect(logged.msg).toContain("bigbank-hidden: ineligible (when input.amount > 500000");
      expect(logged.msg).toContain("smallfund-hidden: quota-exhausted");

      // With an Idempotency-Key the same public answer, and the key stays free for a retry.
      const keyed = await start("L-3", { "idempotency-key": "routing-refusal-1" });
      expect(keyed.status).toBe(422);
      expect(keyed.json.error.message).toBe(refused.json.error.message);
      expect(keyed.text).not.toContain("smallfund");
    });

    test("CONFIG_INVALID of a query: the upstream reads the public sentence; operators read the schedule in the log", async () => {
      const refused = await hmacIntakeRequest(baseUrl, {
        client: "platform",
        secret: clientSecret,
        method: "POST",
        path: "/v1/queries",
        value: { channel: "offshore-hidden", behavior: "trial", input: { loanNo: "L-1" } },
      });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toEqual({
        code: "CONFIG_INVALID",
        retryable: false,
        message:
          "capflow's configuration does not let it answer this request; capflow's operators have the details",
        requestId: expect.any(String),
      });
      for (const detail of ["hk-private", "--holidays", "CachedQueriesOptions", "cn"]) {
        expect(refused.text).not.toContain(detail);
      }
      const logged = loggedFor(refused.json.error.requestId);
      expect(logged).toMatchObject({ level: 40, code: "CONFIG_INVALID" });
      expect(logged.msg).toContain('"hk-private"');
    });

    test("a refusal of the request's own body still says which field to fix", async () => {
      const answer = await hmacIntakeRequest(baseUrl, {
        client: "platform",
        secret: clientSecret,
        method: "POST",
        path: "/v1/instances",
        value: { product: "loans", businessKey: "L-9", input: {}, extra: 1 },
      });
      expect(answer.status).toBe(400);
      expect(answer.json.error).toEqual({
        code: "REQUEST_INVALID",
        message: 'unknown field "extra"; remove it',
      });
    });
  },
);
