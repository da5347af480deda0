import stringWidth from "string-width";

/**
 * Rows of cells padded into aligned columns under a header, for operators reading a terminal.
 * Widths are display columns (`string-width`): a Chinese name takes two columns per character, and
 * a table of them still lines up.
 */
export function textTable(
  header: readonly string[],
  stored: readonly (readonly string[])[],
): string[] {
  const rows = stored.map((row) => row.map(printable));
  const widths = header.map((title, column) =>
    Math.max(stringWidth(title), ...rows.map((row) => stringWidth(row[column] ?? ""))),
  );
  const format = (row: readonly string[]) =>
    row
      .map(
        (cell, column) => cell + " ".repeat(Math.max(0, (widths[column] ?? 0) - stringWidth(cell))),
      )
      .join("  ")
      .trimEnd();
  return [format(header), ...rows.map(format)];
}

const controlCharacters = /\p{Cc}/gu;
const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A cell with its control characters escaped (`\n`, `\x1b`): stored text printed raw could start
 * a fake row with a line break or hide columns with terminal escapes.
 */
function printable(cell: string): string {
  return cell.replace(
    controlCharacters,
    (c) => named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** A stored time (epoch ms) as operators read it: ISO 8601 in UTC. */
export function iso(time: number): string {
  return new Date(time).toISOString();
}
