import { cp, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FunderProfile, runDemo } from "@capflow/example-demo";
import { afterAll, describe, expect, it } from "vitest";
import { meadowFunder } from "../mock-funder.ts";

/**
 * What a new user does to start a channel: copy an example folder, rename the channel, and run it
 * against the mock funder, editing JSON only.
 */
describe("a copy of the Meadow example as a new channel", () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs against the mock funder after renaming the channel in the JSON files", async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-acme-"));
    const copy = join(dir, "acme");
    await cp(meadowFunder.dir, copy, {
      recursive: true,
      filter: (source) => !source.includes("node_modules") && !source.includes("/test"),
    });
    const definitions = join(copy, "definitions");
    for (const file of await readdir(definitions)) {
      const path = join(definitions, file);
      const text = await readFile(path, "utf8");
      const renamed = text
        .replace('"code": "meadow"', '"code": "acme"')
        .replace('"channel": "meadow"', '"channel": "acme"')
        .replace("Meadow Consumer Finance (绿野消费金融)", "Acme Finance");
      await writeFile(path, renamed);
      await rename(path, join(definitions, file.replace(/^meadow\./, "acme.")));
    }

    const acme: FunderProfile = {
      ...meadowFunder,
      dir: copy,
      channel: "acme",
      behaviors: meadowFunder.behaviors.map((traits) => ({ ...traits, channel: "acme" })),
    };
    const result = await runDemo({
      funders: [acme],
      total: 0,
      onlyKinds: ["approved", "slow polls", "refused at apply"],
      progress: false,
      write: () => {},
      timeoutMs: 60_000,
    });
    expect(result.problems).toEqual([]);
    expect(result.run.instances.map((instance) => instance.channel)).toEqual(
      result.run.instances.map(() => "acme"),
    );
    expect(result.run.instances.filter((instance) => instance.status === "succeeded").length).toBe(
      6,
    );
  }, 120_000);
});
