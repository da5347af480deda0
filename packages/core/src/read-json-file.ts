import { readFile } from "node:fs/promises";
import { CapflowError } from "./errors.ts";

/**
 * Reads a JSON file an operator wrote (a queues or alerts file, a holiday schedule): a file that
 * cannot be read or is not JSON is a `CONFIG_INVALID` naming it as `what` and why, followed by
 * the matching hint on what to do. What the JSON must hold is the caller's to check.
 */
export async function readJsonFile(
  path: string,
  what: string,
  hints: { unreadable?: string; notJson?: string } = {},
): Promise<unknown> {
  const hint = (text: string | undefined) => (text === undefined ? "" : `; ${text}`);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `cannot read the ${what} ${path}: ${(error as Error).message}${hint(hints.unreadable)}`,
      { cause: error },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `the ${what} ${path} is not JSON: ${(error as Error).message}${hint(hints.notJson)}`,
      { cause: error },
    );
  }
}
