import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { intakeHeaders } from "@capflow/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";
import { spawnServe } from "./support/spawn-serve.ts";

/**
 * `capflow push` checks relative `file:` keys against the definitions folder; `serve` and `worker`
 * resolve them against `--keys-dir` (default: the current folder). Both say so at start.
 */
describe("capflow serve and worker check the stored keys at start", () => {
  let dir: string;
  let db: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-serve-keys-"));
    db = join(dir, "db");
    const meadow = JSON.parse(
      await readFile(
        join(repositoryRoot, "examples/meadow/definitions/meadow.channel.json"),
        "utf8",
      ),
    ) as { code: string; crypto: { options: { keys: { secret: { ref: string } } } } };
    await mkdir(join(dir, "definitions/keys"), { recursive: true });
    for (const code of ["alpha", "beta"]) {
      const channel = structuredClone(meadow);
      channel.code = code;
      channel.crypto.options.keys.secret.ref = `file:keys/${code}.key`;
      await writeFile(join(dir, `definitions/${code}.channel.json`), JSON.stringify(channel));
      await writeFile(join(dir, `definitions/keys/${code}.key`), `${code}-shared-secret\n`);
    }
    await writeFile(
      join(dir, "definitions/shop.client.json"),
      JSON.stringify({
        id: "shop",
        signature: { algorithm: "hmac-sha256", key: { ref: "file:keys/shop.key" } },
        allowedIps: ["127.0.0.1/32", "::1/128"],
        allow: { behaviors: ["alpha/*"] },
      }),
    );
    await writeFile(join(dir, "definitions/keys/shop.key"), "shop-secret\n");
    const pushed = await runCapflow("push", join(dir, "definitions"), "--pglite", db);
    expect(pushed.stderr).toBe("");
    expect(pushed.exitCode).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("serve refuses to start when no stored key loads from --keys-dir, and says to pass it", async () => {
    const serve = spawnServe(["--pglite", db, "--port", "0", "--log-level", "warn"]);
    const code = await new Promise((resolve) => serve.child.once("exit", resolve));
    expect(code).toBe(1);
    expect(serve.output()).toMatch(
      /^error: \[SECRET_NOT_FOUND\] the keys of no stored channel or client load, .*channel alpha: .*; channel beta: .*; client shop: .*pass --keys-dir <definitions folder>\n$/,
    );
  }, 60_000);

  test("worker refuses to start the same way", async () => {
    const run = await runCapflow("worker", "--pglite", db, "--exit-when-idle");
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(
      /^error: \[SECRET_NOT_FOUND\] the keys of no stored channel load, .*--keys-dir \(.*; default: the current folder\).*pass --keys-dir <definitions folder>\n$/,
    );
  }, 60_000);

  test("one channel's and one client's keys missing: the others are served, /readyz says which are not until their key files are put back, and the intake answers without the server's paths", async () => {
    await rm(join(dir, "definitions/keys/beta.key"));
    await rm(join(dir, "definitions/keys/shop.key"));
    const serve = spawnServe([
      ...["--pglite", db, "--port", "0", "--log-level", "info"],
      ...["--keys-dir", join(dir, "definitions"), "--keys-check-interval", "1s"],
    ]);
    try {
      await expect.poll(serve.output, { timeout: 60_000 }).toMatch(/capflow serve on http:/);
      const url = /capflow serve on (http:\/\/[^ ]+)/.exec(serve.output())![1]!;
      const lines = serve
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"));
      const errors = lines
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .filter((line) => line.level >= 40);
      expect(errors.map((line) => [line.level, line.msg.split(":")[0]])).toEqual([
        [50, "channel beta"],
        [50, "client shop"],
      ]);
      expect(errors[0]!.msg).toContain("pass --keys-dir <definitions folder>");

      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: "degraded",
        checks: { database: { ok: true } },
        degraded: {
          "channel beta":
            "SECRET_NOT_FOUND: its keys or crypto handler do not load; the server's log says why",
          "client shop":
            "SECRET_NOT_FOUND: its keys or crypto handler do not load; the server's log says why",
        },
      });

      const answer = await fetch(`${url}/v1/instances`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [intakeHeaders.client]: "shop",
          [intakeHeaders.timestamp]: String(Math.floor(Date.now() / 1000)),
          [intakeHeaders.nonce]: "0123456789abcdef0123",
          [intakeHeaders.signature]: "c2lnbmF0dXJl",
        },
        body: "{}",
      });
      expect(answer.status).toBe(500);
      const text = await answer.text();
      expect(JSON.parse(text)).toMatchObject({ error: { code: "SECRET_NOT_FOUND" } });
      expect(text).not.toContain(dir);
      expect(text).not.toContain("shop.key");

      // The key files put back: /readyz follows within a round, without a restart.
      await writeFile(join(dir, "definitions/keys/beta.key"), "beta-shared-secret\n");
      await writeFile(join(dir, "definitions/keys/shop.key"), "shop-secret\n");
      await expect
        .poll(async () => (await fetch(`${url}/readyz`)).json(), { timeout: 15_000 })
        .toEqual({ status: "ready", checks: { database: { ok: true } } });
      expect(serve.output()).toContain("channel beta: its keys load again");
      expect(serve.output()).toContain("client shop: its keys load again");
    } finally {
      serve.child.kill("SIGTERM");
      await new Promise((resolve) => serve.child.once("exit", resolve));
    }
  }, 120_000);
});

