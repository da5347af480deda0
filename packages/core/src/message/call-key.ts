import { Decimal } from "decimal.js";

/**
 * The memo key of a processor call: its name and a stable text of its arguments, so that two
 * calls with equal arguments (objects compared by content, keys in any order) share one run.
 */
export function callKey(name: string, args: readonly unknown[]): string {
  let key = name;
  for (const arg of args) key += `\u0000${keyOf(arg)}`;
  return key;
}

function keyOf(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `s${value}`;
    case "number":
      return `n${value}`;
    case "boolean":
      return value ? "t" : "f";
    case "undefined":
      return "u";
    case "bigint":
      return `b${value}`;
    case "object":
      if (value === null) return "z";
      if (Decimal.isDecimal(value)) return `d${(value as Decimal).toString()}`;
      if (value instanceof Date) return `D${value.getTime()}`;
      return `j${stableJson(value)}`;
    default:
      return `?${String(value)}`;
  }
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== "object") return keyOf(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (Decimal.isDecimal(value)) return keyOf(value);
  if (value instanceof Date) return keyOf(value);
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${stableJson(record[key])}`).join(",")}}`;
}
