import { randomUUID } from "node:crypto";
import {
  CapflowError,
  type DefinitionSource,
  type Engine,
  type InstanceStore,
  type OperationsView,
} from "@capflow/core";
import Fastify, { type FastifyInstance } from "fastify";
import { callbackRoutes } from "./callbacks/callback-routes.ts";
import { consoleRoutes } from "./console/console-routes.ts";
import { healthRoutes } from "./health/health-routes.ts";
import type { ReadinessChecks } from "./health/readiness.ts";
import { replyWithError } from "./http/error-reply.ts";
import { createHttpServer } from "./http/http-server.ts";
import { loggerOptions, type ServerLogOptions } from "./http/logger-options.ts";
import { resolveLimits, type ServerLimits } from "./http/server-limits.ts";
import { type IntakeOptions, intakeRoutes } from "./intake/intake-routes.ts";
import { queryRoutes } from "./intake/query-routes.ts";
import type { CapflowMetrics } from "./metrics/capflow-metrics.ts";
import { metricsRoute } from "./metrics/metrics-route.ts";
import { type OperatorApiOptions, opsRoutes } from "./ops/ops-routes.ts";
import type { FlowStateSources } from "./ops/partner-health.ts";
import type { ProtectionViews } from "./ops/protection-routes.ts";

export interface CreateServerOptions {
  /** The engine callbacks go to and operator actions run on. */
  engine: Engine;
  /** The engine's store: the operator API reads listings, histories and the inbox from it. */
  store?: InstanceStore;
  /** The engine's definitions: the operator API masks data and checks steps with them. */
  definitions?: DefinitionSource;
  /**
   * Serves the operator API under `/v1/ops` with these ways to authenticate (API tokens, the
   * host's own hook); needs `store` and `definitions`. Default: no operator API.
   */
  operators?: OperatorApiOptions;
  /**
   * The store's counts for the operator API's overview and parked queue. Default: `store`, when
   * it answers them (`@capflow/store-knex`'s does); otherwise those two routes are absent.
   */
  operations?: OperationsView;
  /**
   * The business protection layer's stores for the operator API (`/stuck`, `/alerts`, `/queues`):
   * `KnexStuckStore`, `KnexAlertStore`, `KnexStartQueueStore` of `@capflow/store-knex`.
   */
  protection?: ProtectionViews;
  /**
   * Where the cluster keeps flow control's state, for the overview's breaker and limiter columns:
   * `{ limiter: redis.limiter, breakers: redis.breakers }` from `openRedis` (the same the workers'
   * `FlowControl` use). Default: those columns are not known.
   */
  flow?: FlowStateSources;
  /** Serves the operations console at `/console` (when built). Default true. */
  console?: boolean;
  /**
   * What `/readyz` checks, by name (e.g. `{ database: () => db.knex.raw("select 1") }`).
   * Default: nothing, so `/readyz` answers like `/healthz`.
   */
  readiness?: ReadinessChecks;
  /**
   * What does not work while the rest is served, by name, with a short log-safe reason (e.g.
   * `{ "channel lanbank": "SECRET_NOT_FOUND: its keys do not load" }`): `/readyz` stays 200 with
   * `status: "degraded"` and lists them. Called on every `/readyz`: return a list kept current
   * elsewhere, not one computed here. Default: nothing.
   */
  degraded?: () => Record<string, string>;
  /** How long one readiness check may take before it counts as failed. Default 2 000 ms. */
  readinessTimeoutMs?: number;
  /** Body size and time limits (see `defaultServerLimits`). */
  limits?: ServerLimits;
  /**
   * The intake API for upstream systems (`POST /v1/instances`, `GET /v1/instances/...`, and with
   * `queries` `POST /v1/queries`): where client definitions, nonces and idempotency keys are
   * kept. Without it, no intake routes.
   */
  intake?: IntakeOptions;
  /** pino logging; `false` for none. Default: `info` to standard output, secrets redacted. */
  log?: ServerLogOptions | false;
  /** Serves `GET /metrics` (Prometheus) from these metrics; feed them the engine's events. */
  metrics?: CapflowMetrics;
}

/**
 * Builds capflow's HTTP server on Fastify, not yet listening: health (`/healthz`, `/readyz`),
 * funder callbacks (`/callbacks/:channel/:callback[/:account]`) and, with `operators`, the operator
 * API (`/v1/ops/...`). Listen with
 * `await app.listen({ port, host })`; `await app.close()` stops taking requests, lets those in
 * progress finish, and answers 503 meanwhile.
 *
 * ```ts
 * const app = createServer({ engine, readiness: { database: () => db.knex.raw("select 1") } });
 * await app.listen({ port: 8080, host: "0.0.0.0" });
 * ```
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const limits = resolveLimits(options.limits);
  const app = Fastify({
    logger: loggerOptions(options.log),
    bodyLimit: limits.bodyLimitBytes,
    serverFactory: (handler) => createHttpServer(limits, handler),
    return503OnClosing: true,
    // Unknown fields are refused (`additionalProperties: false`), not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    forceCloseConnections: "idle",
    // A failure's answer carries its request's id for operators to find its log line: unique
    // across restarts and nodes, unlike Fastify's counter, and never taken from the request.
    genReqId: () => randomUUID(),
    // The router's own refusals (a path part over its length limit, bad percent-encoding) in the
    // same shape as every other refusal.
    frameworkErrors: replyWithError,
  });
  app.setErrorHandler(replyWithError);
  app.setNotFoundHandler((request, reply) =>
    replyWithError(
      new CapflowError(
        "REQUEST_NOT_FOUND",
        `nothing at ${request.method} ${request.url.split("?")[0]}`,
      ),
      request,
      reply,
    ),
  );
  app.register(healthRoutes, {
    checks: options.readiness ?? {},
    timeoutMs: options.readinessTimeoutMs ?? 2_000,
    ...(options.degraded ? { degraded: options.degraded } : {}),
  });
  app.register(callbackRoutes, { prefix: "/callbacks", engine: options.engine });
  if (options.intake !== undefined) {
    app.register(intakeRoutes, {
      prefix: "/v1/instances",
      ...options.intake,
      engine: options.engine,
    });
    const { queries, ...intake } = options.intake;
    if (queries !== undefined) {
      app.register(queryRoutes, { prefix: "/v1/queries", ...intake, queries });
    }
  }
  if (options.metrics) app.register(metricsRoute, { metrics: options.metrics });
  if (options.operators !== undefined) {
    const { store, definitions } = options;
    if (store === undefined || definitions === undefined) {
      throw new CapflowError(
        "CONFIG_INVALID",
        "the operator API reads the store and the definitions: pass store and definitions with operators",
      );
    }
    app.register(opsRoutes, {
      ...options.operators,
      prefix: "/v1/ops",
      engine: options.engine,
      store,
      definitions,
      migrationTimeMs: limits.migrationTimeMs,
      ...(options.operations ? { operations: options.operations } : {}),
      ...(options.protection ? { protection: options.protection } : {}),
      ...(options.flow ? { flow: options.flow } : {}),
    });
  }
  if (options.console !== false) app.register(consoleRoutes);
  return app;
}
