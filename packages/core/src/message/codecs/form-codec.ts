import type { Codec } from "../codec.ts";
import { toMessageValue } from "../message-value.ts";
import { decodeError, encodeError } from "./decode-error.ts";
import { isEmptyBody } from "./empty-body.ts";

/**
 * `form`: application/x-www-form-urlencoded (UTF-8). The body must be an object; each member is
 * one field, percent-encoded by URLSearchParams (so `&`, `=` and `+` in values are safe). Nested
 * objects and arrays are sent as JSON text; null and missing members are left out. Decoding
 * gives a flat object of strings; a repeated field gives an array of strings.
 */
export const formCodec: Codec = {
  format: "form",
  contentType: "application/x-www-form-urlencoded; charset=utf-8",
  encode(value) {
    const plain = toMessageValue(value);
    if (plain === undefined || plain === null) return "";
    if (typeof plain !== "object" || Array.isArray(plain)) {
      throw encodeError("form", "a form body must be an object of fields");
    }
    const params = new URLSearchParams();
    for (const [key, item] of Object.entries(plain)) {
      if (item === null || item === undefined) continue;
      params.append(key, typeof item === "object" ? JSON.stringify(item) : String(item));
    }
    return params.toString();
  },
  decode(text) {
    if (isEmptyBody(text)) return {};
    // URLSearchParams never throws; reject what is visibly not a form (JSON, XML, HTML).
    if (/^\s*[{[<]/.test(text)) throw decodeError("form", text, "not form-urlencoded");
    const fields: Record<string, string | string[]> = {};
    for (const [key, item] of new URLSearchParams(text)) {
      const existing = fields[key];
      if (existing === undefined) fields[key] = item;
      else if (Array.isArray(existing)) existing.push(item);
      else fields[key] = [existing, item];
    }
    return fields;
  },
};
