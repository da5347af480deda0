import { describe, expect, test } from "vitest";
import { instanceColumns, instanceFromRow, type Row } from "../src/rows.ts";

describe("instanceColumns", () => {
  test("names every column instanceFromRow reads, and no other", () => {
    // A row that records what is read: a statement returning only instanceColumns (the group
    // commit) must give instanceFromRow everything it looks at.
    const read = new Set<string>();
    const row = new Proxy({} as Row, {
      get(_, key) {
        if (typeof key === "string") read.add(key);
        if (key === "created_at" || key === "updated_at") return new Date(0);
        return undefined;
      },
    });
    instanceFromRow(row);
    expect([...read].sort()).toEqual([...instanceColumns].sort());
  });
});
