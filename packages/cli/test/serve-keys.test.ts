import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { intakeHeaders } from "@capflow/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
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

  test("one channel's and one client's keys missing: the others are served, /readyz says which are not, and the intake answers without the server's paths", async () => {
    await rm(join(dir, "definitions/keys/beta.key"));
    await rm(join(dir, "definitions/keys/shop.key"));
    const serve = spawnServe([
      ...["--pglite", db, "--port", "0", "--log-level", "warn"],
      ...["--keys-dir", join(dir, "definitions")],
    ]);
    try {
      await expect.poll(serve.output, { timeout: 60_000 }).toMatch(/capflow serve on http:/);
      const url = /capflow serve on (http:\/\/[^ ]+)/.exec(serve.output())![1]!;
      const lines = serve
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"));
      const errors = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
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
            "SECRET_NOT_FOUND: its keys or crypto handler did not load at start; the server's log says why",
          "client shop":
            "SECRET_NOT_FOUND: its keys or crypto handler did not load at start; the server's log says why",
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
    } finally {
      serve.child.kill("SIGTERM");
      await new Promise((resolve) => serve.child.once("exit", resolve));
    }
  }, 120_000);
});
