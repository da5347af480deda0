import type { Readable } from "node:stream";
import { CapflowError } from "@capflow/core";
import { ownEntry } from "@capflow/core/internal";
import { DateTime } from "luxon";
import { parseAmount } from "./amount.ts";
import { columnNamesUnsaid } from "./column-names.ts";
import type {
  ColumnRef,
  OurStatus,
  StatementDefinition,
  StatementLayout,
} from "./statement-definition.ts";
import { readStatementRows, type StatementRow } from "./statement-rows.ts";

/** One data line of a statement, read through the definition's column mapping. */
export interface StatementLine {
  lineNo: number;
  businessKey?: string;
  partnerReference?: string;
  /** The behavior the line belongs to, when the statement has a kind column. */
  behavior?: string;
  /** In fen, exactly. Missing when the line is malformed. */
  amountMinor?: bigint;
  /**
   * Our status the funder's status maps to, or the statement's `impliedStatus` when it has no
   * status column. Missing when the line is malformed.
   */
  status?: OurStatus;
  /** The funder's status as written, when the statement's `statuses` list it. */
  rawStatus?: string;
  /** ISO 8601 with offset. */
  occurredAt?: string;
  /**
   * Why the line cannot be matched (no key, an amount that does not read): the columns and what
   * they should hold, never a cell's text.
   */
  problem?: string;
}

/** What the file says about itself, and what its lines add up to. */
export interface StatementTotals {
  declared: { count?: number; amountMinor?: bigint };
  lines: { count: number; amountMinor: bigint };
}

/**
 * Reads a statement as lines: skips the header lines (reading their totals), maps column names,
 * holds the footer lines back until the end (reading theirs), and turns every data row into a
 * {@link StatementLine}. `totals()` is complete once the lines are consumed.
 */
export class StatementReader {
  readonly #statement: StatementDefinition;
  readonly #bytes: Readable;
  #declared: StatementTotals["declared"] = {};
  #count = 0;
  #sum = 0n;
  #done = false;

  constructor(statement: StatementDefinition, bytes: Readable) {
    this.#statement = statement;
    this.#bytes = bytes;
  }

