import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import iconv from "iconv-lite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  openStatementBytes,
  readStatementRows,
  type StatementDefinition,
  type StatementLine,
  StatementReader,
  type StatementRow,
} from "../src/index.ts";
import {
  statementFolder,
  writeGzip,
  writeText,
  writeXlsx,
  writeZip,
} from "./support/statement-files.ts";

let folder: Awaited<ReturnType<typeof statementFolder>>;
beforeAll(async () => {
  folder = await statementFolder();
});
afterAll(() => folder.remove());

const base: StatementDefinition = {
  channel: "lanbank",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: { kind: "file", path: "unused" },
  format: { kind: "delimited" },
  columns: {
    businessKey: "outOrderNo",
    partnerReference: "loanNo",
    amount: "amount",
    status: "status",
    occurredAt: "finishTime",
  },
  statuses: { SUCCESS: "succeeded", FAIL: "failed" },
  timestampFormat: "yyyyMMddHHmmss",
};

async function read(path: string, statement: StatementDefinition) {
  const reader = new StatementReader(statement, await openStatementBytes(path, statement));
  const lines: StatementLine[] = [];
  for await (const line of reader.lines()) lines.push(line);
  return { lines, totals: reader.totals() };
}

const csv = [
  "outOrderNo,loanNo,amount,status,finishTime",
  "L001,B9001,1500.00,SUCCESS,20261205093000",
  'L002,B9002,"2,000.5",FAIL,20261205235959',
  "",
  "L003,B9003,0.01,SUCCESS,20261205000001",
].join("\r\n");

