import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type BehaviorDefinition,
  loadDefinitions,
  type MemoryDefinitionSource,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { describeDefinitionSourceContract } from "@capflow/testkit/contracts";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { definitionDigest } from "../src/definition-digest.ts";
import {
  type CapflowDatabase,
  KnexDefinitionSource,
  listStoredProcessors,
  pullDefinitions,
  pushDefinitions,
  syncProcessors,
} from "../src/index.ts";
import { openTestPglite, truncateAllTables } from "./support/databases.ts";

const fixtures = fileURLToPath(new URL("./fixtures/definitions", import.meta.url));

let db: CapflowDatabase;
// Starting PGlite is CPU-bound WebAssembly work: give it room on a busy 2-core CI machine.
beforeAll(async () => {
  db = await openTestPglite();
}, 180_000);
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  await truncateAllTables(db);
});

async function fixtureSet() {
  const set = await loadDefinitions(fixtures);
  expect(set.problems).toEqual([]);
  return set;
}

// refreshMs 0: the suite expects a push to be served at once, without waiting for a refresh.
describeDefinitionSourceContract("KnexDefinitionSource on PGlite (in memory)", async () => {
  await truncateAllTables(db);
  return {
    source: new KnexDefinitionSource(db.knex, { schema: db.schema, refreshMs: 0 }),
    publish: async (definitions) => {
      await pushDefinitions(db, definitions);
    },
    close: async () => {},
  };
});

describe("pushDefinitions", () => {
  test("stores channels and a first version; pushing again changes nothing", async () => {
    const set = await fixtureSet();
    expect(await pushDefinitions(db, set)).toEqual({
      channels: [{ code: "lanbank", change: "added" }],
      behaviors: [{ channel: "lanbank", code: "loan", version: 1, change: "added" }],
      products: [],
      clients: [],
    });
    expect(await pushDefinitions(db, set)).toEqual({
      channels: [{ code: "lanbank", change: "unchanged" }],
      behaviors: [{ channel: "lanbank", code: "loan", version: 1, change: "unchanged" }],
      products: [],
      clients: [],
    });
  });

  test("a changed behavior becomes a new active version; the pinned one stays as it was", async () => {
    const set = await fixtureSet();
    await pushDefinitions(db, set);
    const loan = set.behaviors[0]!;
    const changed: BehaviorDefinition = {
      ...loan,
      steps: {
        ...loan.steps,
        done: { kind: "terminal", outcome: "succeeded", description: "paid" },
      },
    };
    const result = await pushDefinitions(db, { behaviors: [changed] });
    expect(result.behaviors).toEqual([
      { channel: "lanbank", code: "loan", version: 2, change: "changed" },
    ]);
    const source = new KnexDefinitionSource(db.knex, { schema: db.schema, refreshMs: 0 });
    expect((await source.getBehavior("lanbank", "loan"))?.version).toBe(2);
    expect((await source.getBehavior("lanbank", "loan", 1))?.definition).toEqual(loan);
    expect((await source.getBehavior("lanbank", "loan", 2))?.definition).toEqual(changed);
    expect(await source.listBehaviors()).toEqual([
      { channel: "lanbank", behavior: "loan", activeVersion: 2 },
    ]);
  });

  test("key order and the $schema hint are not changes", async () => {
    const set = await fixtureSet();
    await pushDefinitions(db, set);
    const loan = set.behaviors[0]!;
    const reordered = {
      $schema: "./behavior.schema.json",
      ...Object.fromEntries(Object.entries(loan).reverse()),
    } as BehaviorDefinition;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(loan));
    expect(definitionDigest(reordered)).toBe(definitionDigest(loan));
    const result = await pushDefinitions(db, { behaviors: [reordered] });
    expect(result.behaviors[0]?.change).toBe("unchanged");
  });

  test("stored versions are immutable: the database refuses to edit one", async () => {
    await pushDefinitions(db, await fixtureSet());
    let error: unknown;
    try {
      await db.knex.raw(
        `UPDATE "${db.schema}".behaviors SET definition = '{}'::json WHERE channel = 'lanbank'`,
      );
    } catch (e) {
      error = e;
    }
    expect(String(error)).toContain("is immutable");
  });

  test("concurrent pushes of different changes get distinct version numbers", async () => {
    const set = await fixtureSet();
    await pushDefinitions(db, set);
    const loan = set.behaviors[0]!;
    const variants = [1, 2, 3].map((n) => ({ ...loan, description: `variant ${n}` }));
    const results = await Promise.all(variants.map((v) => pushDefinitions(db, { behaviors: [v] })));
    expect(results.map((r) => r.behaviors[0]?.version).sort()).toEqual([2, 3, 4]);
  });
});

