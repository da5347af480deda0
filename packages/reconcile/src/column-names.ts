import type { StatementDefinition } from "./statement-definition.ts";

/**
 * Whether a delimited or xlsx statement names a column by position but leaves `columnNames` to
 * its default (a names line). Positions usually mean a file without names, and taking its first
 * data line for names would drop that line without a word, so the definition must say which.
 */
export function columnNamesUnsaid(statement: StatementDefinition): boolean {
  if (statement.format.kind === "fixed-width" || statement.columnNames !== undefined) return false;
  return Object.values(statement.columns).some((ref) => typeof ref === "number");
}
