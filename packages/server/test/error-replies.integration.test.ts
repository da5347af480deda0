import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CapflowError,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  ProcessorRegistry,
  Redacted,
  registerBuiltinProcessors,
  type UpstreamClientDefinition,
} from "@capflow/core";
import { publicError } from "@capflow/core/internal";
import {
  type CapflowDatabase,
  KnexIntakeStore,
  openPostgresStore,
  pushDefinitions,
} from "@capflow/store-knex";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer, type Operator } from "../src/index.ts";
import { hmacIntakeRequest } from "./support/hmac-intake-request.ts";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import { databaseUrl, opsClient, skipMessage, tokensByRole } from "./support/test-server.ts";

/** An intake client whose HMAC key the host keeps in its own vault (`vault:<name>`). */
function vaultClient(id: string): UpstreamClientDefinition {
  return {
    id,
    signature: {
      algorithm: "hmac-sha256",
      key: { ref: `vault:${id}` },
      canonical: "rawBody",
      encoding: "hex",
    },
    allowedIps: ["127.0.0.0/8", "::1/128"],
    allow: { behaviors: ["shop/order"] },
  };
}

/** AES-256-GCM, as the host's vault and SSO sessions seal their values: iv, tag, ciphertext. */
function seal(key: Buffer, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
}

