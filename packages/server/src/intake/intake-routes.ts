import { createHash } from "node:crypto";
import {
  CapflowError,
  createDefaultSecretResolver,
  type DefinitionSource,
  type Engine,
  type InstanceRecord,
  type IntakeStore,
  isSettled,
  maskFields,
  type SecretResolver,
  type UpstreamClientDefinition,
} from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { replyWithError, toRequestError } from "../http/error-reply.ts";
import { type ClientChecks, clientChecks } from "./client-verifier.ts";
import { signedString } from "./signed-string.ts";

/** The intake API's settings (`createServer({ intake })`). */
export interface IntakeOptions {
  /** Where upstream client definitions are read: the store's definition source (`db.definitions`). */
  definitions: DefinitionSource;
  /** Nonces and idempotency keys: `KnexIntakeStore` on PostgreSQL, or `MemoryIntakeStore`. */
  store: IntakeStore;
  /** Resolves the clients' key references. Default: `env:` and `file:` references. */
  secrets?: SecretResolver;
  /** Largest intake request body, in bytes; a larger one gets 413. Default 64 KiB. */
  bodyLimitBytes?: number;
  /**
   * How long a request waits for another one with the same `Idempotency-Key` that is still being
   * answered, before 409 `IDEMPOTENCY_KEY_IN_USE`. Default 5 000 ms.
   */
  pendingWaitMs?: number;
  /** Epoch milliseconds; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

interface IntakeRouteOptions extends IntakeOptions {
  engine: Engine;
}

/** Request headers of the intake API's signature scheme. */
export const intakeHeaders = {
  client: "x-capflow-client",
  timestamp: "x-capflow-timestamp",
  nonce: "x-capflow-nonce",
  signature: "x-capflow-signature",
  idempotencyKey: "idempotency-key",
} as const;

interface Authenticated {
  client: UpstreamClientDefinition;
  checks: ClientChecks;
  raw: Buffer;
  json: unknown;
}

const defaultReplayWindowMs = 5 * 60_000;
const defaultKeyLifetimeMs = 24 * 60 * 60_000;
const noncePattern = /^[A-Za-z0-9_-]{16,64}$/;
const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * The intake API for upstream systems, under `/v1/instances`: `POST /v1/instances` starts an
 * instance (of a behavior on a channel, or of a product), `GET
 * /v1/instances/:channel/:behavior/:businessKey` reads one. Every request is checked in this
 * order, and refused before anything is stored: the client's IP allow-list (before the body is
 * read), body size, the signature over the exact body bytes, the timestamp's window, the nonce
 * (stored once, shared by every node); then `Idempotency-Key`. docs/serving.md has the details.
 */