const databaseUrl = process.env.DATABASE_URL;

/** The meadow example's channel under another code, its secret in `keys/<code>.key`. */
async function meadowChannel(code: string): Promise<string> {
  const channel = JSON.parse(
    await readFile(join(repositoryRoot, "examples/meadow/definitions/meadow.channel.json"), "utf8"),
  ) as { code: string; crypto: { options: { keys: { secret: { ref: string } } } } };
  channel.code = code;
  channel.crypto.options.keys.secret.ref = `file:keys/${code}.key`;
  return JSON.stringify(channel);
}

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "capflow serve follows pushes in /readyz (PostgreSQL)"
    : "capflow serve follows pushes in /readyz: skipped, set DATABASE_URL to run",
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let dir: string;

    beforeAll(async () => {
      db = await openTestPostgres();
      dir = await mkdtemp(join(tmpdir(), "capflow-serve-keys-push-"));
      await mkdir(join(dir, "definitions/keys"), { recursive: true });
      await mkdir(join(dir, "served/keys"), { recursive: true });
      await writeFile(join(dir, "definitions/alpha.channel.json"), await meadowChannel("alpha"));
      await writeFile(join(dir, "definitions/keys/alpha.key"), "alpha-shared-secret\n");
      await copyFile(join(dir, "definitions/keys/alpha.key"), join(dir, "served/keys/alpha.key"));
    }, 60_000);
    afterAll(async () => {
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    test("a channel pushed while serving whose keys the server cannot load shows in /readyz, and leaves it once its key is there", async () => {
      const database = ["--database-url", databaseUrl!, "--schema", db.schema];
      const first = await runCapflow("push", join(dir, "definitions"), ...database);
      expect(first.exitCode, first.stderr).toBe(0);
      const serve = spawnServe([
        ...database,
        ...["--port", "0", "--log-level", "info"],
        ...["--keys-dir", join(dir, "served"), "--keys-check-interval", "1s"],
      ]);
      try {
        await expect.poll(serve.output, { timeout: 60_000 }).toMatch(/capflow serve on http:/);
        const url = /capflow serve on (http:\/\/[^ ]+)/.exec(serve.output())![1]!;
        expect(await (await fetch(`${url}/readyz`)).json()).toMatchObject({ status: "ready" });

        // Pushed from the definitions folder, which has its key; the server's folder does not.
        await writeFile(join(dir, "definitions/gamma.channel.json"), await meadowChannel("gamma"));
        await writeFile(join(dir, "definitions/keys/gamma.key"), "gamma-shared-secret\n");
        const pushed = await runCapflow("push", join(dir, "definitions"), ...database);
        expect(pushed.exitCode, pushed.stderr).toBe(0);
        await expect
          .poll(async () => (await fetch(`${url}/readyz`)).json(), { timeout: 20_000 })
          .toEqual({
            status: "degraded",
            checks: { database: { ok: true } },
            degraded: {
              "channel gamma":
                "SECRET_NOT_FOUND: its keys or crypto handler do not load; the server's log says why",
            },
          });
        expect(serve.output()).toMatch(
          /"level":50.*channel gamma: its keys or crypto handler do not load/,
        );

        await copyFile(join(dir, "definitions/keys/gamma.key"), join(dir, "served/keys/gamma.key"));
        await expect
          .poll(async () => (await fetch(`${url}/readyz`)).json(), { timeout: 20_000 })
          .toEqual({ status: "ready", checks: { database: { ok: true } } });
      } finally {
        serve.child.kill("SIGTERM");
        await new Promise((resolve) => serve.child.once("exit", resolve));
      }
    }, 120_000);
  },
);
