import { createServer, type RequestListener, type Server } from "node:http";
import type { ServerLimits } from "./server-limits.ts";

/**
 * The node:http server under Fastify, with the limits applied: a request whose headers or body
 * arrive slower than allowed is answered 408 and its connection closed; a connection with no
 * traffic is closed after `idleTimeoutMs`.
 */
export function createHttpServer(limits: Required<ServerLimits>, handler: RequestListener): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks request and header timeouts this often: 30 s by default, far too coarse.
      connectionsCheckingInterval: Math.min(
        1_000,
        Math.max(50, Math.floor(limits.headersTimeoutMs / 4)),
      ),
    },
    handler,
  );
  server.setTimeout(limits.idleTimeoutMs);
  return server;
}
