/**
 * A short, masked excerpt of a payload for error messages. Payloads may hold personal data, so
 * digits become `#` and non-ASCII characters (e.g. Chinese names) `*`; ASCII letters and
 * punctuation stay, which is usually enough to see "this is an HTML error page, not XML".
 */
export function payloadExcerpt(text: string, length = 32): string {
  const head = text
    .slice(0, length)
    .replace(/[0-9]/g, "#")
    .replace(/[^\x20-\x7e]/g, "*");
  return `${JSON.stringify(head)}${text.length > length ? "…" : ""} (${text.length} chars)`;
}
