import { Decimal } from "decimal.js";
import type { BuiltinProcessor } from "./builtin-processor.ts";

/** Exact decimal arithmetic for money; plain notation in text (never `1e+21`). */
export const Money = Decimal.clone({ precision: 40, toExpNeg: -40, toExpPos: 40 });

export const roundingModes = {
  UP: Decimal.ROUND_UP,
  DOWN: Decimal.ROUND_DOWN,
  CEIL: Decimal.ROUND_CEIL,
  FLOOR: Decimal.ROUND_FLOOR,
  HALF_UP: Decimal.ROUND_HALF_UP,
  HALF_DOWN: Decimal.ROUND_HALF_DOWN,
  HALF_EVEN: Decimal.ROUND_HALF_EVEN,
} as const;

export type RoundingModeName = keyof typeof roundingModes;

/** Reads an amount (number, numeric string, Decimal); refuses anything else with a clear message. */
export function toDecimal(value: unknown, what: string): Decimal {
  if (Decimal.isDecimal(value)) return new Money(value as Decimal);
  if (typeof value === "number" && Number.isFinite(value)) return new Money(value);
  if (typeof value === "bigint") return new Money(value.toString());
  if (typeof value === "string" && /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(value)) {
    return new Money(value.trim());
  }
  throw new TypeError(`${what} must be a number, got ${describe(value)}`);
}

function roundingMode(name: unknown): Decimal.Rounding {
  if (typeof name === "string" && Object.hasOwn(roundingModes, name)) {
    return roundingModes[name as RoundingModeName];
  }
  throw new TypeError(
    `rounding mode must be one of ${Object.keys(roundingModes).join(", ")}, got ${describe(name)}`,
  );
}

/** Yuan -> fen (an integer number), rounded by `roundingMode` (default HALF_UP). */
export function toCents(amount: unknown, mode: unknown = "HALF_UP"): number {
  const cents = toDecimal(amount, "amount").times(100).toDecimalPlaces(0, roundingMode(mode));
  if (cents.abs().greaterThan(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`amount ${cents.toFixed()} fen is beyond exact integer range`);
  }
  return cents.toNumber();
}

/** Fen -> yuan as text with exactly two decimals (`12345` -> `"123.45"`). */
export function toYuan(cents: unknown, mode: unknown = "HALF_UP"): string {
  return toDecimal(cents, "amount in fen").dividedBy(100).toFixed(2, roundingMode(mode));
}

function describe(value: unknown): string {
  if (typeof value === "string")
    return value.length > 20 ? "a non-numeric string" : JSON.stringify(value);
  return value === null ? "null" : typeof value;
}

export const amountProcessors: BuiltinProcessor[] = [
  {
    declaration: {
      name: "toCents",
      label: "元转分",
      description:
        "Converts an amount in yuan to an integer number of fen (exact decimal arithmetic).",
      params: [
        {
          name: "amount",
          type: "decimal",
          description: "Amount in yuan: number or numeric string",
        },
        {
          name: "roundingMode",
          type: "string",
          optional: true,
          description: "UP, DOWN, CEIL, FLOOR, HALF_UP (default), HALF_DOWN, HALF_EVEN",
        },
      ],
      returns: { type: "integer", description: "Amount in fen" },
    },
    fn: (_ctx, amount: unknown, mode?: unknown) => toCents(amount, mode ?? "HALF_UP"),
  },
  {
    declaration: {
      name: "toYuan",
      label: "分转元",
      description: "Converts an amount in fen to yuan as text with two decimals.",
      params: [
        { name: "cents", type: "decimal", description: "Amount in fen" },
        { name: "roundingMode", type: "string", optional: true },
      ],
      returns: { type: "string", description: 'Amount in yuan, e.g. "123.45"' },
    },
    fn: (_ctx, cents: unknown, mode?: unknown) => toYuan(cents, mode ?? "HALF_UP"),
  },
];
