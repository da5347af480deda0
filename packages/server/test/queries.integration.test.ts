import { createHmac, randomBytes } from "node:crypto";
import {
  Agent,
  createServer as createHttpServer,
  request as httpRequest,
  type Server,
} from "node:http";
import {
  type BehaviorDefinition,
  CachedQueries,
  type CallStep,
  type ChannelDefinition,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  ProcessorRegistry,
  registerBuiltinProcessors,
  systemClock,
  type UpstreamClientDefinition,
  Worker,
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
import { createServer, signedString } from "../src/index.ts";
import { databaseUrl } from "./support/test-server.ts";

const secret = "query-test-secret-0123456789";
const partnerSecret = "query-test-partner-secret-9876543210";

/** A loopback funder: trials answer at once, `/slow` holds each answer until released. */
class TrialFunder {
  readonly calls = new Map<string, number>();
  /** Per path: each channel has its own limit, and both channels' trials come here. */
  readonly inFlight = new Map<string, number>();
  readonly maxInFlight = new Map<string, number>();
  #release: (() => void)[] = [];
  #held = false;
  server: Server = createHttpServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      const { loanNo } = JSON.parse(body) as { loanNo: string };
      const key = `${request.url} ${loanNo}`;
      this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
      const path = request.url ?? "";
      const now = (this.inFlight.get(path) ?? 0) + 1;
      this.inFlight.set(path, now);
      this.maxInFlight.set(path, Math.max(this.maxInFlight.get(path) ?? 0, now));
      const done = () => this.inFlight.set(path, (this.inFlight.get(path) ?? 1) - 1);
      const reply = () => {
        done();
        response.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            status: "SUCCESS",
            due: `${loanNo.length * 100}.00`,
            mobile: "13812348000",
          }),
        );
      };
      if (request.url === "/broken") {
        done();
        response.writeHead(503, { "content-type": "application/json" }).end("{}");
      } else if (request.url === "/slow" && this.#held) this.#release.push(reply);
      else setTimeout(reply, 5);
    });
  });
  hold() {
    this.#held = true;
  }
  release() {
    this.#held = false;
    for (const reply of this.#release.splice(0)) reply();
  }
  count(path: string): number {
    let total = 0;
    for (const [key, n] of this.calls) if (key.startsWith(`${path} `)) total += n;
    return total;
  }
}

const statusTable: NonNullable<ChannelDefinition["statusTable"]> = {
  code: "body.status",
  codes: { SUCCESS: { outcome: "succeeded" }, FAIL: { outcome: "failed" } },
};

function channel(code: string, baseUrl: string): ChannelDefinition {
  return {
    code,
    name: code,
    baseUrl,
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    calendar: { cutoff: "23:30" },
    interfaces: {
      // Limits apply to queries like to any call: never more than two trials at the funder.
      "repay.trial": { method: "POST", path: `/${code}/trial`, idempotent: true, concurrency: 2 },
      "repay.slow": { method: "POST", path: "/slow", idempotent: true },
      // A funder that has broken down: its breaker opens after two failed calls.
      "repay.broken": {
        method: "POST",
        path: "/broken",
        idempotent: true,
        breaker: { failureRate: 0.5, minimumCalls: 2, sampleSize: 2, cooldown: "10m" },
      },
    },
    statusTable: structuredClone(statusTable),
    masking: { fields: { mobile: "phone" } },
  };
}

function trial(channelCode: string, code: string, iface: string): BehaviorDefinition {
  return {
    channel: channelCode,
    code,
    cache: { key: "input.loanNo", lifetime: "cutoff" },
    inputSchema: {
      type: "object",
      required: ["loanNo"],
      properties: { loanNo: { type: "string", pattern: "^L-\\d{1,6}$" } },
    },
    initial: "ask",
    steps: {
      ask: {
        kind: "call",
        interface: iface,
        request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
        response: { extract: { due: "body.due", mobile: "body.mobile" } },
        routes: [{ when: "outcome == 'succeeded'", to: "done" }],
        otherwise: "failed",
      },
      done: { kind: "terminal", outcome: "succeeded" },
      failed: { kind: "terminal", outcome: "failed" },
    },
  };
}

/** A trial of the broken-down funder; a call that fails ends the query as failed. */
const brokenTrial: BehaviorDefinition = trial("lanbank", "broken-trial", "repay.broken");
(brokenTrial.steps.ask as CallStep).onRetryExhausted = "failed";

/** Started, not queried: a behavior without a cache. */
const plainLoan: BehaviorDefinition = trial("lanbank", "loan", "repay.trial");
delete plainLoan.cache;

