import { Decimal } from "decimal.js";

/**
 * Turns what a template expression produced into a plain message value, the form codecs
 * encode: Decimal -> string in plain notation (exact: a partner amount never passes through a
 * float), Date -> ISO-8601 string, bigint -> number when safe else string, Map -> object;
 * arrays and objects are copied recursively (so a rendered body never aliases the context).
 */
export function toMessageValue(value: unknown): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return value;
    case "number":
      return Number.isFinite(value) ? value : null;
    case "bigint":
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) return value.map((item) => toMessageValue(item) ?? null);
      if (Decimal.isDecimal(value)) return (value as Decimal).toFixed();
      if (value instanceof Date) return value.toISOString();
      if (value instanceof Map) {
        return toMessageValue(Object.fromEntries(value));
      }
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const converted = toMessageValue(item);
        if (converted !== undefined) copy[key] = converted;
      }
      return copy;
    }
    default:
      return undefined;
  }
}

/**
 * Whether a value is already plain JSON (strings, finite numbers, booleans, null, arrays and
 * plain objects without undefined members), so it can be serialised without a converting copy.
 */
export function isPlainJson(value: unknown, depth = 0): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth > 64) return false;
      if (Array.isArray(value)) {
        for (const item of value) if (!isPlainJson(item, depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
