import type { FastifyInstance } from "fastify";
import { checkReadiness, type ReadinessChecks } from "./readiness.ts";

export interface HealthRoutesOptions {
  checks: ReadinessChecks;
  timeoutMs: number;
  /** Parts that do not work while the rest is served (see `CreateServerOptions.degraded`). */
  degraded?: () => Record<string, string>;
}

/**
 * `GET /healthz`: the process is up and answering (200 `{ status: "ok" }`). `GET /readyz`: every
 * dependency answers (200 `{ status: "ready", checks }`), else 503 `{ status: "unavailable",
 * checks }` with each failing check's reason; a load balancer sends traffic only on 200. Parts
 * that do not work while the rest is served (a channel whose keys did not load) make it 200
 * `{ status: "degraded", checks, degraded }`: one funder's problem does not take the node out.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions) {
  app.get("/healthz", { logLevel: "warn" }, async () => ({ status: "ok" }));
  app.get("/readyz", { logLevel: "warn" }, async (_request, reply) => {
    const report = await checkReadiness(options.checks, options.timeoutMs);
    const degraded = options.degraded?.() ?? {};
    const some = Object.keys(degraded).length > 0;
    return reply.code(report.ready ? 200 : 503).send({
      status: report.ready ? (some ? "degraded" : "ready") : "unavailable",
      checks: report.checks,
      ...(some ? { degraded } : {}),
    });
  });
}
