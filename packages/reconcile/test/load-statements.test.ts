import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStatements, loadStatementsOrThrow } from "../src/index.ts";
import { statementFolder } from "./support/statement-files.ts";

let folder: Awaited<ReturnType<typeof statementFolder>>;
beforeAll(async () => {
  folder = await statementFolder();
});
afterAll(() => folder.remove());

const good = {
  channel: "lanbank",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: {
    kind: "sftp",
    host: "127.0.0.1",
    username: "cap",
    privateKey: "file:keys/id",
    hostKey: "SHA256:orm7Nej+MfeIrqcxVb8nTAvtssRAtReq/BsBMPdw40g",
    path: "/out/{yyyyMMdd}.csv",
  },
  compression: "gzip",
  encoding: "GBK",
  format: { kind: "delimited", delimiter: "|" },
  header: { lines: 1, totals: { count: 0, amount: 1 } },
  columns: { businessKey: "outOrderNo", amount: "amount" },
};

async function folderWith(files: Record<string, unknown>): Promise<string> {
  const dir = join(folder.dir, String(Math.random()).slice(2));
  await mkdir(join(dir, "nested"), { recursive: true });
  for (const [name, value] of Object.entries(files)) {
    await writeFile(
      join(dir, name),
      typeof value === "string" ? value : JSON.stringify(value, null, 2),
    );
  }
  return dir;
}

describe("loading statement definitions", () => {
  it("loads *.statement.json files next to the other definitions, in subfolders too", async () => {
    const dir = await folderWith({
      "nested/lanbank.loan.statement.json": good,
      "lanbank.channel.json": "{ not read here }",
    });
    const loaded = await loadStatements(dir);
    expect(loaded.problems).toEqual([]);
    expect(loaded.statements.map((s) => s.code)).toEqual(["loan-daily"]);
  });

  it("reports schema problems with line and column, and its own rules", async () => {
    const dir = await folderWith({
      "a.statement.json": {
        ...good,
        timeZone: "Mars/Olympus",
        source: {
          kind: "sftp",
          host: "h",
          username: "u",
          privateKey: "plain-key-text",
          path: "/x",
        },
        format: { kind: "fixed-width", fields: { key: [0, 10] } },
        columns: { businessKey: "key", amount: "amt" },
      },
      "b.statement.json": { ...good, format: { kind: "csv" }, extra: 1 },
      "c.statement.json": { ...good, code: "other", columns: { amount: 2 } },
      "d.statement.json": {
        ...good,
        code: "d",
        header: { lines: 1, totals: { pattern: "^(\\d+" } },
        columns: { businessKey: 0, amount: 1, kind: 2 },
      },
    });
    const { problems, statements } = await loadStatements(dir);
    expect(statements).toEqual([]);
    const summary = problems.map(
      (p) => `${p.file} ${p.pointer} ${p.line}:${p.column} ${p.message}`,
    );
    expect(summary).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^a.statement.json \/source\/privateKey \d+:\d+ .*pattern/),
        expect.stringMatching(/^b.statement.json \/extra .*unknown property extra/),
        expect.stringMatching(/^b.statement.json \/format\/kind .*must be one of/),
        expect.stringMatching(/^c.statement.json \/columns .*businessKey/),
      ]),
    );
    const dir2 = await folderWith({
      "a.statement.json": {
        ...good,
        timeZone: "Mars/Olympus",
        format: { kind: "fixed-width", fields: { key: [0, 10] } },
        header: { lines: 1, totals: { count: 0 } },
        columns: { businessKey: "key", amount: "amt" },
      },
      "d.statement.json": {
        ...good,
        code: "d",
        header: { lines: 1, totals: { pattern: "^(\\d+" } },
        columns: { businessKey: 0, amount: 1, kind: 2 },
      },
      "e.statement.json": {
        ...good,
        code: "e",
        columns: { businessKey: "outOrderNo", amount: "amount", status: "status" },
        impliedStatus: "succeeded",
      },
    });
    const own = (await loadStatements(dir2)).problems.map(
      (p) => `${p.file} ${p.pointer} ${p.message}`,
    );
    expect(own).toEqual(
      expect.arrayContaining([
        expect.stringContaining("a.statement.json /timeZone unknown time zone Mars/Olympus"),
        expect.stringContaining(
          "a.statement.json /columns/amount fixed-width columns name a field",
        ),
        expect.stringContaining(
          "a.statement.json /header/totals a fixed-width file's totals line is read with a pattern",
        ),
        expect.stringContaining("d.statement.json /header/totals/pattern not a regular expression"),
        expect.stringContaining("d.statement.json /kinds a kind column needs kinds"),
        expect.stringContaining(
          "d.statement.json /columnNames columns are given by position: say whether a line of column names follows",
        ),
        expect.stringContaining("e.statement.json /statuses a status column needs statuses"),
        expect.stringContaining(
          "e.statement.json /impliedStatus impliedStatus is for statements without a status column",
        ),
      ]),
    );
  });

  it("an SFTP source without hostKey is a problem saying how to get the fingerprint", async () => {
    const { hostKey: _, ...unpinned } = good.source;
    const dir = await folderWith({
      "a.statement.json": { ...good, source: { ...unpinned, port: 2222 } },
    });
    const { problems, statements } = await loadStatements(dir);
    expect(statements).toEqual([]);
    expect(problems).toEqual([
      expect.objectContaining({
        code: "host-key-missing",
        pointer: "/source",
        message: expect.stringContaining("ssh-keyscan -p 2222 127.0.0.1 | ssh-keygen -lf -"),
      }),
    ]);
  });

  it("columns by position are fine once the definition says whether names come first", async () => {
    for (const columnNames of [true, false]) {
      const dir = await folderWith({
        "a.statement.json": { ...good, columnNames, columns: { businessKey: 0, amount: 1 } },
      });
      expect((await loadStatements(dir)).problems).toEqual([]);
    }
  });

  it("checks channel and behavior names against the definitions, and duplicate codes", async () => {
    const dir = await folderWith({
      "a.statement.json": { ...good, behaviors: ["loan", "repay"] },
      "b.statement.json": good,
    });
    const { problems } = await loadStatements(dir, {
      definitions: {
        channels: [{ code: "lanbank" }] as never,
        behaviors: [{ channel: "lanbank", code: "loan" }] as never,
      },
    });
    expect(problems.map((p) => `${p.code} ${p.pointer}`)).toEqual([
      "unknown-behavior /behaviors/1",
      "duplicate-code /code",
    ]);
    await expect(loadStatementsOrThrow(dir)).rejects.toMatchObject({ code: "STATEMENT_INVALID" });
  });
});
