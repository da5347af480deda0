import { createHash } from "node:crypto";
import {
  type CachedQueries,
  CapflowError,
  type DefinitionSource,
  type Engine,
  type InstanceRecord,
  type IntakeStore,
  isSettled,
  maskFields,
  type QueuedStart,
  type SecretResolver,
  type StartQueue,
} from "@capflow/core";
import { checkSameClient, publicError, visibleToClient } from "@capflow/core/internal";
import type { FastifyInstance } from "fastify";
import { refuseNulCharacters } from "../http/nul-characters.ts";
import {
  answer,
  checkAllowed,
  durationOr,
  headerOf,
  installIntakeChecks,
  intakeHeaders,
} from "./intake-checks.ts";

export { intakeHeaders } from "./intake-checks.ts";

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
  /**
   * Synchronous queries (`POST /v1/queries`): behaviors that declare a `cache` are run and
   * answered with what they extracted, through these cached queries (`new CachedQueries({ engine,
   * definitions, store: new KnexQueryCacheStore(db), clock, calendar })`, with the engine's
   * calendar so its holiday schedules end answers). Without it, no query route.
   */
  queries?: CachedQueries;
  /**
   * How long `POST /v1/queries` waits for a query to settle before 504 `QUERY_TIMEOUT`. The run
   * goes on, and its answer is cached when it settles. Default 10 000 ms.
   */
  queryTimeoutMs?: number;
  /**
   * Peak shaving: starts of the channels and behaviors this queue has a policy for are queued
   * (202 with the queued start) instead of started at once, and read back by business key while
   * they wait or after they expired (`new StartQueue({ store: new KnexStartQueueStore(db),
   * definitions, … })`). Admission runs wherever `queue.run` runs.
   */
  queue?: StartQueue;
}

interface IntakeRouteOptions extends IntakeOptions {
  engine: Engine;
}

const defaultKeyLifetimeMs = 24 * 60 * 60_000;
const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * The intake API for upstream systems, under `/v1/instances`: `POST /v1/instances` starts an
 * instance (of a behavior on a channel, or of a product) or, for a behavior the `queue` has a
 * policy for, queues it (202), `GET /v1/instances/:channel/:behavior/:businessKey` reads one
 * (a queued start until it has an instance). Every request is checked in this
 * order, and refused before anything is stored: the client's IP allow-list (before the body is
 * read), body size, the signature over the exact body bytes, the timestamp's window, the nonce
 * (stored once, shared by every node); then `Idempotency-Key`. docs/serving.md has the details.
 */
export async function intakeRoutes(app: FastifyInstance, options: IntakeRouteOptions) {
  const now = options.now ?? Date.now;
  const bodyLimit = options.bodyLimitBytes ?? 64 * 1024;
  const pendingWaitMs = options.pendingWaitMs ?? 5_000;

  const authenticated = installIntakeChecks(app, options);

  app.post("/", { bodyLimit }, async (request, reply) => {
    const { client, raw, json } = authenticated(request);
    const start = { ...readStartRequest(json), upstreamClient: client.id };
    refuseNulCharacters(json, "INSTANCE_INPUT_INVALID");
    checkAllowed(client, start);
    const key = headerOf(request, intakeHeaders.idempotencyKey);
    if (key === undefined) return answer(reply, await startOrQueue(start));
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
      result = await startOrQueue(start);
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
      const { client } = authenticated(request);
      const { channel, behavior, businessKey } = request.params;
      checkAllowed(client, { channel, behavior });
      refuseNul({ channel, behavior, "business key": businessKey });
      // Another client's instance or queued start is answered as one that does not exist, by the
      // same path and the same reads.
      const visible = <T extends { upstreamClient?: string | null }>(record: T | undefined) =>
        record !== undefined && visibleToClient(record, client.id) ? record : undefined;
      const key = { channel, behavior, businessKey };
      const instance = visible(await options.engine.findInstance(key));
      if (instance === undefined) {
        // A queued start has no instance until it is admitted: its state answers meanwhile.
        const queued = visible(await options.queue?.findQueued(key));
        if (queued !== undefined) return answer(reply, { status: 200, body: queuedView(queued) });
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

  /** A queued channel and behavior's start is queued (202), any other is started (200). */
  async function startOrQueue(start: StartBody) {
    const queue = options.queue;
    if (
      queue === undefined ||
      !("channel" in start) ||
      !queue.queues(start.channel, start.behavior)
    )
      return startAndView(start);
    const submitted = await queue.submit(start);
    if ("queued" in submitted && submitted.queued.status !== "started") {
      const waiting = submitted.queued.status === "queued";
      return { status: waiting ? 202 : 200, body: queuedView(submitted.queued) };
    }
    // Admitted before: the repeat is answered with the instance, as a direct start's repeat is.
    const instanceId =
      "instanceId" in submitted ? submitted.instanceId : (submitted.queued.instanceId ?? "");
    const instance = await options.engine.getInstance(instanceId);
    if (instance === undefined) {
      throw new CapflowError(
        "INSTANCE_NOT_FOUND",
        `the instance ${instanceId} of ${start.channel}/${start.behavior} ${start.businessKey} is gone; ask an operator`,
      );
    }
    // The queue refuses another client's business key; this keeps its instance out of sight even
    // if one was started some other way meanwhile.
    checkSameClient(instance, start, `${start.channel}/${start.behavior}`);
    return { status: 200, body: { instance: await viewOf(instance) } };
  }

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
      // The operators' text may name a funder's address or a key's path: the upstream gets the
      // public form (the operator API keeps the whole text).
      error: instance.lastError === null ? null : publicError(instance.lastError),
      createdAt: new Date(instance.createdAt).toISOString(),
      updatedAt: new Date(instance.updatedAt).toISOString(),
    };
  }
}

/**
 * Refuses a path field holding a NUL character (`%00`), which no channel, behavior or business key
 * holds and the database cannot compare, naming the field that holds it.
 */
function refuseNul(fields: Record<string, string>): void {
  const holding = Object.entries(fields).find(([, value]) => value.includes("\u0000"));
  if (holding === undefined) return;
  const [name] = holding;
  throw new CapflowError(
    "INSTANCE_INPUT_INVALID",
    `the ${name} holds a NUL character (%00), which no ${name} may hold; send it without`,
  );
}

/** A queued start as the client sees it: no input, the last refusal if any, in its public form. */
function queuedView(queued: QueuedStart) {
  const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
  return {
    queuedStart: {
      id: queued.id,
      channel: queued.channel,
      behavior: queued.behavior,
      businessKey: queued.businessKey,
      status: queued.status,
      enqueuedAt: iso(queued.enqueuedAt),
      expiresAt: iso(queued.expiresAt),
      attempts: queued.attempts,
      instanceId: queued.instanceId,
      error: queued.lastError === null ? null : publicError(queued.lastError),
      finishedAt: iso(queued.finishedAt),
    },
  };
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
