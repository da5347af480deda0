import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FunderProfile, runDemo } from "@capflow/example-demo";
import { afterAll, describe, expect, it } from "vitest";
import { lanbankFunder } from "../mock-funder.ts";

/**
 * The demo's checks catch a real fault: the disbursement call declared idempotent (and retried
 * after an unknown outcome) although the bank books every order it receives. After a connection
 * reset the engine then resends, the bank books the loan twice, and the run must report exactly
 * that as a broken money rule.
 */
describe("a Lan Bank copy whose disbursement is wrongly declared idempotent", () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is reported as a money-rule violation, naming the business record", async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-resend-"));
    const copy = join(dir, "lanbank");
    await cp(lanbankFunder.dir, copy, {
      recursive: true,
      filter: (source) => !source.includes("node_modules") && !source.includes("/test"),
    });
    const behaviorFile = join(copy, "definitions", "lanbank.loan.behavior.json");
    const behavior = JSON.parse(await readFile(behaviorFile, "utf8")) as {
      steps: Record<string, { idempotent?: boolean }>;
    };
    behavior.steps.apply!.idempotent = true;
    await writeFile(behaviorFile, JSON.stringify(behavior, null, 2));
    const channelFile = join(copy, "definitions", "lanbank.channel.json");
    const channel = JSON.parse(await readFile(channelFile, "utf8")) as {
      interfaces: Record<string, { idempotent?: boolean; retry?: { on: string[] } }>;
    };
    const apply = channel.interfaces["loan.apply"]!;
    apply.idempotent = true;
    apply.retry = { ...apply.retry, on: ["notSent", "unknownOutcome"] } as { on: string[] };
    await writeFile(channelFile, JSON.stringify(channel, null, 2));

    const careless: FunderProfile = {
      ...lanbankFunder,
      dir: copy,
      behaviors: lanbankFunder.behaviors.filter((traits) => traits.behavior === "loan"),
    };
    const result = await runDemo({
      funders: [careless],
      total: 0,
      onlyKinds: ["approved", "reset after processing"],
      progress: false,
      write: () => {},
      timeoutMs: 100_000,
    });
    expect(result.ok).toBe(false);
    expect(result.violations).toEqual([
      expect.stringMatching(
        /^lanbank\/loan LAL0002 \(reset after processing\): the funder received 2 loan orders for one business record$/,
      ),
    ]);
    expect(result.summary).toMatch(/money rules +1 BROKEN/);
  }, 120_000);

  it("a run that passes says the money rules held", async () => {
    const result = await runDemo({
      funders: [
        {
          ...lanbankFunder,
          behaviors: lanbankFunder.behaviors.filter((traits) => traits.behavior === "loan"),
        },
      ],
      total: 0,
      onlyKinds: ["approved", "reset after processing"],
      progress: false,
      write: () => {},
      timeoutMs: 100_000,
    });
    expect(result.violations).toEqual([]);
    expect(result.problems).toEqual([]);
    expect(result.summary).toMatch(/money rules +ok: no disbursement or repayment sent twice/);
  }, 120_000);
});
