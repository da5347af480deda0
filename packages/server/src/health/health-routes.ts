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
 * checks }` with each failing check's reason (its code; the log has the message); a load balancer sends traffic only on 200. Parts
 * that do not work while the rest is served (a channel whose keys did not load) make it 200
 * `{ status: "degraded", checks, degraded }`: one funder's problem does not take the node out.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions) {
  app.get("/healthz", { logLevel: "warn" }, async () => ({ status: "ok" }));
  // The answer names no host, port or folder; the log does, once per failure that changed.
  const failing = new Map<string, string>();
  app.get("/readyz", { logLevel: "warn" }, async (_request, reply) => {
    const report = await checkReadiness(options.checks, options.timeoutMs, (name, error) => {
      const cause = causeOf(error);
      if (failing.get(name) === cause) return;
      failing.set(name, cause);
      app.log.warn({ check: name, err: error }, `readiness check ${name} failed: ${cause}`);
    });
    for (const [name, result] of Object.entries(report.checks)) {
      if (!result.ok || !failing.delete(name)) continue;
      app.log.info({ check: name }, `readiness check ${name} passes again`);
    }
    const degraded = options.degraded?.() ?? {};
    const some = Object.keys(degraded).length > 0;
    return reply.code(report.ready ? 200 : 503).send({
      status: report.ready ? (some ? "degraded" : "ready") : "unavailable",
      checks: report.checks,
      ...(some ? { degraded } : {}),
    });
  });
}

function causeOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!.slice(0, 300);
}