export async function intakeRoutes(app: FastifyInstance, options: IntakeRouteOptions) {
  const now = options.now ?? Date.now;
  const secrets = options.secrets ?? createDefaultSecretResolver();
  const bodyLimit = options.bodyLimitBytes ?? 64 * 1024;
  const pendingWaitMs = options.pendingWaitMs ?? 5_000;
  const seen = new WeakMap<FastifyRequest, Authenticated>();
  const clients = new WeakMap<
    FastifyRequest,
    { client: UpstreamClientDefinition; checks: ClientChecks }
  >();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ["application/json"],
    { parseAs: "buffer", bodyLimit },
    (_request, body, done) => done(null, body),
  );
  app.setErrorHandler((error, request, reply) => {
    const failure = toRequestError(error);
    if (failure.code === "INSTANCE_INPUT_INVALID" && Array.isArray(failure.context.problems)) {
      request.log.info({ code: failure.code }, "request refused");
      return reply
        .code(400)
        .type("application/json; charset=utf-8")
        .send({
          error: {
            code: failure.code,
            message: failure.message,
            problems: failure.context.problems,
          },
        });
    }
    return replyWithError(error, request, reply);
  });

  // 1. Who is calling, and from where: before a byte of the body is read.
  app.addHook("onRequest", async (request) => {
    const id = headerOf(request, intakeHeaders.client);
    const loaded = id === undefined ? undefined : await options.definitions.getClient(id);
    if (loaded === undefined) {
      throw new CapflowError(
        "AUTH_REQUIRED",
        `unknown client${id === undefined ? "" : ` "${id}"`}: send your client id in X-Capflow-Client, as registered in a *.client.json definition`,
      );
    }
    const checks = await clientChecks(loaded, secrets);
    if (!checks.allowList.allows(request.ip)) {
      throw new CapflowError(
        "AUTH_FORBIDDEN",
        `client "${loaded.definition.id}" may not call from ${request.ip}; add the address to its allowedIps`,
      );
    }
    clients.set(request, { client: loaded.definition, checks });
  });

  // 2. The signature over the exact bytes, the timestamp's window, the nonce.
  app.addHook("preValidation", async (request) => {
    const { client, checks } = clients.get(request)!;
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    let json: unknown;
    if (raw.length > 0) {
      try {
        json = JSON.parse(raw.toString("utf8"));
      } catch {
        throw new CapflowError("REQUEST_INVALID", "the body is not valid JSON; send a JSON object");
      }
    }
    const timestamp = headerOf(request, intakeHeaders.timestamp);
    const nonce = headerOf(request, intakeHeaders.nonce);
    const signature = headerOf(request, intakeHeaders.signature);
    if (timestamp === undefined || nonce === undefined || signature === undefined) {
      throw new CapflowError(
        "AUTH_REQUIRED",
        "sign the request: X-Capflow-Timestamp, X-Capflow-Nonce and X-Capflow-Signature are required",
      );
    }
    if (!/^\d{1,12}$/.test(timestamp) || !noncePattern.test(nonce)) {
      throw new CapflowError(
        "AUTH_REQUIRED",
        "X-Capflow-Timestamp must be Unix seconds and X-Capflow-Nonce 16 to 64 letters, digits, _ or -",
      );
    }
    const fields =
      typeof json === "object" && json !== null && !Array.isArray(json)
        ? (json as Record<string, unknown>)
        : undefined;
    const data = signedString({
      method: request.method,
      path: request.url,
      timestamp,
      nonce,
      body: raw,
      fields,
      canonical: client.signature.canonical ?? "sortedFields",
    });
    if (!(await checks.verify(data, signature))) {
      throw new CapflowError(
        "AUTH_REQUIRED",
        `the signature does not verify with the key of client "${client.id}"; sign METHOD, path, timestamp, nonce and body as docs/serving.md shows`,
      );
    }
    const at = now();
    const windowMs = durationOr(client.replayWindow, defaultReplayWindowMs);
    const skew = Math.abs(at - Number(timestamp) * 1000);
    if (skew > windowMs) {
      throw new CapflowError(
        "AUTH_REQUIRED",
        `the request's timestamp is ${Math.round(skew / 1000)} s from the server's clock, more than the ${Math.round(windowMs / 1000)} s allowed; check the client's clock and sign a new request`,
      );
    }
    // Remembered for as long as a request with this timestamp could be accepted, and then some.
    if (!(await options.store.useNonce(client.id, nonce, at + 2 * windowMs, at))) {
      throw new CapflowError(
        "AUTH_REQUIRED",
        "this nonce was used before: the request is a replay; sign every request with a new nonce",
      );
    }
    seen.set(request, { client, checks, raw, json });
  });

  app.post("/", { bodyLimit }, async (request, reply) => {
    const { client, raw, json } = seen.get(request)!;
    const start = { ...readStartRequest(json), upstreamClient: client.id };
    checkAllowed(client, start);
    const key = headerOf(request, intakeHeaders.idempotencyKey);
    if (key === undefined) return answer(reply, await startAndView(start));
    if (!idempotencyKeyPattern.test(key)) {
      throw new CapflowError(
        "REQUEST_INVALID",
        "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID will do)",
      );
    }
    const bodyDigest = createHash("sha256").update(raw).digest("hex");
    const lifetime = durationOr(client.idempotencyKeyLifetime, defaultKeyLifetimeMs);
    const deadline = now() + pendingWaitMs;
    for (;;) {
      const at = now();
      const state = await options.store.claimKey({
        client: client.id,
        key,
        bodyDigest,
        expiresAt: at + lifetime,
        now: at,
      });
      if (state.state !== "claimed" && state.bodyDigest !== bodyDigest) {
        throw new CapflowError(
          "IDEMPOTENCY_KEY_REUSED",
          "this Idempotency-Key was used with another request body; use a new key for a new request",
        );
      }
      if (state.state === "answered") {
        reply.header("idempotent-replayed", "true");
        return answer(reply, state.answer);
      }
      if (state.state === "claimed") break;
      if (now() >= deadline) {
        throw new CapflowError(
          "IDEMPOTENCY_KEY_IN_USE",
          "a request with this Idempotency-Key is still being answered; send it again shortly",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    let result: { status: number; body: unknown };
    try {
      result = await startAndView(start);
    } catch (error) {
      // Nothing was started: the key stays free, and a corrected request may use it.
      await options.store.releaseKey(client.id, key);
      throw error;
    }
    await options.store.saveAnswer(client.id, key, result);
    return answer(reply, result);
  });

  app.get<{ Params: { channel: string; behavior: string; businessKey: string } }>(
    "/:channel/:behavior/:businessKey",
    async (request, reply) => {
      const { client } = seen.get(request)!;
      const { channel, behavior, businessKey } = request.params;
      checkAllowed(client, { channel, behavior, businessKey, input: {} });
      const instance = await options.engine.findInstance({ channel, behavior, businessKey });
      if (instance === undefined) {
        throw new CapflowError(
          "INSTANCE_NOT_FOUND",
          `no instance of ${channel}/${behavior} for business key ${businessKey}`,
        );
      }
      return answer(reply, { status: 200, body: { instance: await viewOf(instance) } });
    },
  );

  const purge = setInterval(() => {
    options.store.purgeExpired(now()).catch((error: unknown) => {
      app.log.warn({ err: error }, "could not purge expired intake nonces and keys");
    });
  }, 10 * 60_000);
  purge.unref();
  app.addHook("onClose", async () => clearInterval(purge));

  async function startAndView(start: StartBody) {
    const instance = await options.engine.start(start);
    return { status: 200, body: { instance: await viewOf(instance) } };
  }

  /** The instance as the client sees it: its extracted fields masked as in step logs. */
  async function viewOf(instance: InstanceRecord) {
    const [channel, behavior] = await Promise.all([
      options.definitions.getChannel(instance.channel),
      options.definitions.getBehavior(
        instance.channel,
        instance.behavior,
        instance.behaviorVersion,
      ),
    ]);
    const rules = {
      fields: {
        ...(channel?.definition.masking?.fields ?? {}),
        ...(behavior?.definition.masking?.fields ?? {}),
      },
    };
    const settled = isSettled(instance.status);
    return {
      id: instance.id,
      channel: instance.channel,
      behavior: instance.behavior,
      businessKey: instance.businessKey,
      product: instance.product,
      status: instance.status,
      step: instance.step,
      outcome: settled ? instance.status : null,
      result: maskFields(instance.context, rules),
      error: instance.lastError,
      createdAt: new Date(instance.createdAt).toISOString(),
      updatedAt: new Date(instance.updatedAt).toISOString(),
    };
  }
}

type StartBody =
  | { channel: string; behavior: string; businessKey: string; input: Record<string, unknown> }
  | { product: string; businessKey: string; input: Record<string, unknown> };

function readStartRequest(json: unknown): StartBody {
  const invalid = (message: string) => new CapflowError("REQUEST_INVALID", message);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw invalid(
      'send a JSON object: { "channel", "behavior", "businessKey", "input" } or { "product", "businessKey", "input" }',
    );
  }
  const body = json as Record<string, unknown>;
  const allowed = new Set(["channel", "behavior", "product", "businessKey", "input"]);
  const unknown = Object.keys(body).filter((name) => !allowed.has(name));
  if (unknown.length > 0) throw invalid(`unknown field "${unknown[0]}"; remove it`);
  const text = (name: string, max: number) => {
    const value = body[name];
    if (typeof value !== "string" || value.length === 0 || value.length > max) {
      throw invalid(`"${name}" must be a string of 1 to ${max} characters`);
    }
    return value;
  };
  const businessKey = text("businessKey", 128);
  const input = body.input;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw invalid('"input" must be a JSON object');
  }
  if (body.product !== undefined) {
    if (body.channel !== undefined || body.behavior !== undefined) {
      throw invalid('send either "product" or "channel" and "behavior", not both');
    }
    return { product: text("product", 64), businessKey, input: input as Record<string, unknown> };
  }
  return {
    channel: text("channel", 64),
    behavior: text("behavior", 64),
    businessKey,
    input: input as Record<string, unknown>,
  };
}

function checkAllowed(client: UpstreamClientDefinition, start: StartBody): void {
  const allowed =
    "product" in start
      ? (client.allow.products ?? []).includes(start.product)
      : (client.allow.behaviors ?? []).some(
          (entry) =>
            entry === `${start.channel}/${start.behavior}` || entry === `${start.channel}/*`,
        );
  if (!allowed) {
    const what =
      "product" in start ? `product "${start.product}"` : `${start.channel}/${start.behavior}`;
    throw new CapflowError(
      "AUTH_FORBIDDEN",
      `client "${client.id}" may not start or read ${what}; add it to the client's "allow"`,
    );
  }
}

function answer(reply: FastifyReply, result: { status: number; body: unknown }) {
  return reply.code(result.status).type("application/json; charset=utf-8").send(result.body);
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function durationOr(value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value);
}
