import { isSafeNumber, parse as parseLossless } from "lossless-json";

/**
 * A number token whose mantissa runs 16 or more characters (digits and a point): every number a
 * double cannot hold exactly has at least 16 significant digits, so bodies without one take the
 * native parser (integers past 2^53 such as 19-digit order numbers some funders send unquoted,
 * rates with 17 decimals). A quoted ID card or bank card number can match too; that costs the
 * slower parse, nothing else.
 */
const longNumber = /[[:,]\s*-?[\d.]{16}/;

/**
 * JSON.parse, except that a number it would round (an integer past 2^53, a decimal with more
 * digits than a double keeps) comes back as its exact digits, a string, instead of a nearby
 * number. A funder's loan number 12345678901234567890 must stay that loan number: it is echoed in
 * queries, matched against callbacks and covered by signatures.
 *
 * Node 20's JSON.parse gives revivers no source text, so the slow path goes through lossless-json;
 * the fast path stays on the native parser for bodies without long numbers (nearly all of them).
 * Duplicate keys keep the last value, as JSON.parse does.
 */
export function parseJson(text: string): unknown {
  if (!longNumber.test(text)) return JSON.parse(text);
  return parseLossless(text, null, {
    parseNumber: (digits) => (isSafeNumber(digits) ? Number(digits) : digits),
    onDuplicateKey: ({ newValue }) => newValue,
  });
}
