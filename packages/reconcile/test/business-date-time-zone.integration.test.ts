import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const childScript = fileURLToPath(new URL("./support/business-date-child.ts", import.meta.url));
const repositoryRoot = fileURLToPath(new URL("../../..", import.meta.url));

// A process's time zone is fixed once it reads a date, so each zone gets a process of its own.
for (const kind of ["PGlite", "PostgreSQL"] as const) {
  describe.skipIf(kind === "PostgreSQL" && !process.env.DATABASE_URL)(
    `a run's business date on ${kind}`,
    () => {
      for (const zone of ["America/New_York", "Asia/Shanghai"]) {
        it(`reads back as written in a process in ${zone}`, async () => {
          const { stdout } = await run(
            process.execPath,
            ["--import", "tsx", "--conditions=@capflow/source", childScript],
            {
              cwd: repositoryRoot,
              env: { ...process.env, TZ: zone, BUSINESS_DATE_DB: kind },
              timeout: 60_000,
            },
          );
          expect(JSON.parse(stdout.trim().split("\n").pop()!)).toEqual([
            "2026-12-05",
            "2026-12-05",
            "2026-12-05",
          ]);
        }, 90_000);
      }
    },
  );
}
