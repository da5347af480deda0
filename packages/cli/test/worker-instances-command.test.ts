import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, ProcessorRegistry, registerBuiltinProcessors } from "@capflow/core";
import { openPgliteStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repositoryRoot, runCapflow } from "./support/run-capflow.ts";

const definitions = "packages/cli/test/fixtures/operations";

/** Starts instances the way a host service does, in the PGlite folder the commands then open. */
async function startInstances(
  dataDir: string,
  requests: { behavior: string; businessKey: string; input: Record<string, unknown> }[],
): Promise<string[]> {
  const db = await openPgliteStore({ dataDir });
  try {
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    const ids: string[] = [];
    for (const request of requests) {
      ids.push((await engine.start({ channel: "shop", ...request })).id);
    }
    await engine.close();
    return ids;
  } finally {
    await db.close();
  }
}

describe("capflow worker and capflow instances (PGlite)", () => {
  let dir: string;
  let db: string;
  let ids: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-cli-worker-"));
    db = join(dir, "db");
    const pushed = await runCapflow("push", definitions, "--pglite", db);
    expect(pushed.exitCode).toBe(0);
    ids = await startInstances(db, [
      { behavior: "quick", businessKey: "Q1", input: { amount: "10.00", mobile: "13800138000" } },
      { behavior: "quick", businessKey: "Q2", input: { amount: "0" } },
      { behavior: "slow", businessKey: "S1", input: { name: "张三", mobile: "13800138000" } },
      { behavior: "slow", businessKey: "S2", input: { review: true } },
      { behavior: "slow", businessKey: "S3", input: {} },
    ]);
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("worker runs what is due, prints each settled instance, and stops when idle", async () => {
    const run = await runCapflow(
      "worker",
      ...["--pglite", db, "--exit-when-idle", "--no-crypto-thread-pool"],
    );
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(
      /^capflow worker on PGlite at .*: 32 slots, \d+ processors, 2 crypto handlers \(private keys on the event loop\), until idle\n/,
    );
    expect(run.stdout).toMatch(/succeeded shop\/quick Q1 at done/);
    expect(run.stdout).toMatch(/cancelled shop\/quick Q2 at skipped/);
    expect(run.stdout).toMatch(/manual +shop\/slow S2 at review/);
    expect(run.stdout).toMatch(
      /parked +shop\/slow S2 at review: manual; see capflow instances show /,
    );
    expect(run.stdout).toMatch(
      /stopped: (\d+) steps, \1 attempts, 0 failed \(0 not retried\), 0 limiter waits, 3 instances settled, 1 needing attention, 0 breakers opened\n$/,
    );
  }, 60_000);

  test("worker refuses a --prefetch that is not a whole number, before running anything", async () => {
    const run = await runCapflow("worker", "--pglite", db, "--prefetch", "1.5", "--exit-when-idle");
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toMatch(/--prefetch must be a whole number of 0 or more/);
    expect(run.stdout).toBe("");
  }, 60_000);

  test("worker refuses a --commits-in-flight that is not a whole number, before running anything", async () => {
    const run = await runCapflow(
      "worker",
      "--pglite",
      db,
      "--commits-in-flight",
      "-2",
      "--exit-when-idle",
    );
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toMatch(/--commits-in-flight must be a whole number of 0 or more/);
    expect(run.stdout).toBe("");
  }, 60_000);

  test("instances list filters by status, channel, behavior, business key and age", async () => {
    const waiting = await runCapflow("instances", "list", "--pglite", db, "--status", "waiting");
    expect(waiting.exitCode).toBe(0);
    const lines = waiting.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^id +channel\/behavior +business key +step +status +next run/);
    expect(lines.slice(1, -1).map((line) => line.split(/ +/)[2])).toEqual(["S1", "S3"]);
    expect(lines.at(-1)).toBe("2 instances");

    const quick = await runCapflow(
      "instances",
      "list",
      "--pglite",
      db,
      "--behavior",
      "quick",
      "--json",
    );
    expect(
      quick.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line).status),
    ).toEqual(["succeeded", "cancelled"]);

    const byKey = await runCapflow(
      "instances",
      "list",
      "--pglite",
      db,
      "--channel",
      "shop",
      "--business-key",
      "S2",
      "--json",
    );
    expect(
      byKey.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line).businessKey),
    ).toEqual(["S2"]);

    const old = await runCapflow("instances", "list", "--pglite", db, "--older-than", "10m");
    expect(old.stdout.trimEnd()).toMatch(/0 instances$/);

    const bad = await runCapflow("instances", "list", "--pglite", db, "--status", "stuck");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('unknown status "stuck"');
  }, 60_000);

  test("instances show prints the instance, masked, and its history", async () => {
    const show = await runCapflow("instances", "show", ids[2]!, "--pglite", db);
    expect(show.exitCode).toBe(0);
    expect(show.stdout).toMatch(/^instance +.+\nchannel\/behavior +shop\/slow \(version 1\)/);
    expect(show.stdout).toMatch(/status +waiting/);
    expect(show.stdout).not.toContain("13800138000");
    expect(show.stdout).not.toContain("张三");
    expect(show.stdout).toMatch(/history \(\d+ entr(y|ies)\):/);
    expect(show.stdout).toMatch(/gate → settle/);

    const missing = await runCapflow("instances", "show", "nope", "--pglite", db);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("no instance nope");
  }, 60_000);

  test("instances watch follows the history until the instance settles", async () => {
    const settled = await runCapflow("instances", "watch", ids[0]!, "--pglite", db);
    expect(settled.exitCode).toBe(0);
    expect(settled.stdout).toMatch(/^shop\/quick Q1 \(.+\)\n/);
    expect(settled.stdout).toMatch(/settled: succeeded at done\n$/);

    const json = await runCapflow("instances", "watch", ids[0]!, "--pglite", db, "--json");
    const lines = json.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.at(-1)).toMatchObject({ status: "succeeded", businessKey: "Q1" });
    expect(lines.slice(0, -1).every((entry) => typeof entry.event === "string")).toBe(true);

    const waiting = await runCapflow(
      "instances",
      ...["watch", ids[2]!, "--pglite", db, "--interval", "1", "--timeout", "1"],
    );
    expect(waiting.exitCode).toBe(1);
    expect(waiting.stdout).not.toContain("张三");
    expect(waiting.stderr).toMatch(/^still waiting at \w+ after 1 s/);
  }, 60_000);

  test("inbox list shows unconsumed callbacks, masked, with their business key's instances", async () => {
    const store = await openPgliteStore({ dataDir: db });
    try {
      for (const [businessKey, receivedAt] of [
        ["NOBODY", Date.now() - 3_600_000],
        ["Q1", Date.now()],
      ] as const) {
        await store.instances.insertInbox({
          id: randomUUID(),
          channel: "shop",
          callback: "order.result",
          dedupeKey: `N-${businessKey}`,
          businessKey,
          receivedAt,
          payload: {
            body: { mobile: "13800138000" },
            headers: {},
            fields: {},
            outcome: "succeeded",
            code: "00",
            masked: { mobile: "138****8000" },
          },
        });
      }
    } finally {
      await store.close();
    }

    const listed = await runCapflow("inbox", "list", "--pglite", db);
    expect(listed.exitCode).toBe(0);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^received +channel +callback +business key +outcome +instances$/);
    expect(lines[1]).toMatch(/shop +order\.result +NOBODY +succeeded \(00\) +none$/);
    expect(lines[2]).toMatch(/ Q1 +succeeded \(00\) +quick succeeded at done$/);
    expect(lines.at(-1)).toBe("2 callbacks");

    const old = await runCapflow("inbox", "list", "--pglite", db, "--older-than", "10m", "--json");
    const objects = old.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(objects).toEqual([
      expect.objectContaining({
        businessKey: "NOBODY",
        body: { mobile: "138****8000" },
        instances: [],
      }),
    ]);
    expect(old.stdout).not.toContain("13800138000");
  }, 60_000);

  test("retry, move and cancel act through the engine and record who and why", async () => {
    const anonymous = await runCapflow("instances", "cancel", ids[2]!, "--pglite", db);
    expect(anonymous.exitCode).toBe(1);
    expect(anonymous.stderr).toContain("--who <name> --why <reason>");

    const retried = await runCapflow(
      "instances",
      ...["retry", ids[2]!, "--pglite", db, "--who", "ops", "--why", "funder confirmed"],
    );
    expect(retried.exitCode).toBe(0);
    expect(retried.stdout).toMatch(/shop\/slow S1: now waiting at settle, due /);

    const moved = await runCapflow(
      "instances",
      ...["move", ids[3]!, "done", "--pglite", db, "--who", "ops", "--why", "reviewed"],
      // Accepted (nothing is in flight here: it changes nothing about this move).
      "--call-not-processed",
    );
    expect(moved.exitCode).toBe(0);
    expect(moved.stdout).toMatch(/shop\/slow S2: now succeeded at done/);

    const cancelled = await runCapflow(
      "instances",
      ...["cancel", ids[4]!, "--pglite", db, "--who", "ops", "--why", "customer withdrew"],
    );
    expect(cancelled.stdout).toMatch(/shop\/slow S3: now cancelled at settle/);
    const again = await runCapflow(
      "instances",
      ...["cancel", ids[4]!, "--pglite", db, "--who", "ops", "--why", "twice"],
    );
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain("is settled (cancelled)");

    const show = await runCapflow("instances", "show", ids[3]!, "--pglite", db);
    expect(show.stdout).toContain(
      "cli:ops: reviewed (confirmed the partner did not process the call)",
    );

    // The worker resumes the retried instance: its delay is over now.
    const worker = await runCapflow("worker", "--pglite", db, "--exit-when-idle");
    expect(worker.stdout).toMatch(/succeeded shop\/slow S1 at done/);
  }, 60_000);

  test("--log-format json prints one JSON object per line, counts at exit included", async () => {
    const run = await runCapflow(
      "worker",
      "--pglite",
      db,
      "--exit-when-idle",
      "--log-format",
      "json",
    );
    expect(run.exitCode).toBe(0);
    const events = run.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as { event: string; time: string; attempts?: number });
    expect(events[0]?.event).toBe("worker.started");
    expect(events.at(-1)).toMatchObject({ event: "worker.stopped", attempts: 0, failures: 0 });
    for (const event of events) expect(Date.parse(event.time)).not.toBeNaN();
  }, 60_000);

  test("processors from a module: a function registering into the registry", async () => {
    const module = join(dir, "processors.mjs");
    await writeFile(
      module,
      `export function registerProcessors(registry) {
  registry.register({ name: "shout", label: "Shout", params: [{ name: "text", type: "string" }], returns: "string" }, (text) => String(text).toUpperCase());
}\n`,
    );
    const run = await runCapflow(
      "worker",
      ...["--pglite", db, "--processors", module, "--exit-when-idle", "--summary-every", "60"],
    );
    expect(run.exitCode).toBe(0);
    const builtins = registerBuiltinProcessors(new ProcessorRegistry()).names().length;
    expect(run.stdout).toContain(`${builtins + 1} processors`);

    const broken = join(dir, "broken.mjs");
    await writeFile(broken, "export const nothing = 1;\n");
    const failed = await runCapflow("worker", "--pglite", db, "--processors", broken);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain("must export registerProcessors(registry)");
  }, 60_000);

  test("crypto handlers from a module: channels signing with a scheme written in code", async () => {
    const module = "packages/cli/test/validate/acme-crypto.ts";
    const channel = "packages/cli/test/validate/custom-crypto";
    const refused = await runCapflow("push", channel, "--pglite", db);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toContain("unknown-crypto-handler");
    const pushed = await runCapflow("push", channel, "--pglite", db, "--crypto-handlers", module);
    expect(pushed.exitCode).toBe(0);

    const run = await runCapflow(
      "worker",
      ...["--pglite", db, "--crypto-handlers", module, "--exit-when-idle"],
    );
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("processors, 3 crypto handlers, until idle");

    const failed = await runCapflow(
      "worker",
      ...["--pglite", db, "--crypto-handlers", join(dir, "no-such-module.mjs")],
    );
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/cannot load .*no-such-module\.mjs/);

    const relative = await runCapflow(
      "worker",
      "--pglite",
      db,
      "--processors",
      "./my-processors.ts",
    );
    expect(relative.exitCode).toBe(1);
    expect(relative.stderr).toContain(
      `cannot load ./my-processors.ts (${join(repositoryRoot, "my-processors.ts")}: a relative path is taken from the current folder, ${repositoryRoot}`,
    );
  }, 60_000);

  test("worker stops gracefully on SIGTERM: steps in flight commit, nothing is left leased", async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=@capflow/source",
        "packages/cli/src/main.ts",
        "worker",
        "--pglite",
        db,
      ],
      { cwd: repositoryRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const exited = new Promise<number | null>((resolveExit) => child.on("exit", resolveExit));
    await expect
      .poll(() => stdout, { timeout: 40_000, interval: 100 })
      .toContain("stop with Ctrl-C or SIGTERM");
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // Started without the module that registers the crypto handler of acme (pushed by the test
    // before, when it ran): it says so at start, and serves the other channels.
    expect(
      stderr.replace(
        /^error: \[CRYPTO_HANDLER_NOT_FOUND\] channel acme: its keys or crypto handler do not load, its instances will park at their next call: no crypto handler named "acme-sign".*\n/,
        "",
      ),
    ).toBe("");
    expect(stdout).toContain("SIGTERM: finishing the steps in flight");
    expect(stdout).toMatch(/stopped: \d+ steps/);

    const store = await openPgliteStore({ dataDir: db });
    try {
      const leased = (await store.instances.listInstances({})).filter(
        (instance) => instance.leaseOwner !== null,
      );
      expect(leased).toEqual([]);
    } finally {
      await store.close();
    }
  }, 60_000);

  test("instances show prints a run of flow-control refusals as the one entry it becomes", async () => {
    const [id] = await startInstances(db, [
      { behavior: "slow", businessKey: "R1", input: { mobile: "13800138000" } },
    ]);
    const store = await openPgliteStore({ dataDir: db });
    const firstAt = Date.UTC(2026, 11, 7, 2, 0, 0);
    try {
      // Two refusals, as the engine commits them: a reschedule each, counted, no history entry.
      let record = (await store.instances.getInstance(id!))!;
      for (const [count, at] of [
        [1, firstAt],
        [2, firstAt + 3_000],
      ] as const) {
        record = await store.instances.commitTransition({
          instanceId: record.id,
          expectedVersion: record.version,
          now: at,
          changes: {
            nextRunAt: at + 60_000,
            refusals: {
              step: record.step,
              attempt: record.attempt,
              reason: "rate",
              count,
              reasons: { rate: count },
              firstAt,
              lastAt: at,
            },
          },
        });
      }
    } finally {
      await store.close();
    }
    const show = await runCapflow("instances", "show", id!, "--pglite", db);
    expect(show.exitCode).toBe(0);
    expect(show.stdout).toMatch(
      /2026-12-07T02:00:00\.000Z +\w+ +wait +notAdmitted:rate .+ refused 2 times until 2026-12-07T02:00:03\.000Z \(rate 2\)/,
    );
    const json = JSON.parse(
      (await runCapflow("instances", "show", id!, "--pglite", db, "--json")).stdout,
    );
    expect(json.history.at(-1)).toMatchObject({
      event: "wait",
      refusals: { count: 2, reasons: { rate: 2 } },
      durationMs: 3_000,
    });
    const watched = await runCapflow(
      "instances",
      ...["watch", id!, "--pglite", db, "--interval", "1", "--timeout", "1"],
    );
    expect(watched.exitCode).toBe(1);
    expect(watched.stderr).toMatch(
      /^still \w+ at \w+ after 1 s, next run .+; refused 2 times until 2026-12-07T02:00:03\.000Z \(rate 2\)\n$/,
    );
  }, 60_000);
});
