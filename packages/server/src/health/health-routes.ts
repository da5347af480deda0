import type { FastifyInstance } from "fastify";
import { checkReadiness, type ReadinessChecks } from "./readiness.ts";

export interface HealthRoutesOptions {
  checks: ReadinessChecks;
  timeoutMs: number;
}

/**
 * `GET /healthz`: the process is up and answering (200 `{ status: "ok" }`). `GET /readyz`: every
 * dependency answers (200 `{ status: "ready", checks }`), else 503 `{ status: "unavailable",
 * checks }` with each failing check's reason; a load balancer sends traffic only on 200.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions) {
  app.get("/healthz", { logLevel: "warn" }, async () => ({ status: "ok" }));
  app.get("/readyz", { logLevel: "warn" }, async (_request, reply) => {
    const report = await checkReadiness(options.checks, options.timeoutMs);
    return reply
      .code(report.ready ? 200 : 503)
      .send({ status: report.ready ? "ready" : "unavailable", checks: report.checks });
  });
}
