import {
  CapflowError,
  createDefaultSecretResolver,
  type DefinitionSource,
  type IntakeStore,
  type SecretResolver,
  type UpstreamClientDefinition,
} from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { replyWithError, toRequestError } from "../http/error-reply.ts";
import { type ClientChecks, clientChecks } from "./client-verifier.ts";
import { isSetUpRefusal, sendPublicRefusal } from "./public-refusal.ts";
import { signedString } from "./signed-string.ts";

/** Request headers of the intake API's signature scheme. */
export const intakeHeaders = {
  client: "x-capflow-client",
  timestamp: "x-capflow-timestamp",
  nonce: "x-capflow-nonce",
  signature: "x-capflow-signature",
  idempotencyKey: "idempotency-key",
} as const;

/** What the checks settle about a request that passed them. */
export interface AuthenticatedRequest {
  client: UpstreamClientDefinition;
  checks: ClientChecks;
  raw: Buffer;
  json: unknown;
}

export interface IntakeCheckOptions {
  definitions: DefinitionSource;
  store: IntakeStore;
  secrets?: SecretResolver;
  bodyLimitBytes?: number;
  now?: () => number;
}

const defaultReplayWindowMs = 5 * 60_000;
const noncePattern = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Installs the intake API's checks on a plugin's scope, in this order, refusing before anything
 * is stored: the client's IP allow-list (before the body is read), body size, the signature over
 * the exact body bytes, the timestamp's window, the nonce (stored once, shared by every node).
 * Every route of the scope (starts, reads, queries) gets the same checks. Returns how a route
 * reads what the checks settled.
 */
export function installIntakeChecks(
  app: FastifyInstance,
  options: IntakeCheckOptions,
): (request: FastifyRequest) => AuthenticatedRequest {
  const now = options.now ?? Date.now;
  const secrets = options.secrets ?? createDefaultSecretResolver();
  const bodyLimit = options.bodyLimitBytes ?? 64 * 1024;
  const seen = new WeakMap<FastifyRequest, AuthenticatedRequest>();
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
    if (isSetUpRefusal(failure)) return sendPublicRefusal(request, reply, failure);
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

  return (request) => {
    const authenticated = seen.get(request);
    if (authenticated === undefined) {
      throw new CapflowError("AUTH_REQUIRED", "the request was not authenticated");
    }
    return authenticated;
  };
}

/** Refuses a behavior or product the client's `allow` does not list (403 `AUTH_FORBIDDEN`). */
export function checkAllowed(
  client: UpstreamClientDefinition,
  target: { channel: string; behavior: string } | { product: string },
): void {
  const allowed =
    "product" in target
      ? (client.allow.products ?? []).includes(target.product)
      : (client.allow.behaviors ?? []).some(
          (entry) =>
            entry === `${target.channel}/${target.behavior}` || entry === `${target.channel}/*`,
        );
  if (!allowed) {
    const what =
      "product" in target ? `product "${target.product}"` : `${target.channel}/${target.behavior}`;
    throw new CapflowError(
      "AUTH_FORBIDDEN",
      `client "${client.id}" may not start, read or query ${what}; add it to the client's "allow"`,
    );
  }
}

export function answer(reply: FastifyReply, result: { status: number; body: unknown }) {
  return reply.code(result.status).type("application/json; charset=utf-8").send(result.body);
}

export function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function durationOr(value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value);
}
