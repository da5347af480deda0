#!/usr/bin/env node
// The `capflow` command runs the compiled CLI in dist/. This file is in the sources so that the
// command is linked at install time, before anything is built: in a clone of the repository,
// `pnpm build` compiles dist/ (and `pnpm capflow` runs the sources with no build at all).
import { fileURLToPath } from "node:url";

const main = new URL("../dist/main.js", import.meta.url);
try {
  await import(main.href);
} catch (error) {
  // Only dist/main.js itself missing: a module it imports that is missing (a dependency not
  // installed) names dist/main.js too, as the importer, and is reported as it is.
  const path = fileURLToPath(main);
  const notBuilt =
    error?.code === "ERR_MODULE_NOT_FOUND" &&
    (error.url === main.href || String(error.message).startsWith(`Cannot find module '${path}'`));
  if (!notBuilt) throw error;
  process.stderr.write(
    `error: [CONFIG_INVALID] capflow is not built (no ${path}): run pnpm build in the repository, or pnpm capflow <command> to run it from the sources\n`,
  );
  process.exitCode = 1;
}