const platform: UpstreamClientDefinition = {
  id: "platform",
  signature: {
    algorithm: "hmac-sha256",
    key: { ref: "env:QUERY_TEST_SECRET" },
    canonical: "rawBody",
    encoding: "hex",
  },
  allowedIps: ["127.0.0.1"],
  allow: { behaviors: ["lanbank/*", "meadow/repay-trial"] },
};
/** Another upstream client allowed on the same queries. */
const partner: UpstreamClientDefinition = {
  ...platform,
  id: "partner",
  signature: { ...platform.signature, key: { ref: "env:QUERY_TEST_PARTNER_SECRET" } },
};
const secrets: Record<string, string> = { platform: secret, partner: partnerSecret };

interface Sent {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field in assertions
  body: any;
}

describe.skipIf(!databaseUrl)("synchronous queries through the intake API (PostgreSQL)", () => {
  let db: CapflowDatabase;
  let engine: Engine;
  let worker: Worker;
  const funder = new TrialFunder();
  /** Two intake nodes sharing the database, and one that waits only 300 ms for an answer. */
  const nodes: { app: FastifyInstance; port: number }[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const schema = `capflow_test_${randomBytes(5).toString("hex")}`;

  beforeAll(async () => {
    process.env.QUERY_TEST_SECRET = secret;
    process.env.QUERY_TEST_PARTNER_SECRET = partnerSecret;
    await new Promise<void>((resolve) => funder.server.listen(0, "127.0.0.1", resolve));
    const funderUrl = `http://127.0.0.1:${(funder.server.address() as { port: number }).port}`;
    db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 12 } });
    await db.migrate();
    await pushDefinitions(db, {
      channels: [channel("lanbank", funderUrl), channel("meadow", funderUrl)],
      behaviors: [
        trial("lanbank", "repay-trial", "repay.trial"),
        trial("lanbank", "slow-trial", "repay.slow"),
        brokenTrial,
        trial("meadow", "repay-trial", "repay.trial"),
        plainLoan,
      ],
      clients: [platform, partner],
    });
    engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    worker = new Worker(engine, { idleMs: 20 }).start();
    for (const queryTimeoutMs of [60_000, 60_000, 300]) {
      const app = createServer({
        log: false,
        engine,
        intake: {
          definitions: db.definitions,
          store: new KnexIntakeStore(db.knex, { schema }),
          secrets: createDefaultSecretResolver(),
          bodyLimitBytes: 1024,
          queries: new CachedQueries({
            engine,
            definitions: db.definitions,
            store: new KnexQueryCacheStore(db),
            clock: systemClock,
          }),
          queryTimeoutMs,
        },
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      nodes.push({ app, port: (app.server.address() as { port: number }).port });
    }
  }, 60_000);
  afterAll(async () => {
    for (const { app } of nodes) await app.close();
    await worker?.stop();
    await engine?.close();
    agent.destroy();
    await new Promise((resolve) => funder.server.close(resolve));
    await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
  });

  const count = async (table: string) => {
    const { rows } = (await db.knex.raw(
      `SELECT count(*)::int AS n FROM "${schema}"."${table}"`,
    )) as { rows: { n: number }[] };
    return rows[0]!.n;
  };
  const counts = async () => ({
    instances: await count("instances"),
    cached: await count("query_cache"),
    nonces: await count("intake_nonces"),
  });

  function send(port: number, headers: Record<string, string>, body: Buffer): Promise<Sent> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          agent,
          method: "POST",
          path: "/v1/queries",
          headers: { ...headers, "content-length": String(body.length) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  function signedHeaders(
    body: Buffer,
    options: {
      nonce?: string;
      timestamp?: number;
      client?: string;
      method?: string;
      path?: string;
    } = {},
  ) {
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const nonce = options.nonce ?? randomBytes(16).toString("hex");
    const client = options.client ?? "platform";
    const data = signedString({
      method: options.method ?? "POST",
      path: options.path ?? "/v1/queries",
      timestamp,
      nonce,
      body,
      fields: undefined,
      canonical: "rawBody",
    });
    return {
      "content-type": "application/json",
      "x-capflow-client": client,
      "x-capflow-timestamp": timestamp,
      "x-capflow-nonce": nonce,
      "x-capflow-signature": createHmac("sha256", secrets[client]!).update(data).digest("hex"),
    };
  }

  const ask = (node: number, value: unknown, client = "platform") => {
    const body = Buffer.from(JSON.stringify(value));
    return send(nodes[node]!.port, signedHeaders(body, { client }), body);
  };

  test("a flood of trial requests on two nodes calls the funder once per loan within its limit; another channel's queries are answered as usual", async () => {
    const loans = 20;
    const flood = Array.from({ length: 1_000 }, (_, i) =>
      ask(i % 2, {
        channel: "lanbank",
        behavior: "repay-trial",
        input: { loanNo: `L-${i % loans}` },
      }),
    );
    const others = Array.from({ length: 5 }, (_, i) =>
      ask(0, { channel: "meadow", behavior: "repay-trial", input: { loanNo: `L-${900 + i}` } }),
    );
    const answers = await Promise.all(flood);
    const otherAnswers = await Promise.all(others);

    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    for (let loan = 0; loan < loans; loan++) {
      expect(funder.calls.get(`/lanbank/trial L-${loan}`)).toBe(1);
    }
    expect(funder.count("/lanbank/trial")).toBe(loans);
    expect(funder.maxInFlight.get("/lanbank/trial")).toBeLessThanOrEqual(2);
    // One run per loan: its instance answered on both nodes, every other request from the cache.
    const runs = new Set(answers.map((a) => a.body.query.instanceId));
    expect(runs.size).toBe(loans);
    expect(answers.filter((a) => !a.body.query.cached).length).toBeLessThanOrEqual(2 * loans);
    expect(answers[7]!.body.query).toMatchObject({
      channel: "lanbank",
      behavior: "repay-trial",
      outcome: "succeeded",
      // Masked like step logs.
      result: { ask: { due: "300.00", mobile: "138****8000" } },
    });
    expect(otherAnswers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(otherAnswers.every((a) => !a.body.query.cached)).toBe(true);
    expect(funder.count("/meadow/trial")).toBe(5);
    // One instance and one cached answer per loan and channel, whatever the number of requests.
    expect(await count("instances")).toBe(loans + 5);
    expect(await count("query_cache")).toBe(loans + 5);
  }, 180_000);

  test("each client's queries are its own: another client asking the same key gets a run of its own, and cannot read the first one's", async () => {
    const value = { channel: "lanbank", behavior: "repay-trial", input: { loanNo: "L-7001" } };
    const first = await ask(0, value);
    expect(first.body.query.cached).toBe(false);
    expect((await ask(1, value)).body.query).toMatchObject({
      cached: true,
      instanceId: first.body.query.instanceId,
    });
    // Nothing of the platform's run shows in the partner's answer: not cached, not its id.
    const other = await ask(0, value, "partner");
    expect(other.status).toBe(200);
    expect(other.body.query.cached).toBe(false);
    expect(other.body.query.instanceId).not.toBe(first.body.query.instanceId);
    expect(other.body.query.result).toEqual(first.body.query.result);
    expect(funder.calls.get("/lanbank/trial L-7001")).toBe(2);
    expect((await ask(1, value, "partner")).body.query).toMatchObject({
      cached: true,
      instanceId: other.body.query.instanceId,
    });
    // The run is the asking client's instance: to another, its business key does not exist.
    const run = await engine.getInstance(first.body.query.instanceId);
    expect(run?.upstreamClient).toBe("platform");
    const path = `/v1/instances/lanbank/repay-trial/${encodeURIComponent(run!.businessKey)}`;
    const read = async (client: string) => {
      const response = await fetch(`http://127.0.0.1:${nodes[0]!.port}${path}`, {
        headers: signedHeaders(Buffer.alloc(0), { client, method: "GET", path }),
      });
      return { status: response.status, body: (await response.json()) as Sent["body"] };
    };
    expect((await read("platform")).body.instance.id).toBe(run!.id);
    const hidden = await read("partner");
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe("INSTANCE_NOT_FOUND");
  });

  test("a query that does not answer in time gets 504 QUERY_TIMEOUT; it goes on, and asking again (on any node) calls the funder no more", async () => {
    funder.hold();
    const request = { channel: "lanbank", behavior: "slow-trial", input: { loanNo: "L-77" } };
    const timedOut = await ask(2, request);
    expect(timedOut.status).toBe(504);
    expect(timedOut.body.error.code).toBe("QUERY_TIMEOUT");
    const cachedRows = await db.knex.raw(
      `SELECT count(*)::int AS n FROM "${schema}"."query_cache" WHERE behavior = 'slow-trial'`,
    );
    expect(cachedRows.rows[0].n).toBe(0);
    // Asked again on another node while the funder still holds the answer: the same run.
    const again = ask(0, request);
    funder.release();
    const answered = await again;
    expect(answered.status).toBe(200);
    expect(answered.body.query.result.ask.due).toBe("400.00");
    expect(funder.count("/slow")).toBe(1);
    const later = await ask(2, request);
    expect(later.status).toBe(200);
    expect(later.body.query.cached).toBe(true);
    expect(later.body.query.instanceId).toBe(answered.body.query.instanceId);
    expect(funder.count("/slow")).toBe(1);
  }, 60_000);

  test("once the funder's breaker opens, queries for other loans are not sent and get 503 CIRCUIT_OPEN at once", async () => {
    const broken = (loanNo: string) =>
      ask(0, { channel: "lanbank", behavior: "broken-trial", input: { loanNo } });
    // Two trials fail (HTTP 503 from the funder), and the breaker opens.
    for (const loanNo of ["L-501", "L-502"]) {
      const failed = await broken(loanNo);
      expect(failed.status).toBe(200);
      expect(failed.body.query).toMatchObject({ outcome: "failed", cached: false });
    }
    expect(funder.count("/broken")).toBe(2);
    const started = Date.now();
    const refused = await Promise.all(["L-503", "L-504", "L-503"].map(broken));
    for (const answer of refused) {
      expect(answer.status).toBe(503);
      expect(answer.body.error.code).toBe("CIRCUIT_OPEN");
    }
    // Answered without waiting for the query timeout (60 s on this node).
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(funder.count("/broken")).toBe(2);
  }, 60_000);

  test("forged, replayed, oversized, malformed and refused queries store nothing and get typed errors", async () => {
    const before = await counts();
    const valid = Buffer.from(
      JSON.stringify({ channel: "lanbank", behavior: "repay-trial", input: { loanNo: "L-500" } }),
    );

    const forged = await send(
      nodes[0]!.port,
      { ...signedHeaders(valid), "x-capflow-signature": "00".repeat(32) },
      valid,
    );
    expect([forged.status, forged.body.error.code]).toEqual([401, "AUTH_REQUIRED"]);

    const unknownClient = await send(
      nodes[0]!.port,
      { ...signedHeaders(valid), "x-capflow-client": "nobody" },
      valid,
    );
    expect([unknownClient.status, unknownClient.body.error.code]).toEqual([401, "AUTH_REQUIRED"]);

    const stale = await send(
      nodes[0]!.port,
      signedHeaders(valid, { timestamp: Math.floor(Date.now() / 1000) - 3600 }),
      valid,
    );
    expect([stale.status, stale.body.error.code]).toEqual([401, "AUTH_REQUIRED"]);

    const big = Buffer.from(
      JSON.stringify({
        channel: "lanbank",
        behavior: "repay-trial",
        input: { loanNo: "L-1", pad: "x".repeat(2_000) },
      }),
    );
    const oversized = await send(nodes[0]!.port, signedHeaders(big), big);
    expect([oversized.status, oversized.body.error.code]).toEqual([413, "REQUEST_TOO_LARGE"]);

    const broken = Buffer.from('{"channel":"lanbank",');
    const malformed = await send(nodes[0]!.port, signedHeaders(broken), broken);
    expect([malformed.status, malformed.body.error.code]).toEqual([400, "REQUEST_INVALID"]);
    // Nothing stored so far, not even a nonce.
    expect(await counts()).toEqual(before);

    // A signed, fresh request is answered; the same bytes and nonce again are a replay.
    const headers = signedHeaders(valid);
    expect((await send(nodes[0]!.port, headers, valid)).status).toBe(200);
    const afterOne = await counts();
    const replayed = await send(nodes[1]!.port, headers, valid);
    expect([replayed.status, replayed.body.error.code]).toEqual([401, "AUTH_REQUIRED"]);

    const refusals: [unknown, number, string][] = [
      [{ channel: "lanbank", behavior: "repay-trial" }, 400, "REQUEST_INVALID"],
      [
        { channel: "lanbank", behavior: "repay-trial", input: {}, businessKey: "x" },
        400,
        "REQUEST_INVALID",
      ],
      [
        { channel: "meadow", behavior: "slow-trial", input: { loanNo: "L-1" } },
        403,
        "AUTH_FORBIDDEN",
      ],
      [{ channel: "lanbank", behavior: "loan", input: { loanNo: "L-1" } }, 400, "REQUEST_INVALID"],
      [{ channel: "lanbank", behavior: "nothing", input: {} }, 404, "DEFINITION_NOT_FOUND"],
      [
        { channel: "lanbank", behavior: "repay-trial", input: { loanNo: "not a loan" } },
        400,
        "INSTANCE_INPUT_INVALID",
      ],
    ];
    for (const [body, status, code] of refusals) {
      const refused = await ask(0, body);
      expect([refused.status, refused.body.error.code], JSON.stringify(body)).toEqual([
        status,
        code,
      ]);
    }
    const invalid = await ask(0, {
      channel: "lanbank",
      behavior: "repay-trial",
      input: { loanNo: "not a loan" },
    });
    expect(invalid.body.error.problems).toEqual([
      { pointer: "/loanNo", message: expect.stringContaining("pattern") },
    ]);
    const after = await counts();
    // The refused requests were signed and fresh: their nonces are kept, nothing else.
    expect({ instances: after.instances, cached: after.cached }).toEqual({
      instances: afterOne.instances,
      cached: afterOne.cached,
    });
  }, 60_000);
});
