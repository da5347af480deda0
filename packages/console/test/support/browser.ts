import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { consoleAssetsDir, consoleIsBuilt } from "../../src/index.ts";

/**
 * Browser tests drive Debian's `chromium` through playwright-core (no browser download):
 * `.ci/run` installs it. CHROMIUM_PATH points elsewhere when needed.
 */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const chromiumMissing = existsSync(chromiumPath)
  ? undefined
  : `browser tests skipped: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`;

if (chromiumMissing) console.warn(chromiumMissing);

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root in CI containers has no user namespaces for Chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/**
 * Builds the console with Vite when `pnpm build` has not (a test run from a fresh clone), or when
 * a source changed since the last build.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  if (consoleIsBuilt() && !(await sourcesChangedSinceBuild())) return;
  const { build } = await import("vite");
  await build({
    configFile: fileURLToPath(new URL("../../vite.config.ts", import.meta.url)),
    logLevel: "warn",
  });
}

async function sourcesChangedSinceBuild(): Promise<boolean> {
  const built = (await stat(join(consoleAssetsDir(), "index.html"))).mtimeMs;
  const sources = fileURLToPath(new URL("../../app/", import.meta.url));
  for (const entry of await readdir(sources, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    if ((await stat(join(entry.parentPath, entry.name))).mtimeMs > built) return true;
  }
  return false;
}
