import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  type UpstreamClientDefinition,
} from "@capflow/core";
import {
  type CapflowDatabase,
  KnexIntakeStore,
  openPostgresStore,
  pushDefinitions,
} from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer } from "../src/index.ts";
import { closedPort } from "./support/closed-port.ts";
import { hmacIntakeRequest } from "./support/hmac-intake-request.ts";
import { oneCallFunder } from "./support/one-call-funder.ts";
import { databaseUrl, opsClient, skipMessage, tokensByRole } from "./support/test-server.ts";

const clientSecret = "intake-errors-secret-0123456789";

const platform: UpstreamClientDefinition = {
  id: "platform",
  signature: {
    algorithm: "hmac-sha256",
    key: { ref: "env:INTAKE_ERRORS_TEST_SECRET" },
    canonical: "rawBody",
    encoding: "hex",
  },
  allowedIps: ["127.0.0.0/8", "::1/128"],
  allow: { behaviors: ["away/apply", "keyed/apply"] },
};

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "an instance's error as the upstream reads it through the intake (PostgreSQL)"
    : skipMessage,
  () => {
    let db: CapflowDatabase;
    let engine: Engine;
    let app: FastifyInstance;
    let baseUrl: string;
    let folder: string;
    let keyPath: string;
    let funderUrl: string;
    let tokens: Awaited<ReturnType<typeof tokensByRole>>;
    const schema = `capflow_test_${randomBytes(5).toString("hex")}`;

    beforeAll(async () => {
      process.env.INTAKE_ERRORS_TEST_SECRET = clientSecret;
      folder = await mkdtemp(join(tmpdir(), "capflow-intake-errors-"));
      keyPath = join(folder, "keys", "keyed-hmac.key");
      funderUrl = `http://127.0.0.1:${await closedPort()}/bank-api`;
      // One funder that cannot be reached, one whose signing key file is not there.
      const away = oneCallFunder("away", funderUrl, { handler: "plain" });
      const keyed = oneCallFunder("keyed", "http://127.0.0.1:9/keyed-api", {
        handler: "configurable",
        options: {
          keys: { secret: { ref: `file:${keyPath}` } },
          request: {
            signature: {
              algorithm: "hmac-sha256",
              canonical: { kind: "sortedFields" },
              placement: { in: "body", name: "sign" },
            },
          },
        },
      });
      db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
      await db.migrate();
      await pushDefinitions(db, {
        channels: [away.channel, keyed.channel],
        behaviors: [away.behavior, keyed.behavior],
        clients: [platform],
      });
      engine = createEngine({
        store: db.instances,
        definitions: db.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
        notifications: true,
      });
      app = createServer({
        log: false,
        engine,
        store: db.instances,
        definitions: db.definitions,
        operators: { tokens: db.operatorTokens },
        intake: {
          definitions: db.definitions,
          store: new KnexIntakeStore(db.knex, { schema }),
          secrets: createDefaultSecretResolver(),
        },
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      baseUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      tokens = await tokensByRole(db);
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await engine?.close();
      await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db?.close();
      if (folder) await rm(folder, { recursive: true, force: true });
    });

    /** A signed intake request over loopback HTTP, as the platform. */
    const call = (method: "GET" | "POST", path: string, value?: unknown) =>
      hmacIntakeRequest(baseUrl, { client: "platform", secret: clientSecret, method, path, value });

    const start = (channel: string, loanNo: string) =>
      call("POST", "/v1/instances", {
        channel,
        behavior: "apply",
        businessKey: loanNo,
        input: { loanNo },
      });

    /** Whatever an operator's text names that the upstream must not read. */
    function expectNothingOperatorsOnly(text: string) {
      const port = new URL(funderUrl).port;
      for (const detail of [funderUrl, "/bank-api", `:${port}`, "127.0.0.1", folder, "keys/"]) {
        expect(text).not.toContain(detail);
      }
    }

    test("a funder that cannot be reached: the upstream reads the code, that it passes, and a sentence; operators read the URL", async () => {
      const started = await start("away", "L-AWAY-1");
      expect(started.status).toBe(200);
      expect(started.json.instance.error).toBeNull();
      await engine.runDue();

      const read = await call("GET", "/v1/instances/away/apply/L-AWAY-1");
      expect(read.status).toBe(200);
      expect(read.json.instance.status).toBe("active");
      expect(read.json.instance.error).toEqual({
        code: "TRANSPORT_NOT_SENT",
        retryable: true,
        message: "the funder's interface could not be reached; the request was not sent",
      });
      expectNothingOperatorsOnly(read.text);

      // A repeated start answers the same instance, in the same public form.
      const repeated = await start("away", "L-AWAY-1");
      expect(repeated.json.instance.error).toEqual(read.json.instance.error);
      expectNothingOperatorsOnly(repeated.text);

      // The operator API keeps the whole text: where the funder was called.
      const ops = await opsClient(baseUrl)("GET", `/instances/${read.json.instance.id}`, {
        token: tokens.viewer,
      });
      expect(ops.status).toBe(200);
      expect(ops.json.instance.lastError.code).toBe("TRANSPORT_NOT_SENT");
      expect(ops.json.instance.lastError.message).toContain(`127.0.0.1:${new URL(funderUrl).port}`);
    });

    test("a signing key file that is not there: the upstream reads no path; operators read which file", async () => {
      await start("keyed", "L-KEYED-1");
      await engine.runDue();

      const read = await call("GET", "/v1/instances/keyed/apply/L-KEYED-1");
      expect(read.status).toBe(200);
      expect(read.json.instance.error).toEqual({
        code: "SECRET_NOT_FOUND",
        retryable: false,
        message:
          "a key for the exchange with the funder cannot be loaded; capflow's operators have the details",
      });
      expectNothingOperatorsOnly(read.text);

      const ops = await opsClient(baseUrl)("GET", `/instances/${read.json.instance.id}`, {
        token: tokens.viewer,
      });
      expect(ops.json.instance.lastError.code).toBe("SECRET_NOT_FOUND");
      expect(ops.json.instance.lastError.message).toContain(keyPath);

      // Parked for an operator: the upstream's notification carries the same public form.
      const notes = await db.instances.listNotifications({ instanceId: read.json.instance.id });
      expect(notes.map((note) => note.type)).toEqual(["instance.attention"]);
      expect(notes[0]!.payload).toMatchObject({
        reason: "parked",
        error: read.json.instance.error,
      });
      expectNothingOperatorsOnly(JSON.stringify(notes[0]!.payload));
    });
  },
);
