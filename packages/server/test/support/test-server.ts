import { randomBytes } from "node:crypto";
import {
  createEngine,
  type Engine,
  type OperatorRole,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { type CreateServerOptions, createServer, issueOperatorToken } from "../../src/index.ts";
import { orderBehavior, shopChannel } from "./shop-definitions.ts";

/** Set by CI; integration tests skip (saying so) without it. */
export const databaseUrl = process.env.DATABASE_URL;

export const skipMessage =
  "server integration tests skipped: set DATABASE_URL (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test) to run them";

if (!databaseUrl) console.warn(skipMessage);

/** A token per role, made in the test server's store. */
export async function tokensByRole(db: CapflowDatabase) {
  const make = async (role: OperatorRole) =>
    (
      await issueOperatorToken(db.operatorTokens, {
        name: `test-${role}`,
        role,
        reason: `tests as ${role}`,
      })
    ).token;
  return {
    viewer: await make("viewer"),
    operator: await make("operator"),
    admin: await make("admin"),
  };
}

/** What `opsClient` answers: status, headers and the JSON body, read loosely. */
export interface OpsAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read loosely
  json: any;
}

export type OpsClient = (
  method: string,
  path: string,
  options?: { token?: string; body?: unknown; headers?: Record<string, string> },
) => Promise<OpsAnswer>;

/** fetch with an operator token and a JSON body. */
export function opsClient(baseUrl: string): OpsClient {
  return async (method, path, options = {}) => {
    const answer = await fetch(`${baseUrl}/v1/ops${path}`, {
      method,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
        ...options.headers,
      },
      ...(options.body === undefined
        ? {}
        : { body: typeof options.body === "string" ? options.body : JSON.stringify(options.body) }),
    });
    const text = await answer.text();
    const json: unknown = text === "" ? undefined : JSON.parse(text);
    return { status: answer.status, headers: answer.headers, json };
  };
}

export interface TestServer {
  app: FastifyInstance;
  db: CapflowDatabase;
  engine: Engine;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Closes the server, the engine, and drops the schema. */
  close(): Promise<void>;
}

/**
 * capflow's server listening on loopback over a fresh PostgreSQL schema holding the shop
 * definitions (`shop-definitions.ts`).
 */
export async function startTestServer(
  options: Omit<CreateServerOptions, "engine"> = {},
): Promise<TestServer> {
  if (!databaseUrl) throw new Error(skipMessage);
  const schema = `capflow_test_${randomBytes(5).toString("hex")}`;
  const db = openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: 4 } });
  await db.migrate();
  await pushDefinitions(db, { channels: [shopChannel], behaviors: [orderBehavior] });
  const engine = createEngine({
    store: db.instances,
    definitions: db.definitions,
    processors: registerBuiltinProcessors(new ProcessorRegistry()),
  });
  const app = createServer({
    log: false,
    store: db.instances,
    definitions: db.definitions,
    operators: { tokens: db.operatorTokens },
    ...options,
    engine,
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("not listening on TCP");
  return {
    app,
    db,
    engine,
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    async close() {
      await app.close();
      await engine.close();
      await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    },
  };
}
