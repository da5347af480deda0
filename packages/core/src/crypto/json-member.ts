import { type ParseError, parseTree } from "jsonc-parser";

/** Which top-level member of a JSON object a signature covers: by name, or by a pattern. */
export interface JsonMemberSelector {
  /** The member's exact name, e.g. `alipay_trade_query_response`. */
  member?: string;
  /** A regular expression the name matches, e.g. `_response$` (any Alipay method, `error_response`). */
  pattern?: string;
}

/**
 * The text of one top-level member's value exactly as it stands in `text`, from its first to its
 * last character: escapes (`\/`, `\u4e2d`), spacing and key order as the partner wrote them, never
 * re-serialised. Alipay OpenAPI signs its answers this way (the `<method>_response` member).
 *
 * Returns undefined unless exactly one member matches: a document with two matching members (or
 * the same member twice, where a JSON parser keeps the last) could show one and have the other
 * verified. Comments and trailing commas are refused (jsonc-parser gives the offsets; it would
 * accept them otherwise).
 */
export function jsonMemberText(text: string, selector: JsonMemberSelector): string | undefined {
  const matches = compileJsonMemberSelector(selector);
  return jsonMemberTextOf(text, matches);
}

/** {@link jsonMemberText} with the selector compiled once, for the per-message path. */
export function compileJsonMemberSelector(selector: JsonMemberSelector): (name: string) => boolean {
  if (selector.member !== undefined) {
    const member = selector.member;
    return (name) => name === member;
  }
  const pattern = new RegExp(selector.pattern ?? "(?!)");
  return (name) => pattern.test(name);
}

export function jsonMemberTextOf(
  text: string,
  matches: (name: string) => boolean,
): string | undefined {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  if (errors.length > 0 || root?.type !== "object") return undefined;
  let found: string | undefined;
  let count = 0;
  for (const property of root.children ?? []) {
    const [key, value] = property.children ?? [];
    if (key === undefined || value === undefined || typeof key.value !== "string") continue;
    if (!matches(key.value)) continue;
    count++;
    found = text.slice(value.offset, value.offset + value.length);
  }
  return count === 1 ? found : undefined;
}
