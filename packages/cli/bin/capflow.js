#!/usr/bin/env node
// The `capflow` command runs the compiled CLI in dist/. This file is in the sources so that the
// command is linked at install time, before anything is built: in a clone of the repository,
// `pnpm build` compiles dist/ (and `pnpm capflow` runs the sources with no build at all).
const main = new URL("../dist/main.js", import.meta.url);
try {
  await import(main.href);
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND" || !String(error.message).includes(main.pathname)) {
    throw error;
  }
  process.stderr.write(
    `error: [CONFIG_INVALID] capflow is not built (no ${main.pathname}): run pnpm build in the repository, or pnpm capflow <command> to run it from the sources\n`,
  );
  process.exitCode = 1;
}
