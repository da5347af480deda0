/** Rows of cells padded into aligned columns under a header, for operators reading a terminal. */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const format = (row: readonly string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [format(header), ...rows.map(format)];
}

/** A stored time (epoch ms) as operators read it: ISO 8601 in UTC. */
export function iso(time: number): string {
  return new Date(time).toISOString();
}
