import { createHmac, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { request as httpRequest } from "node:http";
import {
  type BehaviorDefinition,
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
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createServer, signedString } from "../src/index.ts";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import { databaseUrl } from "./support/test-server.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
const hmacSecret = "intake-test-secret-0123456789";

const orderWithSchema: BehaviorDefinition = {
  ...orderBehavior,
  inputSchema: {
    type: "object",
    required: ["mobile", "amount"],
    properties: {
      mobile: { type: "string", pattern: "^1\\d{10}$" },
      amount: { type: "integer", minimum: 1 },
    },
  },
};

const platform: UpstreamClientDefinition = {
  id: "platform",
  signature: { algorithm: "rsa-sha256", key: { ref: "env:INTAKE_TEST_PLATFORM_KEY" } },
  allowedIps: ["127.0.0.0/8", "::1/128"],
  replayWindow: "5m",
  idempotencyKeyLifetime: "1h",
  allow: { behaviors: ["shop/order"] },
  notify: { url: "https://platform.example.test/notify" },
};
const partner: UpstreamClientDefinition = {
  id: "partner",
  signature: {
    algorithm: "hmac-sha256",
    key: { ref: "env:INTAKE_TEST_PARTNER_SECRET" },
    canonical: "rawBody",
    encoding: "hex",
  },
  allowedIps: ["127.0.0.1"],
  allow: { behaviors: ["shop/*"] },
};
const elsewhere: UpstreamClientDefinition = {
  ...platform,
  id: "elsewhere",
  allowedIps: ["10.0.0.0/8", "2001:db8::/32"],
};

interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field in assertions
  body: any;
}

