import { consoleAssetsDir, consoleIsBuilt } from "@capflow/console";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/**
 * The operations console's files at `/console/` (`@capflow/console`, built ahead of time). The
 * page is public like any static file; everything it shows comes from the operator API, which
 * asks for a token. A server whose console was not built answers 404 there and says why in its log.
 */
export async function consoleRoutes(app: FastifyInstance) {
  if (!consoleIsBuilt()) {
    app.log.warn("the console is not built (pnpm build): /console answers 404");
    return;
  }
  app.get("/console", (_request, reply) => reply.redirect("/console/", 301));
  await app.register(fastifyStatic, {
    root: consoleAssetsDir(),
    prefix: "/console/",
    index: "index.html",
    wildcard: true,
    // Hashed asset names never change content; the page itself is always asked again.
    setHeaders(response, path) {
      response.header(
        "cache-control",
        path.endsWith(".html") ? "no-cache" : "public, max-age=31536000, immutable",
      );
      response.header("x-content-type-options", "nosniff");
      response.header("referrer-policy", "no-referrer");
      if (path.endsWith(".html")) {
        response.header(
          "content-security-policy",
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        );
      }
    },
  });
}
