import type { Readable, Transform } from "node:stream";
import { CapflowError } from "@capflow/core";
import { parse } from "csv-parse";
import ExcelJS from "exceljs";
import iconv from "iconv-lite";
import type { StatementFormat } from "./statement-definition.ts";

/** One line of a statement file (or one row of a sheet), split into its cells. */
export interface StatementRow {
  /** 1-based line (or sheet row) number in the file. */
  lineNo: number;
  cells: string[];
  /** The line's text: what a totals pattern is matched against (a sheet row: cells joined by tabs). */
  text: string;
}

/**
 * Streams the rows of a statement's bytes in its format and encoding: delimited text through
 * csv-parse, fixed-width lines cut by byte or character positions, xlsx through exceljs's
 * streaming reader. Empty lines are skipped. Memory stays bounded by one chunk, whatever the size.
 */
export function readStatementRows(
  bytes: Readable,
  format: StatementFormat,
  encoding: string,
): AsyncGenerator<StatementRow> {
  if (!iconv.encodingExists(encoding)) {
    throw new CapflowError(
      "STATEMENT_INVALID",
      `unknown encoding ${encoding}; use UTF-8, GBK, GB18030 or another name iconv-lite knows`,
    );
  }
  switch (format.kind) {
    case "delimited":
      return delimitedRows(bytes, format, encoding);
    case "fixed-width":
      return fixedWidthRows(bytes, format, encoding);
    case "xlsx":
      return xlsxRows(bytes, format);
  }
}

/** Default longest line of a text statement: far above any bank's, far below trouble. */
const defaultMaxLineBytes = 64 * 1024;

function maxLineBytes(format: Extract<StatementFormat, { kind: "delimited" | "fixed-width" }>) {
  return format.maxLineBytes ?? defaultMaxLineBytes;
}

async function* delimitedRows(
  bytes: Readable,
  format: Extract<StatementFormat, { kind: "delimited" }>,
  encoding: string,
): AsyncGenerator<StatementRow> {
  const delimiter = format.delimiter ?? ",";
  const limit = maxLineBytes(format);
  const bytesOf = byteLength(encoding);
  const decoder = iconv.decodeStream(encoding, { stripBOM: true }) as unknown as Transform;
  bytes.on("error", (error) => decoder.destroy(error));
  const parser = bytes.pipe(decoder).pipe(
    parse({
      delimiter,
      quote: format.quote === false ? null : (format.quote ?? '"'),
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      trim: false,
      info: true,
      // The record as written, to count its bytes in the file's encoding.
      raw: true,
      // An unclosed quote would otherwise hold the rest of the file as one field. csv-parse counts
      // decoded text (at most 3 UTF-8 bytes for each byte of the file in any encoding), so this
      // bounds memory without failing a line that fits; the exact count is below.
      max_record_size: limit * 3,
    }),
  );
  decoder.on("error", (error) => parser.destroy(error));
  try {
    for await (const { record, info, raw } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
      raw: string;
    }>) {
      if (bytesOf(withoutLineBreaks(raw)) > limit) throw lineTooLong(info.lines, limit);
      yield { lineNo: info.lines, cells: record, text: record.join(delimiter) };
    }
  } catch (error) {
    throw unreadable(error);
  }
}

/**
 * How many bytes text takes in an encoding: what the file held, since the text was decoded from
 * it (a GBK Chinese character is two bytes, three in UTF-8, one character to JavaScript).
 */
function byteLength(encoding: string): (text: string) => number {
  const utf8 = /^utf-?8$/i.test(encoding);
  if (utf8) return (text) => Buffer.byteLength(text, "utf8");
  // ASCII text is one byte a character in GBK, GB18030 and the like; other text is encoded.
  const asciiCompatible = iconv.encode('a,|"', encoding).length === 4;
  return (text) =>
    asciiCompatible && Buffer.byteLength(text, "utf8") === text.length
      ? text.length
      : iconv.encode(text, encoding).length;
}

/** A record's text without the line breaks before and after it (csv-parse's raw keeps some). */
function withoutLineBreaks(raw: string): string {
  let start = 0;
  let end = raw.length;
  while (start < end && (raw.charCodeAt(start) === 10 || raw.charCodeAt(start) === 13)) start++;
  while (end > start && (raw.charCodeAt(end - 1) === 10 || raw.charCodeAt(end - 1) === 13)) end--;
  return start === 0 && end === raw.length ? raw : raw.slice(start, end);
}

/**
 * Splits bytes at `\n` (dropping a `\r` before it). A line's pieces are kept until its end and
 * joined once, so a long line costs its length, not its length times its chunks; a line longer
 * than `maxLineBytes` fails the file before it is held in memory.
 */
async function* splitLines(
  bytes: Readable,
  maxLineBytes: number,
): AsyncGenerator<{ lineNo: number; line: Buffer }> {
  let pieces: Buffer[] = [];
  let held = 0;
  let lineNo = 0;
  const finish = (last: Buffer): Buffer => {
    const joined = held === 0 ? last : Buffer.concat([...pieces, last], held + last.length);
    pieces = [];
    held = 0;
    const line = joined[joined.length - 1] === 13 ? joined.subarray(0, -1) : joined;
    if (line.length > maxLineBytes) throw lineTooLong(lineNo, maxLineBytes);
    return line;
  };
  for await (const chunk of bytes as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(10, start); end !== -1; end = chunk.indexOf(10, start)) {
      lineNo += 1;
      yield { lineNo, line: finish(chunk.subarray(start, end)) };
      start = end + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      held += rest.length;
      // One byte more than the cap for a `\r` still to come.
      if (held > maxLineBytes + 1) throw lineTooLong(lineNo + 1, maxLineBytes);
      pieces.push(rest);
    }
  }
  if (held > 0) {
    lineNo += 1;
    yield { lineNo, line: finish(Buffer.alloc(0)) };
  }
}

