import { chmod, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * How a `capflow serve` on an embedded PGlite folder can be reached by the other commands: one
 * process owns a PGlite folder, so while it serves, `capflow instances start` goes through its
 * operator API instead of opening the folder. Written next to the folder (`.capflow/db.serve.json`,
 * readable by its owner only) with a token made for that run and revoked when it stops.
 */
export interface LocalServer {
  url: string;
  token: string;
  pid: number;
}

/** `.capflow/db` -> `.capflow/db.serve.json`. */
export function localServerFile(pgliteDir: string): string {
  return join(dirname(pgliteDir), `${basename(pgliteDir)}.serve.json`);
}

export async function writeLocalServer(pgliteDir: string, server: LocalServer): Promise<void> {
  const file = localServerFile(pgliteDir);
  await writeFile(file, `${JSON.stringify(server)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

export async function removeLocalServer(pgliteDir: string): Promise<void> {
  await rm(localServerFile(pgliteDir), { force: true });
}

/** The server serving this folder, if one runs (a file left by a dead process is ignored). */
export async function findLocalServer(pgliteDir: string): Promise<LocalServer | undefined> {
  let server: LocalServer;
  try {
    server = JSON.parse(await readFile(localServerFile(pgliteDir), "utf8")) as LocalServer;
  } catch {
    return undefined;
  }
  try {
    process.kill(server.pid, 0);
    return server;
  } catch (error) {
    // EPERM: alive, another user's; ESRCH: gone.
    return (error as NodeJS.ErrnoException).code === "EPERM" ? server : undefined;
  }
}
