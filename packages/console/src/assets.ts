import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The folder of the built console (`index.html` and its hashed assets). The same folder from the
 * sources and from `dist/`, since both sit one level below the package root.
 */
export function consoleAssetsDir(): string {
  return fileURLToPath(new URL("../dist/app/", import.meta.url));
}

/** Whether the console was built (`pnpm build`); a server without it answers /console with 404. */
export function consoleIsBuilt(): boolean {
  return existsSync(`${consoleAssetsDir()}index.html`);
}
