/** Fraction digits a product's amount may have when the product does not say (fen, cents). */
export const defaultAmountScale = 2;

/** Integer digits an amount may have: the largest quota limit has as many. */
const integerDigits = 18;

export type PlainAmount = { ok: true; amount: string } | { ok: false; problem: string };

/**
 * An amount of money as the upstream sends it, read as a plain decimal: digits (no leading zero
 * but a lone one), then optionally a point and 1 to `scale` digits; a string such as `"1000.00"`,
 * or a number whose shortest form is one (`1000`, `1000.5`). Everything a decimal library or
 * `Number()` would also read is refused, because it is not what a funder's statement or the
 * caller's ledger says: a sign (`-0`, `+5`, `-10`), an exponent (`1e3`), hexadecimal (`0x10`),
 * blanks around it (`" 12 "`), `Infinity`, `NaN`, a lone point (`12.`, `.5`), separators
 * (`1,000`). A problem says what was wrong, never the value (it may be personal data).
 */
export function plainAmount(value: unknown, scale: number): PlainAmount {
  let text: string;
  if (typeof value === "string") {
    text = value;
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) return refused("is not a finite number");
    if (Object.is(value, -0)) return refused("has a sign");
    text = String(value);
  } else if (typeof value === "bigint") {
    text = String(value);
  } else {
    return refused(
      value === null || value === undefined ? "is missing" : `is a ${typeName(value)}`,
    );
  }
  if (text.length === 0) return refused("is empty");
  if (text.trim() !== text) return refused("has blanks around it");
  if (/^[+-]/.test(text)) return refused("has a sign");
  if (/^0[xob]/i.test(text)) return refused("is not written in decimal digits");
  if (/e/i.test(text) && /^[0-9.]+e[+-]?[0-9]+$/i.test(text)) return refused("has an exponent");
  const match = /^([0-9]+)(?:\.([0-9]+))?$/.exec(text);
  if (match === null) return refused("is not a plain decimal number");
  const [, whole = "", fraction] = match;
  if (whole.length > 1 && whole.startsWith("0")) return refused("has a leading zero");
  if (whole.length > integerDigits) {
    return refused(`has more than ${integerDigits} digits before the point`);
  }
  if (fraction !== undefined && fraction.length > scale) {
    return refused(
      scale === 0
        ? "has a fraction, and this product counts whole units"
        : `has more than ${scale} digit${scale === 1 ? "" : "s"} after the point`,
    );
  }
  return { ok: true, amount: text };
}

/** What a valid amount looks like, for a message: `"1000.00"`, or `"1000"` without fractions. */
export function amountExample(scale: number): string {
  return scale === 0 ? '"1000"' : `"1000.${"0".repeat(scale)}"`;
}

function refused(problem: string): PlainAmount {
  return { ok: false, problem };
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (typeof value === "object") return "map";
  return typeof value;
}