function unseal(key: Buffer, sealed: string): string {
  const bytes = Buffer.from(sealed, "base64");
  const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A failure the server did not expect (a host's query on a dropped table: SQL, a schema), a crypto
 * error naming a key's path and id, a store whose tables are gone: on the intake and on the
 * operator API, the answer is the code, whether it passes, a fixed sentence and the request's id;
 * the log line with that id has the whole error.
 */
describe.skipIf(!databaseUrl)(
  databaseUrl ? "5xx answers carry a public form and the request's id (PostgreSQL)" : skipMessage,
  () => {
    const schema = `capflow_test_${randomBytes(5).toString("hex")}`;
    const lines: string[] = [];
    let db: CapflowDatabase;
    let engine: Engine;
    let app: FastifyInstance;
    let baseUrl: string;
    let folder: string;
    let kekPath: string;
    let sessionKeyPath: string;
    let tokens: Awaited<ReturnType<typeof tokensByRole>>;
    const bodyMarker = `BODY-${randomBytes(6).toString("hex")}`;
    const sessionCookie = `sso-${randomBytes(12).toString("hex")}`;

    beforeAll(async () => {
      folder = await mkdtemp(join(tmpdir(), "capflow-error-replies-"));
      await mkdir(join(folder, "keys"));
      kekPath = join(folder, "keys", "vault-kek-2026-12.key");
      sessionKeyPath = join(folder, "keys", "sso-session.key");
      await writeFile(kekPath, randomBytes(32));
      await writeFile(sessionKeyPath, randomBytes(32));

      db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 4 } });
      await db.migrate();
      await pushDefinitions(db, {
        channels: [shopChannel],
        behaviors: [orderBehavior],
        clients: [vaultClient("platform"), vaultClient("sealed")],
      });
      // The host's vault: client keys sealed with a key-encryption key; "sealed" was sealed with
      // a key that is no longer the one on disk (a rotation gone wrong).
      await db.knex.schema.withSchema(schema).createTable("vault_keys", (table) => {
        table.text("name").primary();
        table.text("sealed").notNullable();
      });
      const kek = await readFile(kekPath);
      await db.knex
        .withSchema(schema)
        .table("vault_keys")
        .insert([
          { name: "platform", sealed: seal(kek, "platform-hmac-secret-0123456789") },
          { name: "sealed", sealed: seal(randomBytes(32), "sealed-hmac-secret-0123456789") },
        ]);
      // The host's SSO sessions for operators, sealed with the session key.
      await db.knex.schema.withSchema(schema).createTable("sso_sessions", (table) => {
        table.text("id").primary();
        table.text("sealed").notNullable();
      });
      await db.knex
        .withSchema(schema)
        .table("sso_sessions")
        .insert({ id: sessionCookie, sealed: seal(randomBytes(32), "ops-admin") });

      const vault = {
        async resolve(reference: string) {
          const name = reference.slice("vault:".length);
          const row = await db.knex.withSchema(schema).table("vault_keys").where({ name }).first();
          if (row === undefined) throw new CapflowError("SECRET_NOT_FOUND", `no ${reference}`);
          try {
            return Redacted.of(Buffer.from(unseal(await readFile(kekPath), row.sealed), "utf8"));
          } catch (error) {
            throw new CapflowError(
              "CRYPTO_DECRYPT_FAILED",
              `${reference} does not open with the key-encryption key ${kekPath} (key id kek-2026-12)`,
              { cause: error },
            );
          }
        },
      };
      const ssoSessions = async (request: FastifyRequest): Promise<Operator | undefined> => {
        const id = request.headers["x-sso-session"];
        if (typeof id !== "string") return undefined;
        const row = await db.knex.withSchema(schema).table("sso_sessions").where({ id }).first();
        if (row === undefined) return undefined;
        try {
          const name = unseal(await readFile(sessionKeyPath), row.sealed);
          return { name, role: "admin", via: "host" };
        } catch (error) {
          throw new CapflowError(
            "CRYPTO_DECRYPT_FAILED",
            `an SSO session does not open with ${sessionKeyPath} (key id sso-2026-12)`,
            { cause: error },
          );
        }
      };

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
        operators: { tokens: db.operatorTokens, authenticate: ssoSessions },
        intake: {
          definitions: db.definitions,
          store: new KnexIntakeStore(db.knex, { schema }),
          secrets: createDefaultSecretResolver({ extra: { vault } }),
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

    const startAs = (client: string) =>
      hmacIntakeRequest(baseUrl, {
        client,
        secret: "whatever-the-client-holds-0123",
        method: "POST",
        path: "/v1/instances",
        value: {
          channel: "shop",
          behavior: "order",
          businessKey: "O-1",
          input: { orderNo: bodyMarker },
        },
      });

    /** The answer is the public form of `code` with a request id, naming nothing operators-only. */
    function expectPublicFailure(status: number, text: string, code: string): string {
      expect(status).toBe(500);
      const body = JSON.parse(text) as { error: Record<string, unknown> };
      expect(body).toEqual({
        error: {
          code,
          retryable: false,
          message: publicError({ code, message: "" }).message,
          requestId: expect.stringMatching(uuid),
        },
      });
      for (const detail of [
        schema,
        folder,
        "/keys/",
        ".key",
        "kek-2026",
        "sso-2026",
        "vault_keys",
        "sso_sessions",
        "select",
        "relation",
        "127.0.0.1",
        bodyMarker,
        sessionCookie,
      ]) {
        expect(text).not.toContain(detail);
      }
      return body.error.requestId as string;
    }

    /** The one `error` line of that request: the whole error, no body, no credentials. */
    function loggedFailure(requestId: string): string {
      const logged = lines.filter(
        (line) => line.includes(`"reqId":"${requestId}"`) && line.includes('"level":50'),
      );
      expect(logged).toHaveLength(1);
      const line = logged[0]!;
      expect(line).not.toContain(bodyMarker);
      expect(line).not.toContain(sessionCookie);
      expect(line).not.toContain("hmac-secret");
      return line;
    }

    test("intake: a crypto error naming a key's path and id is answered in its public form; the log has the path", async () => {
      const answer = await startAs("sealed");
      const requestId = expectPublicFailure(answer.status, answer.text, "CRYPTO_DECRYPT_FAILED");
      const line = loggedFailure(requestId);
      expect(line).toContain(kekPath);
      expect(line).toContain("kek-2026-12");
      expect(line).toContain('"code":"CRYPTO_DECRYPT_FAILED"');
    });

    test("ops: a crypto error naming a key's path and id is answered in its public form; the log has the path", async () => {
      const answer = await fetch(`${baseUrl}/v1/ops/whoami`, {
        headers: { "x-sso-session": sessionCookie },
      });
      const requestId = expectPublicFailure(
        answer.status,
        await answer.text(),
        "CRYPTO_DECRYPT_FAILED",
      );
      const line = loggedFailure(requestId);
      expect(line).toContain(sessionKeyPath);
      expect(line).toContain("sso-2026-12");
    });

    test("intake and ops: an unexpected failure (SQL on a dropped table) is INTERNAL in its public form; the log has the SQL", async () => {
      await db.knex.schema.withSchema(schema).dropTable("vault_keys");
      await db.knex.schema.withSchema(schema).dropTable("sso_sessions");

      const intake = await startAs("platform");
      const intakeId = expectPublicFailure(intake.status, intake.text, "INTERNAL");
      const intakeLine = loggedFailure(intakeId);
      expect(intakeLine).toContain(`relation \\"${schema}.vault_keys\\" does not exist`);

      const ops = await fetch(`${baseUrl}/v1/ops/whoami`, {
        headers: { "x-sso-session": sessionCookie },
      });
      const opsId = expectPublicFailure(ops.status, await ops.text(), "INTERNAL");
      expect(opsId).not.toBe(intakeId);
      const opsLine = loggedFailure(opsId);
      expect(opsLine).toContain(`relation \\"${schema}.sso_sessions\\" does not exist`);
    });

    test("ops, as an admin: a store whose tables are gone answers the same public form, no detail for any role", async () => {
      const ops = opsClient(baseUrl);
      const before = await ops("GET", "/instances?status=active", { token: tokens.admin });
      expect(before.status).toBe(200);
      // Refusals that name a field keep naming it.
      const refused = await ops("GET", "/instances?limit=nope", { token: tokens.admin });
      expect(refused.status).toBe(400);
      expect(refused.json.error.message).toContain("limit");
      expect(refused.json.error.requestId).toBeUndefined();

      await db.knex.raw(`DROP TABLE "${schema}".instances CASCADE`);
      const answer = await fetch(`${baseUrl}/v1/ops/instances?status=active`, {
        headers: { authorization: `Bearer ${tokens.admin}` },
      });
      const text = await answer.text();
      expect(answer.status).toBe(500);
      const body = JSON.parse(text);
      expect(body).toEqual({
        error: {
          code: "STORE_FAILED",
          retryable: false,
          message: "the database refused or failed this request; the server's log has the cause",
          requestId: expect.stringMatching(uuid),
        },
      });
      expect(text).not.toContain(schema);
      expect(text).not.toContain("127.0.0.1");
      const line = loggedFailure(body.error.requestId);
      expect(line).toContain("capflow's tables are missing or out of date");
      expect(line).not.toContain(tokens.admin);
    });
  },
);
