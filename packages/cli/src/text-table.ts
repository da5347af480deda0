import stringWidth from "string-width";

/**
 * Rows of cells padded into aligned columns under a header, for operators reading a terminal.
 * Widths are display columns (`string-width`): a Chinese name takes two columns per character, and
 * a table of them still lines up.
 */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
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

/** A stored time (epoch ms) as operators read it: ISO 8601 in UTC. */
export function iso(time: number): string {
  return new Date(time).toISOString();
}