  totals(): StatementTotals {
    if (!this.#done) throw new Error("read every line before asking for the totals");
    return {
      declared: { ...this.#declared },
      lines: { count: this.#count, amountMinor: this.#sum },
    };
  }

  async *lines(): AsyncGenerator<StatementLine> {
    const statement = this.#statement;
    const rows = readStatementRows(this.#bytes, statement.format, statement.encoding ?? "UTF-8");
    const headerLines = statement.header?.lines ?? 0;
    const footerLines = statement.footer?.lines ?? 0;
    if (columnNamesUnsaid(statement)) {
      throw new CapflowError(
        "STATEMENT_INVALID",
        `statement ${statement.channel}/${statement.code} gives columns by position without saying whether a line of column names comes first; set columnNames to true or false`,
      );
    }
    const wantsNames = statement.columnNames ?? statement.format.kind !== "fixed-width";
    const header: StatementRow[] = [];
    const held: StatementRow[] = [];
    let mapper: ((row: StatementRow) => StatementLine) | undefined;
    if (statement.format.kind === "fixed-width" || !wantsNames) {
      mapper = lineMapper(statement, fixedNames(statement));
    }
    for await (const row of rows) {
      if (header.length < headerLines) {
        header.push(row);
        if (header.length === headerLines) this.#readTotals(statement.header!, header, "header");
        continue;
      }
      if (mapper === undefined) {
        mapper = lineMapper(
          statement,
          new Map(row.cells.map((name, index) => [name.trim(), index])),
          row.lineNo,
        );
        continue;
      }
      held.push(row);
      if (held.length <= footerLines) continue;
      const line = mapper(held.shift()!);
      this.#count += 1;
      if (line.amountMinor !== undefined) this.#sum += line.amountMinor;
      yield line;
    }
    if (footerLines > 0) {
      if (held.length < footerLines) {
        throw new CapflowError(
          "STATEMENT_UNREADABLE",
          `the statement ends before its ${footerLines} footer line(s); the file may be cut short`,
        );
      }
      this.#readTotals(statement.footer!, held, "footer");
    }
    this.#done = true;
  }

  #readTotals(layout: StatementLayout, rows: StatementRow[], part: string): void {
    const totals = layout.totals;
    if (totals === undefined) return;
    const row = rows[totals.line ?? 0]!;
    const unit = this.#statement.amount?.unit ?? "yuan";
    let count: string | undefined;
    let amount: string | undefined;
    if (totals.pattern !== undefined) {
      const groups = new RegExp(totals.pattern).exec(row.text)?.groups;
      if (groups === undefined) {
        throw new CapflowError(
          "STATEMENT_UNREADABLE",
          `the ${part} totals line ${row.lineNo} does not match ${totals.pattern}; check the file or the pattern`,
        );
      }
      count = groups.count;
      amount = groups.amount;
    } else {
      const cell = (ref: ColumnRef | undefined) =>
        ref === undefined ? undefined : typeof ref === "number" ? row.cells[ref] : undefined;
      count = cell(totals.count);
      amount = cell(totals.amount);
    }
    try {
      if (count !== undefined) this.#declared.count = Number(parseAmount(count, "fen"));
      if (amount !== undefined) this.#declared.amountMinor = parseAmount(amount, unit);
    } catch {
      // The cell's text is not quoted: a misplaced totals line may be a line of personal data.
      throw new CapflowError(
        "STATEMENT_UNREADABLE",
        `the ${part} totals on line ${row.lineNo} do not read as a count and an amount in ${unit}; check the ${part}'s lines and totals positions against the file`,
      );
    }
  }
}

function fixedNames(statement: StatementDefinition): Map<string, number> {
  if (statement.format.kind !== "fixed-width") return new Map();
  return new Map(Object.keys(statement.format.fields).map((name, index) => [name, index]));
}

/**
 * Builds the function that reads one row, resolving column names once. `namesLine` is the line
 * read as column names, when there is one: a name the definition expects and that line lacks
 * fails the file, naming what is missing but never the line's cells (when the line of names is
 * missing, they are the first line's data: names, accounts, amounts).
 */
function lineMapper(
  statement: StatementDefinition,
  names: Map<string, number>,
  namesLine?: number,
): (row: StatementRow) => StatementLine {
  const c = statement.columns;
  const missing = Object.entries(c).filter(([, ref]) => typeof ref === "string" && !names.has(ref));
  if (missing.length > 0) {
    const fixed = statement.format.kind === "fixed-width";
    throw new CapflowError(
      "STATEMENT_UNREADABLE",
      fixed
        ? `the statement's columns ${missing.map(([, ref]) => ref).join(", ")} are not fields of format.fields`
        : `line ${namesLine ?? "?"}, read as the column names, has ${names.size} column(s) but none named ${missing.map(([role, ref]) => `${ref} (${role})`).join(", ")}; check the names against the file, and header.lines and columnNames (a file without a line of names takes columnNames false and columns by position)`,
      { context: { channel: statement.channel, statement: statement.code } },
    );
  }
  const index = (ref: ColumnRef | undefined): number | undefined =>
    ref === undefined ? undefined : typeof ref === "number" ? ref : names.get(ref);
  const key = index(c.businessKey);
  const reference = index(c.partnerReference);
  const amount = index(c.amount)!;
  const status = index(c.status);
  const occurred = index(c.occurredAt);
  const kind = index(c.kind);
  const unit = statement.amount?.unit ?? "yuan";
  const statuses = statement.statuses;
  const implied = statement.impliedStatus ?? "succeeded";
  const kinds = statement.kinds;
  const zone = statement.timeZone;
  const format = statement.timestampFormat;
  const single = statement.behaviors.length === 1 ? statement.behaviors[0] : undefined;
  const encoding = statement.encoding ?? "UTF-8";
  // A problem names the column and what it should hold, never the cell: a cell that does not
  // read as what its column should hold may be anything, a name or an id number among them (a
  // column out of place), and a problem is stored and shown as it is.
  const column = (role: string, ref: ColumnRef | undefined) =>
    typeof ref === "number" ? `${role} (column at position ${ref})` : `${role} (column ${ref})`;
  const amountExpected =
    unit === "yuan" ? "an amount in yuan (digits, at most two decimals)" : "an amount in whole fen";
  return (row) => {
    const cell = (at: number | undefined) => {
      if (at === undefined) return undefined;
      const value = row.cells[at]?.trim();
      return value === undefined || value === "" ? undefined : value;
    };
    const line: StatementLine = { lineNo: row.lineNo };
    const problems: string[] = [];
    // iconv-lite writes U+FFFD for bytes the encoding cannot read: a garbled key or amount must
    // not be matched (or mismatched) as if the funder had written it.
    if (row.text.includes("\uFFFD")) problems.push(`bytes that are not valid ${encoding}`);
    const businessKey = cell(key);
    if (businessKey !== undefined) line.businessKey = businessKey;
    const partnerReference = cell(reference);
    if (partnerReference !== undefined) line.partnerReference = partnerReference;
    if (businessKey === undefined && partnerReference === undefined) {
      problems.push("no business key and no partner reference");
    }
    const amountText = cell(amount);
    if (amountText === undefined) problems.push(`${column("amount", c.amount)} is empty`);
    else {
      try {
        line.amountMinor = parseAmount(amountText, unit);
      } catch {
        problems.push(`${column("amount", c.amount)} does not read as ${amountExpected}`);
      }
    }
    if (status === undefined) line.status = implied;
    else {
      const rawStatus = cell(status);
      if (rawStatus === undefined) problems.push(`${column("status", c.status)} is empty`);
      else {
        // A value the definition does not list is unknown, even if it reads like one of ours.
        // Only a listed value is kept as the funder's status: an unlisted one may be anything.
        const mapped = ownEntry(statuses, rawStatus);
        if (mapped === undefined)
          problems.push(
            `${column("status", c.status)} holds a value not in the statement's statuses`,
          );
        else {
          line.rawStatus = rawStatus;
          line.status = mapped;
        }
      }
    }
    const kindText = cell(kind);
    if (kindText !== undefined) {
      const behavior = ownEntry(kinds, kindText);
      if (behavior === undefined)
        problems.push(`${column("kind", c.kind)} holds a value not in the statement's kinds`);
      else line.behavior = behavior;
    } else if (single !== undefined) line.behavior = single;
    const occurredText = cell(occurred);
    if (occurredText !== undefined) {
      const parsed =
        format === undefined
          ? DateTime.fromISO(occurredText, { zone })
          : DateTime.fromFormat(occurredText, format, { zone });
      if (parsed.isValid) line.occurredAt = parsed.toISO()!;
      else
        problems.push(
          `${column("occurredAt", c.occurredAt)} does not read as a timestamp in ${format ?? "ISO 8601"}`,
        );
    }
    if (problems.length > 0) line.problem = problems.join("; ");
    return line;
  };
}
