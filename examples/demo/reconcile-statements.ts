import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  type DifferenceKind,
  differenceKinds,
  formatMinor,
  loadStatementsOrThrow,
  parseAmount,
  type RunRecord,
  runReconciliation,
  type StatementDefinition,
} from "@capflow/reconcile";
import type { CapflowDatabase } from "@capflow/store-knex";
import ExcelJS from "exceljs";
import iconv from "iconv-lite";
import { DateTime } from "luxon";
import yazl from "yazl";
import type { FunderProfile } from "./mock-funders.ts";

/** One line as a funder writes it, before the planted differences. */
interface FunderLine {
  businessKey: string;
  partnerReference: string;
  amountMinor: bigint;
  status: string;
  occurredAt: Date;
}

export interface DemoReconciliation {
  /** Printed after the run's summary. */
  text: string;
  problems: string[];
}

/**
 * The demo's reconciliation (对账): each example funder's statement definition
 * (`definitions/*.statement.json`), a statement file written in its format from what the funder
 * did (the instances that settled), with one planted difference of each kind, reconciled like a
 * morning run would; then the same file again, which must change nothing.
 */
export async function reconcileDemoStatements(
  db: CapflowDatabase,
  funders: readonly FunderProfile[],
): Promise<DemoReconciliation> {
  const dir = await mkdtemp(join(tmpdir(), "capflow-demo-statements-"));
  const rows: string[] = [];
  const problems: string[] = [];
  try {
    for (const funder of funders) {
      const statements = await loadStatementsOrThrow(join(funder.dir, "definitions"));
      for (const statement of statements) {
        const { lines, elsewhere, businessDate } = await funderLines(db, statement);
        const name = `${statement.channel}/${statement.code}`;
        if (lines.length < 4) {
          rows.push(
            `  ${name.padEnd(22)} too few settled loans to plant differences (${lines.length})`,
          );
          continue;
        }
        const file = join(dir, `${statement.channel}-${businessDate}${extension(statement)}`);
        await writeStatementFile(file, statement, plantDifferences(lines, elsewhere));
        const { run } = await runReconciliation({
          db,
          statement,
          businessDate,
          file,
          startedBy: "demo",
        });
        const again = await runReconciliation({
          db,
          statement,
          businessDate,
          file,
          startedBy: "demo",
        });
        rows.push(
          `  ${name.padEnd(22)} ${businessDate}  ${String(run.lineCount).padStart(3)} lines  ${countsText(run)}`,
        );
        // Every kind but ambiguous-line, which needs two loans sharing a key or reference.
        const missing = differenceKinds.filter(
          (kind) => kind !== "ambiguous-line" && (run.counts?.[kind] ?? 0) < 1,
        );
        if (missing.length > 0)
          problems.push(`${name}: no ${missing.join(", ")} found among the planted differences`);
        if (!again.reused || again.run.id !== run.id)
          problems.push(`${name}: the same file reconciled twice made a second run`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const text = [
    "Reconciliation (对账): each funder's statement, one planted difference of each kind",
    ...rows,
    `  the same files again: ${problems.some((p) => p.includes("twice")) ? "NOT idempotent" : "nothing changed (runs reused by file and definition digest)"}`,
    "",
  ].join("\n");
  return { text: `${text}\n`, problems };
}

function countsText(run: RunRecord): string {
  const counts = run.counts;
  if (counts === undefined) return run.state;
  const short: Record<DifferenceKind | "matched", string> = {
    matched: "matched",
    "missing-ours": "ours?",
    "missing-funder": "funder?",
    "amount-mismatch": "amount",
    "status-mismatch": "status",
    "other-day": "other-day",
    "ambiguous-line": "ambiguous",
    "duplicate-line": "dup",
    "malformed-line": "malformed",
    "totals-mismatch": "totals",
  };
  return Object.entries(short)
    .map(([kind, label]) => `${label} ${counts[kind as DifferenceKind | "matched"]}`)
    .join(", ");
}

/** What the funder did: the statement's behaviors' settled instances, on the busiest date. */
async function funderLines(
  db: CapflowDatabase,
  statement: StatementDefinition,
): Promise<{ lines: FunderLine[]; elsewhere: FunderLine[]; businessDate: string }> {
  const result = await db.knex.raw(
    `SELECT business_key, status, input, context, updated_at FROM "${db.schema}"."instances"
     WHERE channel = ? AND behavior = ANY(?::text[]) AND status IN ('succeeded', 'failed')
     ORDER BY business_key`,
    [statement.channel, `{${statement.behaviors.join(",")}}`],
  );
  const read = (record: Record<string, unknown>, path: string | undefined) =>
    path
      ?.split(".")
      .slice(1)
      .reduce<unknown>(
        (value, key) => (value as Record<string, unknown> | undefined)?.[key],
        record[path.split(".")[0]!],
      );
  const lines: (FunderLine & { date: string })[] = [];
  for (const row of result.rows as Record<string, unknown>[]) {
    const amount = read(row, statement.ours?.amount ?? "input.amount");
    if (typeof amount !== "string" && typeof amount !== "number") continue;
    const occurredAt = new Date(row.updated_at as string | Date);
    lines.push({
      businessKey: String(row.business_key),
      partnerReference: String(read(row, statement.ours?.partnerReference) ?? ""),
      amountMinor: parseAmount(String(amount), statement.ours?.amountUnit ?? "yuan"),
      status: String(row.status),
      occurredAt,
      date: DateTime.fromJSDate(occurredAt, { zone: statement.timeZone }).toISODate()!,
    });
  }
  const perDate = new Map<string, number>();
  for (const line of lines)
    if (line.status === "succeeded") perDate.set(line.date, (perDate.get(line.date) ?? 0) + 1);
  const businessDate = [...perDate.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "1970-01-01";
  return {
    lines: lines.filter((line) => line.date === businessDate),
    elsewhere: lines.filter((line) => line.date !== businessDate && line.status === "succeeded"),
    businessDate,
  };
}

/** The funder's lines with one difference of each kind planted, and its declared totals. */
function plantDifferences(
  lines: FunderLine[],
  elsewhere: FunderLine[],
): { lines: (FunderLine | string)[]; count: number } {
  const succeeded = lines.filter((line) => line.status === "succeeded");
  const [amountOff, statusOff, dropped, repeated, lateOne] = succeeded;
  // A loan of another day listed again (or, without one, a line dated the day before).
  const otherDay =
    elsewhere[0] ??
    (lateOne === undefined
      ? undefined
      : { ...lateOne, occurredAt: new Date(lateOne.occurredAt.getTime() - 86_400_000) });
  const planted: (FunderLine | string)[] = [];
  for (const line of lines) {
    if (line === dropped) continue; // missing on the funder's side
    if (line === lateOne && elsewhere.length === 0) continue; // planted below, a day earlier
    if (line === amountOff)
      planted.push({ ...line, amountMinor: line.amountMinor + 1n }); // one fen more
    else if (line === statusOff) planted.push({ ...line, status: "failed" });
    else planted.push(line);
  }
  planted.push({ ...repeated!, occurredAt: new Date(repeated!.occurredAt.getTime() + 1000) }); // a duplicate
  planted.push({
    ...succeeded[0]!,
    businessKey: `UNKNOWN-${randomUUID().slice(0, 8)}`,
    partnerReference: "X-0",
  }); // not ours
  if (otherDay !== undefined) planted.push(otherDay); // another day's
  planted.push("malformed"); // a line whose amount does not read
  return { lines: planted, count: planted.length + 1 }; // the declared count is one off
}

function extension(statement: StatementDefinition): string {
  if (statement.format.kind === "xlsx") return ".xlsx";
  return statement.compression === "gzip"
    ? ".gz"
    : statement.compression === "zip"
      ? ".zip"
      : ".txt";
}

/** Writes lines in the statement's own layout, encoding and compression. */
async function writeStatementFile(
  path: string,
  statement: StatementDefinition,
  planted: { lines: (FunderLine | string)[]; count: number },
): Promise<void> {
  const unit = statement.amount?.unit ?? "yuan";
  const amountText = (minor: bigint) => (unit === "yuan" ? formatMinor(minor) : minor.toString());
  const statusText = (ours: string) =>
    Object.entries(statement.statuses ?? {}).find(([, status]) => status === ours)?.[0] ?? ours;
  const c = statement.columns;
  const roles: [keyof typeof c, (line: FunderLine) => string][] = [
    ["businessKey", (line) => line.businessKey],
    ["partnerReference", (line) => line.partnerReference],
    ["amount", (line) => amountText(line.amountMinor)],
    ["status", (line) => statusText(line.status)],
    [
      "occurredAt",
      (line) =>
        DateTime.fromJSDate(line.occurredAt, { zone: statement.timeZone }).toFormat(
          statement.timestampFormat ?? "yyyy-MM-dd'T'HH:mm:ss",
        ),
    ],
  ];
  const used = roles.filter(([role]) => c[role] !== undefined);
  const sum = planted.lines.reduce(
    (total, line) => (typeof line === "string" ? total : total + line.amountMinor),
    0n,
  );
  const totals = (layout: StatementDefinition["header"]) => {
    const t = layout?.totals;
    if (t === undefined) return undefined;
    if (t.pattern !== undefined) return `TOTAL ${planted.count} ${amountText(sum)}`;
    const cells = ["TOTAL"];
    if (typeof t.count === "number") cells[t.count] = String(planted.count);
    if (typeof t.amount === "number") cells[t.amount] = amountText(sum);
    return Array.from(cells, (cell) => cell ?? "").join(delimiter);
  };
  const format = statement.format;
  const cells = (line: FunderLine | string) =>
    used.map(([role, value]) =>
      typeof line === "string"
        ? role === "amount"
          ? "12.345"
          : role === "businessKey"
            ? "BROKEN-1"
            : ""
        : value(line),
    );
  if (format.kind === "xlsx") {
    // A workbook as a bank's back office exports it: totals and column names are rows too.
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet(typeof format.sheet === "string" ? format.sheet : "Sheet1");
    const totalsRow = (layout: StatementDefinition["header"]) => {
      const t = layout?.totals;
      if (t === undefined) return undefined;
      const row: string[] = ["TOTAL"];
      if (typeof t.count === "number") row[t.count] = String(planted.count);
      if (typeof t.amount === "number") row[t.amount] = amountText(sum);
      return Array.from(row, (cell) => cell ?? "");
    };
    const head = totalsRow(statement.header);
    if (head !== undefined) sheet.addRow(head);
    if (statement.columnNames !== false) sheet.addRow(used.map(([role]) => String(c[role])));
    for (const line of planted.lines) sheet.addRow(cells(line));
    const foot = totalsRow(statement.footer);
    if (foot !== undefined) sheet.addRow(foot);
    await writeFile(path, Buffer.from(await workbook.xlsx.writeBuffer()));
    return;
  }
  const delimiter = format.kind === "delimited" ? (format.delimiter ?? ",") : " ";
  const text: string[] = [];
  const header = totals(statement.header);
  if (header !== undefined) text.push(header);
  let body: Buffer[];
  const encoding = statement.encoding ?? "UTF-8";
  if (format.kind === "fixed-width") {
    const place = (line: FunderLine | string) => {
      const bytes = Buffer.alloc(
        Math.max(...Object.values(format.fields).map(([s, l]) => s + l)),
        0x20,
      );
      for (const [role, value] of used) {
        const [start, length] = format.fields[c[role] as string]!;
        const cell =
          typeof line === "string"
            ? role === "amount"
              ? "12.345"
              : role === "businessKey"
                ? "BROKEN-1"
                : ""
            : value(line);
        iconv.encode(cell, encoding).subarray(0, length).copy(bytes, start);
      }
      return bytes;
    };
    body = planted.lines.map(place);
  } else {
    if (statement.columnNames !== false)
      text.push(used.map(([role]) => String(c[role])).join(delimiter));
    body = planted.lines.map((line) => iconv.encode(cells(line).join(delimiter), encoding));
  }
  const newline = Buffer.from("\n");
  const parts: Buffer[] = text.flatMap((line) => [iconv.encode(line, encoding), newline]);
  for (const line of body) parts.push(line, newline);
  const footer = totals(statement.footer);
  if (footer !== undefined) parts.push(iconv.encode(footer, encoding), newline);
  const bytes = Buffer.concat(parts);
  if (statement.compression === "gzip") await writeFile(path, gzipSync(bytes));
  else if (statement.compression === "zip") {
    const zip = new yazl.ZipFile();
    zip.addBuffer(bytes, `${(statement.zipEntry ?? "statement.txt").replace("*", "20261205")}`);
    zip.end();
    await new Promise<void>((resolve, reject) =>
      zip.outputStream.pipe(createWriteStream(path)).on("close", resolve).on("error", reject),
    );
  } else await writeFile(path, bytes);
}
