import iconv from "iconv-lite";
import { CapflowError } from "../../errors.ts";
import { encodeText, normaliseCharset } from "../charset.ts";
import type { Codec } from "../codec.ts";
import { toMessageValue } from "../message-value.ts";
import { decodeError, encodeError } from "./decode-error.ts";
import { isEmptyBody } from "./empty-body.ts";

/**
 * `form`: application/x-www-form-urlencoded. The body must be an object; each member is one
 * field, percent-encoded (so `&`, `=` and `+` in values are safe) over the bytes of the
 * message's charset (`%D6%D0` is 中 in GBK, `%E4%B8%AD` in UTF-8), as a GBK bank's form reads.
 * Nested objects and arrays are sent as JSON text; null and missing members are left out.
 * Decoding gives a flat object of strings; a repeated field gives an array of strings.
 */
export const formCodec: Codec = {
  format: "form",
  contentType: "application/x-www-form-urlencoded; charset=utf-8",
  encode(value, options) {
    const plain = toMessageValue(value);
    if (plain === undefined || plain === null) return "";
    if (typeof plain !== "object" || Array.isArray(plain)) {
      throw encodeError("form", "a form body must be an object of fields");
    }
    const charset = normaliseCharset(options?.charset ?? "utf-8");
    const params = new URLSearchParams();
    for (const [key, item] of Object.entries(plain)) {
      if (item === null || item === undefined) continue;
      params.append(key, typeof item === "object" ? JSON.stringify(item) : String(item));
    }
    if (charset === "utf-8") return params.toString();
    const pairs: string[] = [];
    for (const [key, item] of params) {
      pairs.push(`${percentEncode(key, charset)}=${percentEncode(item, charset)}`);
    }
    return pairs.join("&");
  },
  decode(text, options) {
    if (isEmptyBody(text)) return {};
    // URLSearchParams never throws; reject what is visibly not a form (JSON, XML, HTML).
    if (/^\s*[{[<]/.test(text)) throw decodeError("form", text, "not form-urlencoded");
    const charset = normaliseCharset(options?.charset ?? "utf-8");
    const fields: Record<string, string | string[]> = Object.create(null);
    const entries =
      charset === "utf-8"
        ? [...new URLSearchParams(text)]
        : text
            .split("&")
            .filter((pair) => pair !== "")
            .map((pair) => {
              const at = pair.indexOf("=");
              const [key, item] = at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
              return [percentDecode(key, charset), percentDecode(item, charset)] as const;
            });
    for (const [key, item] of entries) {
      // Copied into a plain object below, a `__proto__` field would become its prototype.
      if (key === "__proto__") throw decodeError("form", text, "a field is named __proto__");
      const existing = fields[key];
      if (existing === undefined) fields[key] = item;
      else if (Array.isArray(existing)) existing.push(item);
      else fields[key] = [existing, item];
    }
    return { ...fields };
  },
};

/** application/x-www-form-urlencoded over the bytes of `charset`, as URLSearchParams does for UTF-8. */
function percentEncode(text: string, charset: string): string {
  let out = "";
  for (const byte of encodeText(text, charset)) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9*\-._]/.test(char)) out += char;
    else if (byte === 0x20) out += "+";
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function percentDecode(text: string, charset: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? "";
    if (char === "+") bytes.push(0x20);
    else if (char === "%" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...encodeText(char, charset));
  }
  const buffer = Buffer.from(bytes);
  const decoded = iconv.decode(buffer, charset);
  if (decoded.includes("\uFFFD") && !iconv.encode(decoded, charset).equals(buffer)) {
    throw new CapflowError(
      "CHARSET_DECODE_FAILED",
      `a form value is not valid ${charset.toUpperCase()} once percent-decoded`,
      { context: { format: "form", charset } },
    );
  }
  return decoded;
}
