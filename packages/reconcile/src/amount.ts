import { CapflowError } from "@capflow/core";

/** How a statement or an instance writes amounts: yuan with up to two decimals, or whole fen. */
export type AmountUnit = "yuan" | "fen";

// At least one digit after a point: `123.` is not how an amount is written, so it is not read.
const yuanPattern = /^([+-]?)(\d+)(?:\.(\d{1,2}))?$/;
const fenPattern = /^([+-]?)(\d+)$/;

/**
 * An amount as written (`1,500.00`, `150000`) in minor units (fen), exactly: decimal text to a
 * bigint, never through a floating-point number. Thousands separators and spaces are ignored.
 * Throws `STATEMENT_UNREADABLE` for anything else (three decimals, letters, empty).
 */
export function parseAmount(text: string, unit: AmountUnit): bigint {
  const cleaned = text.replace(/[,\s]/g, "");
  const match = (unit === "yuan" ? yuanPattern : fenPattern).exec(cleaned);
  if (match === null) {
    throw new CapflowError(
      "STATEMENT_UNREADABLE",
      `"${text}" is not an amount in ${unit}${unit === "yuan" ? " (digits, at most two decimals)" : " (whole fen)"}; check the statement's amount column and unit`,
    );
  }
  const [, sign, whole, fraction] = match;
  const minor =
    unit === "yuan"
      ? BigInt(whole!) * 100n + BigInt((fraction ?? "").padEnd(2, "0"))
      : BigInt(whole!);
  return sign === "-" ? -minor : minor;
}

/**
 * Minor units (fen) as yuan text with two decimals: `150000n` -> `1500.00`. Fen finer than one
 * (an instance's amount of `100.005` yuan is `10000.5` fen) keep their digits: `100.005`; text
 * that is not a decimal number is returned as it is, for display never fails.
 */
export function formatMinor(minor: bigint | string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(minor));
  if (match === null) return String(minor);
  const [, sign, whole, fraction] = match;
  const value = BigInt(whole!);
  const finer = (fraction ?? "").replace(/0+$/, "");
  const text = `${value / 100n}.${String(value % 100n).padStart(2, "0")}${finer}`;
  return sign === "-" && /[1-9]/.test(text) ? `-${text}` : text;
}