function lineTooLong(lineNo: number, maxLineBytes: number): CapflowError {
  return new CapflowError(
    "STATEMENT_UNREADABLE",
    `line ${lineNo} is longer than ${maxLineBytes} bytes (format.maxLineBytes): the file is not laid out as defined, or its lines are longer than the definition allows; check the file, or raise format.maxLineBytes`,
    { context: { lineNo, maxLineBytes } },
  );
}

async function* fixedWidthRows(
  bytes: Readable,
  format: Extract<StatementFormat, { kind: "fixed-width" }>,
  encoding: string,
): AsyncGenerator<StatementRow> {
  const fields = Object.values(format.fields);
  const byBytes = (format.unit ?? "bytes") === "bytes";
  let first = true;
  try {
    for await (let { lineNo, line } of splitLines(bytes, maxLineBytes(format))) {
      if (first && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf)
        line = line.subarray(3);
      first = false;
      if (line.length === 0) continue;
      const text = iconv.decode(line, encoding);
      const cells = byBytes
        ? fields.map(([start, length]) =>
            iconv.decode(line.subarray(start, start + length), encoding).trim(),
          )
        : fields.map(([start, length]) => text.slice(start, start + length).trim());
      yield { lineNo, cells, text };
    }
  } catch (error) {
    throw unreadable(error);
  }
}

async function* xlsxRows(
  bytes: Readable,
  format: Extract<StatementFormat, { kind: "xlsx" }>,
): AsyncGenerator<StatementRow> {
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(bytes, {
    sharedStrings: "cache",
    worksheets: "emit",
    styles: "cache",
    hyperlinks: "ignore",
    entries: "ignore",
  });
  const wanted = format.sheet ?? 1;
  let position = 0;
  let found = false;
  try {
    for await (const sheet of reader) {
      position += 1;
      const name = (sheet as unknown as { name?: string }).name;
      const isWanted = typeof wanted === "number" ? position === wanted : name === wanted;
      if (!isWanted || found) {
        // Drain the sheet to reach the next one.
        for await (const _ of sheet) void _;
        continue;
      }
      found = true;
      for await (const row of sheet) {
        const values = (row as ExcelJS.Row).values as unknown[];
        const cells: string[] = [];
        for (let index = 1; index < values.length; index++) cells.push(cellText(values[index]));
        while (cells.length > 0 && cells[cells.length - 1] === "") cells.pop();
        if (cells.length === 0) continue;
        yield { lineNo: (row as ExcelJS.Row).number, cells, text: cells.join("\t") };
      }
    }
  } catch (error) {
    throw unreadable(error);
  }
  if (!found) {
    throw new CapflowError(
      "STATEMENT_UNREADABLE",
      `the workbook has no sheet ${String(wanted)}; check format.sheet`,
    );
  }
}

/**
 * A cell as text. Numbers are written in their shortest exact decimal form (what the file's XML
 * holds for amounts with two decimals); dates as the wall-clock time they show
 * (`yyyy-MM-dd HH:mm:ss`), to be read in the statement's time zone.
 */
function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean")
    return String(value);
  if (value instanceof Date) return value.toISOString().slice(0, 19).replace("T", " ");
  if (typeof value === "object") {
    const v = value as { text?: unknown; result?: unknown; richText?: { text: string }[] };
    if (v.richText !== undefined) return v.richText.map((part) => part.text).join("");
    if (v.result !== undefined) return cellText(v.result);
    if (v.text !== undefined) return cellText(v.text);
  }
  return String(value);
}

function unreadable(error: unknown): CapflowError {
  if (error instanceof CapflowError) return error;
  return new CapflowError(
    "STATEMENT_UNREADABLE",
    `the statement does not read as its definition says (${describeParseError(error)}); check format, encoding and compression`,
    { cause: error },
  );
}

/**
 * What went wrong, without the file's text: csv-parse quotes the character it choked on, and a
 * run's error is stored and shown unmasked, so its errors are told by code and line only.
 */
function describeParseError(error: unknown): string {
  const { code, lines } = (error ?? {}) as { code?: unknown; lines?: unknown };
  if (typeof code === "string" && code.startsWith("CSV_")) {
    const at = typeof lines === "number" ? ` at line ${lines}` : "";
    const what: Record<string, string> = {
      CSV_QUOTE_NOT_CLOSED: "a quote opened and never closed",
      CSV_INVALID_CLOSING_QUOTE: "a character right after a closing quote",
      CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: "a character right after a closing quote",
      CSV_MAX_RECORD_SIZE:
        "a line (or a quoted field running over lines) longer than format.maxLineBytes; an unclosed quote, or raise format.maxLineBytes",
    };
    return `${what[code] ?? code}${at}`;
  }
  return (error as Error)?.message ?? String(error);
}