describe.skipIf(!databaseUrl)("intake API over HTTP (PostgreSQL)", () => {
  let db: CapflowDatabase;
  let engine: Engine;
  let app: FastifyInstance;
  let port: number;
  let clock = Date.now();
  const schema = `capflow_test_${randomBytes(5).toString("hex")}`;

  beforeAll(async () => {
    process.env.INTAKE_TEST_PLATFORM_KEY = publicPem;
    process.env.INTAKE_TEST_PARTNER_SECRET = hmacSecret;
    db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 6 } });
    await db.migrate();
    await pushDefinitions(db, {
      channels: [shopChannel],
      behaviors: [orderWithSchema],
      clients: [platform, partner, elsewhere],
    });
    engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    app = createServer({
      log: false,
      engine,
      intake: {
        definitions: db.definitions,
        store: new KnexIntakeStore(db.knex, { schema }),
        secrets: createDefaultSecretResolver(),
        bodyLimitBytes: 2048,
        pendingWaitMs: 3_000,
        now: () => clock,
      },
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    port = (app.server.address() as { port: number }).port;
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await engine?.close();
    await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
  });
  beforeEach(() => {
    clock = Date.now();
  });

  const count = async (table: string) => {
    const { rows } = (await db.knex.raw(
      `SELECT count(*)::int AS n FROM "${schema}"."${table}"`,
    )) as {
      rows: { n: number }[];
    };
    return rows[0]!.n;
  };
  const counts = async () => ({
    instances: await count("instances"),
    nonces: await count("intake_nonces"),
    keys: await count("intake_requests"),
  });

  /** Sends raw bytes with the given headers over a plain HTTP request on loopback. */
  function send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
  ): Promise<Sent> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          headers: { ...headers, ...(body ? { "content-length": String(body.length) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: text ? JSON.parse(text) : undefined,
            });
          });
        },
      );
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }

  interface SignOptions {
    client?: string;
    timestamp?: number;
    nonce?: string;
    key?: "rsa" | "hmac";
    idempotencyKey?: string;
    tamper?: (signature: string) => string;
  }

  /** Signs like an upstream client: RSA over sorted fields, or HMAC over the raw body. */
  function signed(method: string, path: string, value: unknown, options: SignOptions = {}) {
    const body = value === undefined ? undefined : Buffer.from(JSON.stringify(value), "utf8");
    const timestamp = String(options.timestamp ?? Math.floor(clock / 1000));
    const nonce = options.nonce ?? randomBytes(16).toString("hex");
    const hmac = options.key === "hmac";
    const data = signedString({
      method,
      path,
      timestamp,
      nonce,
      body: body ?? Buffer.alloc(0),
      fields: value as Record<string, unknown> | undefined,
      canonical: hmac ? "rawBody" : "sortedFields",
    });
    let signature = hmac
      ? createHmac("sha256", hmacSecret).update(data).digest("hex")
      : sign("sha256", data, privateKey).toString("base64");
    if (options.tamper) signature = options.tamper(signature);
    const headers: Record<string, string> = {
      "x-capflow-client": options.client ?? (hmac ? "partner" : "platform"),
      "x-capflow-timestamp": timestamp,
      "x-capflow-nonce": nonce,
      "x-capflow-signature": signature,
      ...(body ? { "content-type": "application/json" } : {}),
      ...(options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {}),
    };
    return { headers, body, nonce };
  }

  const start = (
    businessKey: string,
    input: Record<string, unknown> = { mobile: "13800138000", amount: 100 },
  ) => ({
    channel: "shop",
    behavior: "order",
    businessKey,
    input,
  });

  const post = (value: unknown, options: SignOptions = {}) => {
    const request = signed("POST", "/v1/instances", value, options);
    return send("POST", "/v1/instances", request.headers, request.body);
  };

  test("a signed start is accepted, and the instance is read back with its status and masked result", async () => {
    const answer = await post(start("A-1"));
    expect(answer.status).toBe(200);
    expect(answer.body.instance).toMatchObject({
      channel: "shop",
      behavior: "order",
      businessKey: "A-1",
      status: "waiting",
      step: "wait",
      outcome: null,
    });
    // Notifications about it go to the client that started it.
    const stored = await engine.getInstance(answer.body.instance.id);
    expect(stored?.upstreamClient).toBe("platform");
    const read = signed("GET", "/v1/instances/shop/order/A-1", undefined);
    const got = await send("GET", "/v1/instances/shop/order/A-1", read.headers);
    expect(got.status).toBe(200);
    expect(got.body.instance.id).toBe(answer.body.instance.id);
    const missing = signed("GET", "/v1/instances/shop/order/NOPE", undefined);
    const none = await send("GET", "/v1/instances/shop/order/NOPE", missing.headers);
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe("INSTANCE_NOT_FOUND");
  });

  test("HMAC over the raw body bytes is accepted too", async () => {
    const answer = await post(start("H-1"), { key: "hmac" });
    expect(answer.status).toBe(200);
    expect(answer.body.instance.businessKey).toBe("H-1");
  });

  test("refusals at the door store nothing", async () => {
    const before = await counts();
    const refusals: [string, Promise<Sent>, number, string][] = [
      [
        "forged signature",
        post(start("F-1"), { tamper: (s) => `${s.slice(0, -4)}AAA=` }),
        401,
        "AUTH_REQUIRED",
      ],
      [
        "signature of another body",
        (async () => {
          const request = signed("POST", "/v1/instances", start("F-2"));
          const other = Buffer.from(JSON.stringify(start("F-3")));
          return send("POST", "/v1/instances", request.headers, other);
        })(),
        401,
        "AUTH_REQUIRED",
      ],
      [
        "stale timestamp",
        post(start("F-4"), { timestamp: Math.floor(clock / 1000) - 301 }),
        401,
        "AUTH_REQUIRED",
      ],
      [
        "timestamp from the future",
        post(start("F-5"), { timestamp: Math.floor(clock / 1000) + 301 }),
        401,
        "AUTH_REQUIRED",
      ],
      ["unknown client", post(start("F-6"), { client: "nobody" }), 401, "AUTH_REQUIRED"],
      [
        "outside the allow-list",
        post(start("F-7"), { client: "elsewhere" }),
        403,
        "AUTH_FORBIDDEN",
      ],
      [
        "unsigned",
        send(
          "POST",
          "/v1/instances",
          { "x-capflow-client": "platform", "content-type": "application/json" },
          Buffer.from(JSON.stringify(start("F-8"))),
        ),
        401,
        "AUTH_REQUIRED",
      ],
      [
        "oversized body",
        post(start("F-9", { mobile: "13800138000", amount: 1, pad: "x".repeat(4096) })),
        413,
        "REQUEST_TOO_LARGE",
      ],
      [
        "malformed JSON",
        (async () => {
          const request = signed("POST", "/v1/instances", start("F-10"));
          return send("POST", "/v1/instances", request.headers, Buffer.from('{"channel":'));
        })(),
        400,
        "REQUEST_INVALID",
      ],
    ];
    for (const [what, pending, status, code] of refusals) {
      const answer = await pending;
      expect({ what, status: answer.status, code: answer.body?.error?.code }).toEqual({
        what,
        status,
        code,
      });
    }
    expect(await counts()).toEqual(before);
  });

  test("a NUL character inside the input is refused with 400 naming the field, and nothing is stored", async () => {
    const before = await counts();
    const input = { mobile: "13800138000", amount: 100, customer: { name: "Li\u0000Lei" } };
    for (const options of [{}, { key: "hmac" as const, idempotencyKey: "nul-1" }]) {
      const answer = await post(start("NUL-1", input), options);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toEqual({
        code: "INSTANCE_INPUT_INVALID",
        message:
          "the field input.customer.name holds a NUL character (U+0000), which cannot be stored; send the request without it",
      });
    }
    const inList = await post(
      start("NUL-2", { mobile: "13800138000", amount: 100, tags: ["a", "\u0000"] }),
    );
    expect(inList.body.error.message).toMatch(/^the field input\.tags\[1\] holds a NUL/);
    // Only the nonces of the requests: no instance, no idempotency key kept.
    const after = await counts();
    expect(after).toEqual({ ...before, nonces: before.nonces + 3 });
    expect(
      await engine.findInstance({ channel: "shop", behavior: "order", businessKey: "NUL-1" }),
    ).toBeUndefined();
  });

  test("a replayed nonce is refused and stores nothing more", async () => {
    const request = signed("POST", "/v1/instances", start("R-1"));
    const first = await send("POST", "/v1/instances", request.headers, request.body);
    expect(first.status).toBe(200);
    const before = await counts();
    const replay = await send("POST", "/v1/instances", request.headers, request.body);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toMatchObject({ code: "AUTH_REQUIRED" });
    expect(replay.body.error.message).toMatch(/nonce was used before/);
    expect(await counts()).toEqual(before);
  });

  test("a behavior the client may not start is forbidden", async () => {
    const before = await counts();
    const answer = await post({ ...start("X-1"), behavior: "other" });
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe("AUTH_FORBIDDEN");
    expect((await counts()).instances).toBe(before.instances);
  });

  test("schema errors are listed by field, and nothing is started", async () => {
    const before = await counts();
    const answer = await post(start("S-1", { mobile: "12", amount: "100" }), {
      idempotencyKey: "key-s-1",
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe("INSTANCE_INPUT_INVALID");
    expect(answer.body.error.problems).toEqual([
      { pointer: "/mobile", message: 'must match pattern "^1\\d{10}$"' },
      { pointer: "/amount", message: "must be an integer" },
    ]);
    expect(JSON.stringify(answer.body)).not.toContain('"12"');
    const after = await counts();
    expect(after.instances).toBe(before.instances);
    // The key stays free for the corrected request.
    expect(after.keys).toBe(before.keys);
    const fixed = await post(start("S-1"), { idempotencyKey: "key-s-1" });
    expect(fixed.status).toBe(200);
  });

  test("an idempotent repeat replays the stored answer; the same key with another body is refused", async () => {
    const first = await post(start("I-1"), { idempotencyKey: "key-i-1" });
    expect(first.status).toBe(200);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const before = await counts();
    const repeat = await post(start("I-1"), { idempotencyKey: "key-i-1" });
    expect(repeat.status).toBe(200);
    expect(repeat.headers["idempotent-replayed"]).toBe("true");
    expect(repeat.body).toEqual(first.body);
    const other = await post(start("I-2"), { idempotencyKey: "key-i-1" });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    const after = await counts();
    expect(after.instances).toBe(before.instances);
    expect(after.keys).toBe(before.keys);
  });

  test("concurrent duplicates: one runs, the others replay its answer", async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => post(start("C-1"), { idempotencyKey: "key-c-1" })),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.instance.id)).size).toBe(1);
    expect(answers.filter((a) => a.headers["idempotent-replayed"] === "true")).toHaveLength(4);
  });

  test("a key expires after the client's lifetime and is then taken anew", async () => {
    const first = await post(start("E-1"), { idempotencyKey: "key-e-1" });
    expect(first.status).toBe(200);
    clock += 61 * 60_000;
    const later = await post(start("E-2"), { idempotencyKey: "key-e-1" });
    expect(later.status).toBe(200);
    expect(later.headers["idempotent-replayed"]).toBeUndefined();
    expect(later.body.instance.businessKey).toBe("E-2");
  });

  test("a key left pending by a request that died is taken over after a minute", async () => {
    const store = new KnexIntakeStore(db.knex, { schema });
    const at = Date.now();
    const claim = (now: number) =>
      store.claimKey({
        client: "platform",
        key: "orphan",
        bodyDigest: "d",
        expiresAt: now + 3_600_000,
        now,
      });
    expect(await claim(at)).toEqual({ state: "claimed" });
    expect(await claim(at + 30_000)).toEqual({ state: "pending", bodyDigest: "d" });
    expect(await claim(at + 61_000)).toEqual({ state: "claimed" });
  });

  test("expired nonces and keys are purged; live ones are kept", async () => {
    const store = new KnexIntakeStore(db.knex, { schema });
    const at = Date.now() + 48 * 60 * 60_000;
    expect(await store.useNonce("platform", "live-nonce-00000001", at + 60_000, at)).toBe(true);
    expect(
      await store.claimKey({
        client: "platform",
        key: "live",
        bodyDigest: "d",
        expiresAt: at + 60_000,
        now: at,
      }),
    ).toEqual({ state: "claimed" });
    expect(await store.purgeExpired(at)).toBeGreaterThan(0);
    expect(await count("intake_nonces")).toBe(1);
    expect(await count("intake_requests")).toBe(1);
  });
});
