import type { FastifyInstance } from "fastify";
import type { CapflowMetrics } from "./capflow-metrics.ts";

/**
 * `GET /metrics`: the Prometheus exposition text. Labels carry definition codes and error codes,
 * no business data; still, serve it on an internal address (or behind the proxy's auth).
 */
export async function metricsRoute(
  app: FastifyInstance,
  options: { metrics: CapflowMetrics },
): Promise<void> {
  app.get("/metrics", async (_request, reply) => {
    const { contentType, text } = await options.metrics.render();
    return reply.header("content-type", contentType).header("cache-control", "no-store").send(text);
  });
}