describe("reading statements", () => {
  it("reads CSV with column names, quoted thousands separators and CRLF, amounts exact in fen", async () => {
    const { lines, totals } = await read(await writeText(join(folder.dir, "a.csv"), csv), base);
    expect(lines).toEqual([
      {
        lineNo: 2,
        businessKey: "L001",
        partnerReference: "B9001",
        behavior: "loan",
        amountMinor: 150000n,
        rawStatus: "SUCCESS",
        status: "succeeded",
        occurredAt: "2026-12-05T09:30:00.000+08:00",
      },
      expect.objectContaining({ lineNo: 3, amountMinor: 200050n, status: "failed" }),
      expect.objectContaining({
        lineNo: 5,
        amountMinor: 1n,
        occurredAt: "2026-12-05T00:00:01.000+08:00",
      }),
    ]);
    expect(totals).toEqual({ declared: {}, lines: { count: 3, amountMinor: 350051n } });
  });

  it("refuses columns by position when it is not said whether a names line comes first", async () => {
    const path = await writeText(join(folder.dir, "positions.csv"), "L001,1.00\nL002,2.00\n");
    const statement: StatementDefinition = {
      ...base,
      columns: { businessKey: 0, amount: 1 },
    };
    delete statement.statuses;
    await expect(read(path, statement)).rejects.toMatchObject({
      code: "STATEMENT_INVALID",
      message: expect.stringContaining("set columnNames to true or false"),
    });
    const { lines } = await read(path, { ...statement, columnNames: false });
    expect(lines.map((l) => l.businessKey)).toEqual(["L001", "L002"]);
    const named = await read(path, { ...statement, columnNames: true });
    expect(named.lines.map((l) => l.businessKey)).toEqual(["L002"]);
  });

  it("reads TSV and any delimiter, by column index without names", async () => {
    const tsv = "L001\tB9001\t1500.00\tSUCCESS\nL002\tB9002\t7.5\tDOING\n";
    const statement: StatementDefinition = {
      ...base,
      format: { kind: "delimited", delimiter: "\t" },
      columnNames: false,
      columns: { businessKey: 0, partnerReference: 1, amount: 2, status: 3 },
    };
    const { lines } = await read(await writeText(join(folder.dir, "a.tsv"), tsv), statement);
    expect(lines.map((l) => [l.businessKey, l.amountMinor, l.status])).toEqual([
      ["L001", 150000n, "succeeded"],
      ["L002", 750n, undefined],
    ]);
    expect(lines[1]!.problem).toBe(
      "status (column at position 3) holds a value not in the statement's statuses",
    );
    const pipes = "L001||B9001||150000\n";
    const { lines: piped } = await read(await writeText(join(folder.dir, "a.txt"), pipes), {
      ...statement,
      format: { kind: "delimited", delimiter: "||", quote: false },
      columns: { businessKey: 0, partnerReference: 1, amount: 2 },
      amount: { unit: "fen" },
    });
    expect(piped).toEqual([expect.objectContaining({ businessKey: "L001", amountMinor: 150000n })]);
  });

  for (const encoding of ["GBK", "GB18030"]) {
    it(`reads ${encoding} text with a totals header and a footer`, async () => {
      const text = [
        "总笔数|总金额",
        "2|1500.10",
        "借据号|放款流水|金额|状态|完成时间",
        "L001|B9001|1000.10|成功|20261205100000",
        "L002|B9002|500.00|失败|20261205110000",
        "文件结束",
        "",
      ].join("\n");
      const statement: StatementDefinition = {
        ...base,
        encoding,
        format: { kind: "delimited", delimiter: "|" },
        header: { lines: 2, totals: { line: 1, count: 0, amount: 1 } },
        footer: { lines: 1 },
        columns: {
          businessKey: "借据号",
          partnerReference: "放款流水",
          amount: "金额",
          status: "状态",
          occurredAt: "完成时间",
        },
        statuses: { 成功: "succeeded", 失败: "failed" },
      };
      const path = await writeText(join(folder.dir, `${encoding}.txt`), text, encoding);
      const { lines, totals } = await read(path, statement);
      expect(lines.map((l) => [l.businessKey, l.rawStatus, l.status, l.amountMinor])).toEqual([
        ["L001", "成功", "succeeded", 100010n],
        ["L002", "失败", "failed", 50000n],
      ]);
      expect(totals).toEqual({
        declared: { count: 2, amountMinor: 150010n },
        lines: { count: 2, amountMinor: 150010n },
      });
    });
  }

  it("reads fixed-width lines by byte positions in GBK (a Chinese character is two bytes), footer totals by pattern", async () => {
    const pad = (text: string, bytes: number) => {
      return text + " ".repeat(bytes - iconv.encode(text, "GBK").length);
    };
    const line = (key: string, name: string, amount: string, status: string) =>
      pad(key, 10) + pad(name, 8) + amount.padStart(12, "0") + status;
    const text = `${[
      line("L001", "张三", "150000", "S"),
      line("L002", "李四丰", "2000", "F"),
      "TOTAL 000002 000000152000",
    ].join("\n")}\n`;
    const statement: StatementDefinition = {
      ...base,
      encoding: "GBK",
      format: {
        kind: "fixed-width",
        fields: { key: [0, 10], name: [10, 8], amount: [18, 12], status: [30, 1] },
      },
      footer: { lines: 1, totals: { pattern: "^TOTAL (?<count>\\d+) (?<amount>\\d+)$" } },
      columns: { businessKey: "key", amount: "amount", status: "status" },
      amount: { unit: "fen" },
      statuses: { S: "succeeded", F: "failed" },
    };
    const { lines, totals } = await read(
      await writeText(join(folder.dir, "fixed.txt"), text, "GBK"),
      statement,
    );
    expect(lines.map((l) => [l.businessKey, l.amountMinor, l.status])).toEqual([
      ["L001", 150000n, "succeeded"],
      ["L002", 2000n, "failed"],
    ]);
    expect(totals.declared).toEqual({ count: 2, amountMinor: 152000n });
  });

  it("reads gzip and zip around the file (zipEntry picks the entry)", async () => {
    const gz = await writeGzip(join(folder.dir, "a.csv.gz"), csv);
    expect((await read(gz, { ...base, compression: "gzip" })).lines).toHaveLength(3);
    const zip = await writeZip(join(folder.dir, "a.zip"), {
      "readme.txt": "hello",
      "loan_20261205.csv": csv,
    });
    const zipped = await read(zip, { ...base, compression: "zip", zipEntry: "loan_*.csv" });
    expect(zipped.lines.map((l) => l.businessKey)).toEqual(["L001", "L002", "L003"]);
    await expect(read(zip, { ...base, compression: "zip" })).rejects.toMatchObject({
      code: "STATEMENT_UNREADABLE",
      message: expect.stringContaining("zipEntry"),
    });
    await expect(read(gz, { ...base, compression: "zip" })).rejects.toMatchObject({
      code: "STATEMENT_UNREADABLE",
    });
  });

  it("reads an xlsx sheet with a totals row, numbers and text cells alike", async () => {
    const path = await writeXlsx(join(folder.dir, "a.xlsx"), {
      Notes: [["ignored"]],
      放款明细: [
        ["合计", 2, "1500.10"],
        ["outOrderNo", "loanNo", "amount", "status", "finishTime"],
        ["L001", "B9001", 1000.1, "SUCCESS", "20261205100000"],
        ["L002", "B9002", "500.00", "FAIL", "20261205110000"],
      ],
    });
    const statement: StatementDefinition = {
      ...base,
      format: { kind: "xlsx", sheet: "放款明细" },
      header: { lines: 1, totals: { count: 1, amount: 2 } },
    };
    const { lines, totals } = await read(path, statement);
    expect(lines.map((l) => [l.lineNo, l.businessKey, l.amountMinor])).toEqual([
      [3, "L001", 100010n],
      [4, "L002", 50000n],
    ]);
    expect(totals.declared).toEqual({ count: 2, amountMinor: 150010n });
  });

  it("marks lines it cannot read instead of failing the file", async () => {
    const text =
      "outOrderNo,loanNo,amount,status,finishTime\nL001,,1.001,SUCCESS,\n,,5,SUCCESS,\nL003,,abc,SUCCESS,yesterday\n";
    const { lines } = await read(await writeText(join(folder.dir, "bad.csv"), text), base);
    expect(lines.map((l) => l.problem)).toEqual([
      "amount (column amount) does not read as an amount in yuan (digits, at most two decimals)",
      "no business key and no partner reference",
      "amount (column amount) does not read as an amount in yuan (digits, at most two decimals); occurredAt (column finishTime) does not read as a timestamp in yyyyMMddHHmmss",
    ]);
  });

  it("a problem names the column and what it should hold, never the cell's text", async () => {
    // Columns out of place: a name, an id number and a card number where codes and amounts go.
    const person = ["张伟", "110101199003071234", "6222021234567890123"];
    const text = [
      "outOrderNo,loanNo,amount,status,finishTime,type",
      `L001,B1,${person[0]},${person[0]},${person[1]},${person[0]}`,
      `L002,B2,${person[2]}.5,SUCCESS,${person[1]},loan`,
      "",
    ].join("\n");
    const statement: StatementDefinition = {
      ...base,
      behaviors: ["loan", "repay"],
      columns: { ...base.columns, kind: "type" },
      kinds: { loan: "loan", repay: "repay" },
      amount: { unit: "fen" },
    };
    const { lines } = await read(await writeText(join(folder.dir, "pii.csv"), text), statement);
    expect(lines.map((l) => l.problem)).toEqual([
      "amount (column amount) does not read as an amount in whole fen; status (column status) holds a value not in the statement's statuses; kind (column type) holds a value not in the statement's kinds; occurredAt (column finishTime) does not read as a timestamp in yyyyMMddHHmmss",
      "amount (column amount) does not read as an amount in whole fen; occurredAt (column finishTime) does not read as a timestamp in yyyyMMddHHmmss",
    ]);
    // The unlisted status is not kept as the funder's either.
    expect(lines[0]!.rawStatus).toBeUndefined();
    for (const line of lines) {
      for (const value of person)
        expect(
          JSON.stringify(line, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
        ).not.toContain(value);
    }
  });

  it("a status or kind named after an Object member is one the statement does not list", async () => {
    const text = [
      "outOrderNo,loanNo,amount,status,type",
      "L001,B1,1.00,constructor,loan",
      "L002,B2,2.00,SUCCESS,__proto__",
      "L003,B3,3.00,toString,constructor",
      "",
    ].join("\n");
    const { occurredAt: _occurredAt, ...columns } = base.columns;
    const statement: StatementDefinition = {
      ...base,
      behaviors: ["loan", "repay"],
      columns: { ...columns, kind: "type" },
      kinds: { loan: "loan", repay: "repay" },
    };
    const { lines } = await read(await writeText(join(folder.dir, "members.csv"), text), statement);
    expect(lines.map((l) => [l.status, l.behavior, l.problem])).toEqual([
      [undefined, "loan", "status (column status) holds a value not in the statement's statuses"],
      ["succeeded", undefined, "kind (column type) holds a value not in the statement's kinds"],
      [
        undefined,
        undefined,
        "status (column status) holds a value not in the statement's statuses; kind (column type) holds a value not in the statement's kinds",
      ],
    ]);
  });

  it("a status the definition does not list is malformed, even when it reads like one of ours", async () => {
    const text = "outOrderNo,loanNo,amount,status\nL001,B1,1.00,failed\nL002,B2,2.00,\n";
    const { occurredAt: _occurredAt, ...columns } = base.columns;
    const { lines } = await read(await writeText(join(folder.dir, "ours.csv"), text), {
      ...base,
      columns,
    });
    expect(lines.map((l) => [l.status, l.problem])).toEqual([
      [undefined, "status (column status) holds a value not in the statement's statuses"],
      [undefined, "status (column status) is empty"],
    ]);
  });

  it("without a status column every line stands for what the funder processed", async () => {
    const text = "outOrderNo,amount\nL001,1.00\n";
    const statement: StatementDefinition = {
      ...base,
      columns: { businessKey: "outOrderNo", amount: "amount" },
    };
    const path = await writeText(join(folder.dir, "nostatus.csv"), text);
    const { lines } = await read(path, statement);
    expect(lines.map((l) => [l.status, l.rawStatus, l.problem])).toEqual([
      ["succeeded", undefined, undefined],
    ]);
    const { lines: failedOnes } = await read(path, { ...statement, impliedStatus: "failed" });
    expect(failedOnes[0]!.status).toBe("failed");
  });

  it("marks a line with bytes its encoding cannot read as malformed, never guessing", async () => {
    const good = iconv.encode(
      "outOrderNo,loanNo,amount,status,finishTime\nL001,借据1,1.00,SUCCESS,\n",
      "GBK",
    );
    const broken = Buffer.concat([
      good,
      Buffer.from([0x4c, 0x30, 0x30, 0x32, 0x81, 0x2c]),
      Buffer.from(",2.00,SUCCESS,\n"),
    ]);
    const path = join(folder.dir, "garbled.csv");
    await writeFile(path, broken);
    const { lines } = await read(path, { ...base, encoding: "GBK" });
    expect(lines.map((l) => [l.partnerReference, l.problem])).toEqual([
      ["借据1", undefined],
      [undefined, "bytes that are not valid GBK"],
    ]);
  });

  it("names a missing column and a file cut short", async () => {
    const text = "outOrderNo,loanNo,sum\nL001,B1,1\n";
    await expect(
      read(await writeText(join(folder.dir, "cols.csv"), text), base),
    ).rejects.toMatchObject({
      code: "STATEMENT_UNREADABLE",
      message: expect.stringContaining(
        "line 1, read as the column names, has 3 column(s) but none named amount (amount), status (status), finishTime (occurredAt)",
      ),
    });
    await expect(
      read(
        await writeText(
          join(folder.dir, "short.csv"),
          "outOrderNo,loanNo,amount,status,finishTime\n",
        ),
        {
          ...base,
          footer: { lines: 1 },
        },
      ),
    ).rejects.toMatchObject({
      code: "STATEMENT_UNREADABLE",
      message: expect.stringContaining("cut short"),
    });
  });

  it("never quotes a line's cells in an error: they may be personal data", async () => {
    const person = ["张三", "6222021234567890123", "13800138000"];
    const expectClean = async (text: string, statement: StatementDefinition, says: string) => {
      const error = await read(await writeText(join(folder.dir, "p.csv"), text), statement).then(
        () => undefined,
        (thrown: Error) => thrown,
      );
      expect(error).toMatchObject({ code: "STATEMENT_UNREADABLE" });
      expect(error?.message).toContain(says);
      for (const cell of person) expect(error?.message).not.toContain(cell);
      expect(error?.message).not.toContain("1500.00");
    };
    // No line of column names: the first data line is taken for them.
    await expectClean(
      `L001,${person.join(",")},1500.00,SUCCESS\n`,
      base,
      "line 1, read as the column names, has 6 column(s) but none named outOrderNo",
    );
    // A totals line that is really a data line.
    await expectClean(
      `${person.join(",")},1500.00\nouterOrderNo,amount\n`,
      { ...base, header: { lines: 1, totals: { count: 0, amount: 2 } } },
      "the header totals on line 1 do not read",
    );
    // An unclosed quote.
    await expectClean(
      `outOrderNo,loanNo,amount,status,finishTime\nL001,"${person[0]}",1500.00,SUCCESS,20261205093000\nL002,"${person[1]}\n`,
      base,
      "a quote opened and never closed",
    );
  });

  it("a line longer than maxLineBytes fails the file at once, not once it is all in memory", async () => {
    const fixed: StatementDefinition = {
      ...base,
      format: { kind: "fixed-width", fields: { key: [0, 4], amount: [4, 6] } },
      columns: { businessKey: "key", amount: "amount" },
      amount: { unit: "fen" },
    };
    const huge = join(folder.dir, "huge.txt");
    await writeFile(huge, `L001000100\nL002000200\n${"x".repeat(32 * 1024 * 1024)}`);
    const started = Date.now();
    await expect(read(huge, fixed)).rejects.toMatchObject({
      code: "STATEMENT_UNREADABLE",
      message: expect.stringContaining("line 3 is longer than 65536 bytes (format.maxLineBytes)"),
    });
    expect(Date.now() - started).toBeLessThan(3000);
    // An unclosed quote would otherwise make the rest of the file one field.
    const quoted = join(folder.dir, "quoted.csv");
    await writeFile(
      quoted,
      `outOrderNo,loanNo,amount,status,finishTime\nL001,"B1,1.00,SUCCESS,20261205093000\n${"L002,B2,1.00,SUCCESS,20261205093000\n".repeat(20_000)}`,
    );
    await expect(read(quoted, base)).rejects.toMatchObject({
      code: "STATEMENT_UNREADABLE",
      message: expect.stringContaining("longer than format.maxLineBytes"),
    });
  });

  it("counts a delimited line's maxLineBytes in bytes of the file's encoding, as fixed-width does", async () => {
    const rows = async (text: string) => {
      const read: StatementRow[] = [];
      for await (const row of readStatementRows(
        Readable.from([iconv.encode(text, "GBK")]),
        { kind: "delimited", maxLineBytes: 80 },
        "GBK",
      )) {
        read.push(row);
      }
      return read;
    };
    // 30 Chinese characters: 60 bytes in GBK (90 in UTF-8, 30 characters); the line is 70 bytes.
    const fits = `L001,${"张".repeat(30)},1.00`;
    expect((await rows(`key,name,amount\n${fits}\n`)).map((row) => row.cells[0])).toEqual([
      "key",
      "L001",
    ]);
    // 40 of them and the rest: 113 bytes in GBK, though fewer than 80 characters.
    const over = `L001,${"张".repeat(40)},1.00,SUCCESS,20261205093000`;
    expect(over.length).toBeLessThan(80);
    await expect(rows(`key,name,amount\n${fits}\n${over}\n`)).rejects.toMatchObject({
      code: "STATEMENT_UNREADABLE",
      message: expect.stringContaining("line 3 is longer than 80 bytes (format.maxLineBytes)"),
    });
    // A quoted field running over lines counts as one line.
    await expect(
      rows(`key,name,amount\nL001,"${"张".repeat(20)}\n${"张".repeat(20)}",1.00\n`),
    ).rejects.toMatchObject({ message: expect.stringContaining("longer than 80 bytes") });
  });

  it("reads a long line in many small chunks in linear time, up to a raised maxLineBytes", async () => {
    const long = "y".repeat(4 * 1024 * 1024);
    const text = `L001000100${long}\r\nL002000200\r\n`;
    const bytes = Buffer.from(text);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 1000) chunks.push(bytes.subarray(at, at + 1000));
    const started = Date.now();
    const rows: StatementRow[] = [];
    for await (const row of readStatementRows(
      Readable.from(chunks),
      { kind: "fixed-width", fields: { key: [0, 4], amount: [4, 6] }, maxLineBytes: 8 << 20 },
      "UTF-8",
    )) {
      rows.push(row);
    }
    expect(Date.now() - started).toBeLessThan(2000);
    expect(rows.map((row) => [row.lineNo, row.cells, row.text.length])).toEqual([
      [1, ["L001", "000100"], 10 + long.length],
      [2, ["L002", "000200"], 10],
    ]);
  });
});
