import { xmlAttributePrefix } from "../message/codecs/xml-codec.ts";

/**
 * The string a signature is computed over. Partners differ in details that all change the bytes,
 * so each is an option: which fields, whether empty values count, raw or URL-encoded values,
 * nested objects as JSON (what Alipay and most Java gateways do).
 */

/** How a `k=v&…` string is built from the fields of a message. */
export interface SortedFieldsCanonicalization {
  kind: "sortedFields";
  /** Only these fields. Default: all fields. */
  include?: string[];
  /** Fields left out. The signature field is always left out. */
  exclude?: string[];
  /** Default `drop` (empty string, null and missing values are left out). */
  emptyValues?: "drop" | "keep";
  /** Default `raw`. */
  values?: "raw" | "urlEncoded";
  /** Default `&` and `=`. */
  separator?: string;
  keyValueSeparator?: string;
}

/**
 * `a=1&b=2…` over the fields sorted by name (UTF-16 code-unit order, like Java's TreeMap).
 * When the fields come from the XML codec (`fromXml`), attributes of the root element (`@name`)
 * are envelope, not fields: they are never part of the string, so a message signed before
 * encoding verifies after decoding. In any other format an `@name` key is a field like the rest
 * (else it could be added to a signed JSON body unnoticed).
 */
export function sortedFieldsCanonical(
  fields: Record<string, unknown>,
  spec: SortedFieldsCanonicalization,
  signatureField: string | undefined,
  fromXml = false,
): string {
  return compileSortedFields(spec, signatureField)(fields, fromXml);
}

/** {@link sortedFieldsCanonical} with the options resolved once, for the per-message path. */
export function compileSortedFields(
  spec: SortedFieldsCanonicalization,
  signatureField: string | undefined,
): (fields: Record<string, unknown>, fromXml: boolean) => string {
  const include = spec.include === undefined ? undefined : new Set(spec.include);
  const exclude = new Set(spec.exclude ?? []);
  if (signatureField !== undefined) exclude.add(signatureField);
  const keepEmpty = spec.emptyValues === "keep";
  const encode = spec.values === "urlEncoded";
  const separator = spec.separator ?? "&";
  const keyValueSeparator = spec.keyValueSeparator ?? "=";
  return (fields, fromXml) => {
    let out = "";
    for (const name of Object.keys(fields).sort()) {
      if (exclude.has(name) || (include !== undefined && !include.has(name))) continue;
      if (fromXml && name.startsWith(xmlAttributePrefix)) continue;
      const text = fieldText(fields[name]);
      if (text === "" && !keepEmpty) continue;
      if (out !== "") out += separator;
      out += `${name}${keyValueSeparator}${encode ? encodeURIComponent(text) : text}`;
    }
    return out;
  };
}

/** A field's text in a canonical string: nested objects and arrays as compact JSON. */
export function fieldText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export interface CanonicalParts {
  method: string;
  /** Path with its query string, as sent. */
  path: string;
  timestamp: string;
  nonce: string;
  body: string;
  headers: Record<string, string>;
  fields: Record<string, unknown> | undefined;
  /** The format `fields` were encoded in or decoded from (`xml`: `@name` keys are attributes). */
  fieldsFormat: string;
}

type Piece = string | ((parts: CanonicalParts) => string);

/**
 * Compiles a line template such as `{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n` (WeChat Pay
 * APIv3) once into a function of the message's parts.
 */
export function compileCanonicalTemplate(template: string): (parts: CanonicalParts) => string {
  const pieces: Piece[] = [];
  let last = 0;
  for (const match of template.matchAll(/\{([^}]+)\}/g)) {
    pieces.push(template.slice(last, match.index));
    pieces.push(partReader(match[1] ?? ""));
    last = match.index + match[0].length;
  }
  pieces.push(template.slice(last));
  return (parts) => {
    let out = "";
    for (const piece of pieces) out += typeof piece === "string" ? piece : piece(parts);
    return out;
  };
}

function partReader(name: string): (parts: CanonicalParts) => string {
  if (name.startsWith("header:")) {
    const header = name.slice(7).toLowerCase();
    return (p) => p.headers[header] ?? "";
  }
  if (name.startsWith("field:")) {
    const field = name.slice(6);
    return (p) => fieldText(p.fields?.[field]);
  }
  switch (name) {
    case "method":
    case "path":
    case "timestamp":
    case "nonce":
    case "body":
      return (p) => p[name];
    default:
      throw new TypeError(`unknown canonical part {${name}}`);
  }
}
