/**
 * @capflow/console: the operations console, built ahead of time. This module only says where its
 * files are; `capflow serve` (`@capflow/server`) serves them at `/console`.
 *
 * ```ts
 * import { consoleAssetsDir } from "@capflow/console";
 * // fastify.register(fastifyStatic, { root: consoleAssetsDir(), prefix: "/console/" })
 * ```
 */
export { consoleAssetsDir, consoleIsBuilt } from "./assets.ts";