describe("KnexDefinitionSource", () => {
  test("serves channels and active versions from memory until the revision moves", async () => {
    const set = await fixtureSet();
    await pushDefinitions(db, set);
    let now = 0;
    const source = new KnexDefinitionSource(db.knex, {
      schema: db.schema,
      refreshMs: 1000,
      now: () => now,
      baseDir: "/etc/capflow/keys",
    });
    // Structurally the engine's port (MemoryDefinitionSource implements it).
    const port: Pick<
      MemoryDefinitionSource,
      "getChannel" | "getBehavior" | "listBehaviors" | "revision"
    > = source;
    expect(port).toBe(source);
    const channel = await source.getChannel("lanbank");
    expect(channel).toEqual({ definition: set.channels[0], baseDir: "/etc/capflow/keys" });
    expect(await source.getChannel("nobody")).toBeUndefined();
    const before = await source.revision();

    const renamed = { ...set.channels[0]!, name: "Lan Bank (renamed)" };
    await pushDefinitions(db, { channels: [renamed] });
    // Within refreshMs: still the cached channel.
    expect((await source.getChannel("lanbank"))?.definition.name).toBe("Lan Bank");
    now += 1000;
    expect((await source.getChannel("lanbank"))?.definition.name).toBe("Lan Bank (renamed)");
    expect(await source.revision()).not.toBe(before);

    // Calling revision() refreshes at once, whatever refreshMs says.
    expect((await source.getBehavior("lanbank", "loan"))?.version).toBe(1);
    await pushDefinitions(db, { behaviors: [{ ...set.behaviors[0]!, description: "v2" }] });
    expect((await source.getBehavior("lanbank", "loan"))?.version).toBe(1);
    await source.revision();
    expect((await source.getBehavior("lanbank", "loan"))?.version).toBe(2);
  });

  test("pinned versions are read once and then served from memory", async () => {
    await pushDefinitions(db, await fixtureSet());
    const source = new KnexDefinitionSource(db.knex, { schema: db.schema });
    const first = await source.getBehavior("lanbank", "loan", 1);
    let queries = 0;
    const count = () => queries++;
    db.knex.on("query", count);
    try {
      expect(await source.getBehavior("lanbank", "loan", 1)).toBe(first);
      expect(queries).toBe(0);
      expect(await source.getBehavior("lanbank", "loan", 9)).toBeUndefined();
    } finally {
      db.knex.off("query", count);
    }
  });
});

describe("pullDefinitions", () => {
  test("writes the loader's layout, with the key order pushed, and loads back the same", async () => {
    const set = await fixtureSet();
    await pushDefinitions(db, set);
    const dir = await mkdtemp(join(tmpdir(), "capflow-pull-"));
    try {
      const { files } = await pullDefinitions(db, dir);
      expect(files).toEqual(["lanbank/lanbank.channel.json", "lanbank/loan.behavior.json"]);
      const text = await readFile(join(dir, "lanbank/loan.behavior.json"), "utf8");
      expect(Object.keys(JSON.parse(text))).toEqual(Object.keys(set.behaviors[0]!));
      const again = await loadDefinitions(dir);
      expect(again.problems).toEqual([]);
      expect(again.channels).toEqual(set.channels);
      expect(again.behaviors).toEqual(set.behaviors);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("syncProcessors", () => {
  test("upserts the registry's metadata and reports what changed", async () => {
    const registry = new ProcessorRegistry();
    registerBuiltinProcessors(registry);
    const metadata = registry.list();
    expect(metadata.length).toBeGreaterThan(0);
    const first = await syncProcessors(db, metadata);
    expect(first.added).toEqual(metadata.map((m) => m.name));
    const second = await syncProcessors(db, metadata);
    expect(second.unchanged).toHaveLength(metadata.length);
    const [one] = metadata;
    const relabelled = await syncProcessors(db, [{ ...one!, label: "renamed" }]);
    expect(relabelled.changed).toEqual([one!.name]);
    const stored = await listStoredProcessors(db);
    expect(stored).toHaveLength(metadata.length);
    expect(stored.find((m) => m.name === one!.name)?.label).toBe("renamed");
    expect(stored.find((m) => m.name === metadata[1]!.name)).toEqual(metadata[1]);
  });
});

describe("upstream clients", () => {
  test("are pushed with the definitions, pulled as clients/<id>.client.json, and load back the same", async () => {
    const set = await fixtureSet();
    const client = {
      id: "platform",
      name: "Loan platform",
      signature: { algorithm: "rsa-sha256" as const, key: { ref: "file:keys/platform.pem" } },
      allowedIps: ["10.0.0.0/8", "2001:db8::/32"],
      allow: { behaviors: ["lanbank/loan"] },
      notify: { url: "https://platform.example.test/notify" },
    };
    const first = await pushDefinitions(db, { ...set, clients: [client] });
    expect(first.clients).toEqual([{ id: "platform", change: "added" }]);
    const again = await pushDefinitions(db, { ...set, clients: [client] });
    expect(again.clients).toEqual([{ id: "platform", change: "unchanged" }]);
    const dir = await mkdtemp(join(tmpdir(), "capflow-pull-"));
    try {
      const { files } = await pullDefinitions(db, dir);
      expect(files).toContain("clients/platform.client.json");
      const loaded = await loadDefinitions(dir);
      expect(loaded.problems).toEqual([]);
      expect(loaded.clients).toEqual([client]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
