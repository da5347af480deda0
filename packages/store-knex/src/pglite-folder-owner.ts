import { readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { CapflowError } from "@capflow/core";

/**
 * One process at a time per PGlite folder. PGlite runs the database inside the process that opens
 * it and takes no lock of its own: two processes on one folder (a worker and `capflow instances
 * list`) each write their own idea of the files and damage the data. So the first one writes an
 * owner file naming itself; a second one is refused with a `STORE_UNAVAILABLE` that names the
 * holder, and the file goes when the owner closes the database. An owner file left by a process
 * that is gone (killed, crashed) on this machine is taken over.
 */
export interface PgliteFolderOwner {
  release(): Promise<void>;
}

/** Who holds a folder, as written in its owner file. */
export interface PgliteFolderHolder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

const ownerFile = "capflow-owner.json";

export async function claimPgliteFolder(dataDir: string): Promise<PgliteFolderOwner> {
  const path = join(dataDir, ownerFile);
  const me: PgliteFolderHolder = {
    pid: process.pid,
    host: hostname(),
    command: process.argv.slice(1).join(" ").slice(0, 200),
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, JSON.stringify(me), { flag: "wx" });
      return {
        release: async () => {
          const holder = await readHolder(path);
          if (holder?.pid === me.pid && holder.host === me.host) await rm(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await readHolder(path);
    if (holder !== undefined && isAlive(holder)) {
      throw new CapflowError(
        "STORE_UNAVAILABLE",
        `the PGlite folder ${dataDir} is in use by process ${holder.pid} on ${holder.host} (${holder.command || "unknown command"}, since ${holder.since}); PGlite serves one process at a time: stop that process first, run your command inside it, or use PostgreSQL (DATABASE_URL) for several processes`,
        { context: { dataDir, holder }, retryable: false },
      );
    }
    // The holder is gone: take the folder over.
    await rm(path, { force: true });
  }
  throw new CapflowError(
    "STORE_UNAVAILABLE",
    `the PGlite folder ${dataDir} was claimed by another process at the same moment; try again`,
    { context: { dataDir } },
  );
}

async function readHolder(path: string): Promise<PgliteFolderHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as PgliteFolderHolder;
  } catch {
    return undefined;
  }
}

/** Alive: on another machine (the folder is shared storage: cannot tell, so assume it), or a live pid here. */
function isAlive(holder: PgliteFolderHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
