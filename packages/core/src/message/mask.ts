import type { MaskingRules, MaskStyle } from "../definition/types.ts";

/**
 * Masking of personal data for step logs and previews. Each style keeps just enough to recognise
 * a record when talking to an operator (the usual practice of Chinese lenders and banks).
 */

/** `110101199003071234` -> `110***********1234` (first 3, last 4). */
export function maskIdCard(value: string): string {
  return keepEnds(value, 3, 4);
}

/** `13812345678` -> `138****5678` (first 3, last 4). */
export function maskPhone(value: string): string {
  return keepEnds(value, 3, 4);
}

/** `6222021234567890123` -> `6222***********0123` (first 4, last 4). */
export function maskBankCard(value: string): string {
  return keepEnds(value, 4, 4);
}

/** `张三` -> `张*`, `欧阳娜娜` -> `欧***`: the first character only. */
export function maskName(value: string): string {
  const chars = [...value];
  if (chars.length <= 1) return chars.length === 0 ? "" : "*";
  return `${chars[0]}${"*".repeat(chars.length - 1)}`;
}

/** `zhangsan@example.com` -> `z*******@example.com`. */
export function maskEmail(value: string): string {
  const at = value.lastIndexOf("@");
  if (at <= 0) return maskFull(value);
  return `${maskName(value.slice(0, at))}${value.slice(at)}`;
}

/** Everything: a fixed `****`, so not even the length shows. */
export function maskFull(_value: string): string {
  return "****";
}

const maskers: Readonly<Record<MaskStyle, (value: string) => string>> = {
  idCard: maskIdCard,
  phone: maskPhone,
  bankCard: maskBankCard,
  name: maskName,
  email: maskEmail,
  full: maskFull,
};

export const maskStyles: readonly MaskStyle[] = Object.keys(maskers) as MaskStyle[];

/** Masks one value with a style; numbers are masked as their digits, other values entirely. */
export function maskValue(value: unknown, style: MaskStyle): unknown {
  if (value === null || value === undefined || value === "") return value;
  const masker = Object.hasOwn(maskers, style) ? maskers[style] : undefined;
  if (masker === undefined) throw new TypeError(`Unknown mask style ${JSON.stringify(style)}.`);
  if (typeof value === "string") return masker(value);
  if (typeof value === "number" || typeof value === "bigint") return masker(String(value));
  return maskFull("");
}

/**
 * A copy of `value` with every member named in `rules.fields` masked, at any depth (a `name`
 * inside `borrower` and inside `contacts[3]` alike). The input is not modified.
 */
export function maskFields(value: unknown, rules: MaskingRules | undefined): unknown {
  if (rules === undefined || Object.keys(rules.fields).length === 0) return value;
  return maskDeep(value, byLowerCaseName(rules.fields), 0);
}

/** What carries masking rules: a channel's or a behavior's definition. */
type Masked = { masking?: MaskingRules };

const mergedRules = new WeakMap<Masked, WeakMap<Masked, MaskingRules>>();

/**
 * The rules an instance's data is masked with: the channel's, with the behavior's over them.
 * Merged once per pair of loaded definitions (immutable), so the same rules object comes back
 * for every message and the lower-cased lookup built for it is reused.
 */
export function maskingRulesOf(channel: Masked, behavior: Masked): MaskingRules {
  let byBehavior = mergedRules.get(channel);
  if (byBehavior === undefined) {
    byBehavior = new WeakMap();
    mergedRules.set(channel, byBehavior);
  }
  let rules = byBehavior.get(behavior);
  if (rules === undefined) {
    rules = { fields: { ...(channel.masking?.fields ?? {}), ...(behavior.masking?.fields ?? {}) } };
    byBehavior.set(behavior, rules);
  }
  return rules;
}

const maxDepth = 64;
/**
 * JSON text inside a string value is masked too. Past this length it is parsed only when a masked
 * field's name appears in it: a large payload (a statement, a file's content) naming none of them
 * is passed on without being parsed.
 */
const parsedWithoutLooking = 65_536;

const lowerCased = new WeakMap<Record<string, MaskStyle>, Map<string, MaskStyle>>();

/**
 * Rules by lower-cased field name: names are matched without regard to case, as header names
 * are lower-cased on the wire and funders write `IdNo`, `idNo` and `IDNO` alike. Masking more
 * than asked is the safe side.
 */
function byLowerCaseName(fields: Record<string, MaskStyle>): Map<string, MaskStyle> {
  let map = lowerCased.get(fields);
  if (map === undefined) {
    map = new Map(Object.entries(fields).map(([name, style]) => [name.toLowerCase(), style]));
    lowerCased.set(fields, map);
  }
  return map;
}

function maskDeep(value: unknown, fields: Map<string, MaskStyle>, depth: number): unknown {
  if (typeof value === "string") return maskEmbeddedJson(value, fields, depth);
  if (value === null || typeof value !== "object") return value;
  if (depth > maxDepth) return "****";
  if (Array.isArray(value)) return value.map((item) => maskDeep(item, fields, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const style = fields.get(key.toLowerCase());
    copy[key] = style === undefined ? maskDeep(item, fields, depth + 1) : maskValue(item, style);
  }
  return copy;
}

/**
 * A string holding a JSON object or array (`bizContent: "{\"idNo\":…}"`, a common envelope) is
 * masked inside; returned unchanged, byte for byte, when nothing in it is masked.
 */
function maskEmbeddedJson(text: string, fields: Map<string, MaskStyle>, depth: number): string {
  if (!/^\s*[[{]/.test(text)) return text;
  if (text.length > parsedWithoutLooking && !namesAnyOf(text, fields)) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (parsed === null || typeof parsed !== "object") return text;
  const masked = JSON.stringify(maskDeep(parsed, fields, depth + 1));
  return masked === JSON.stringify(parsed) ? text : masked;
}

/**
 * Whether a masked field's name appears anywhere in `text`, any case: as a key, or as a key of
 * JSON held in a string inside it (`\"idNo\"`). Only a name written with `\u` escapes escapes
 * this look, and is then not masked in such a long text.
 */
function namesAnyOf(text: string, fields: Map<string, MaskStyle>): boolean {
  const lower = text.toLowerCase();
  for (const name of fields.keys()) if (lower.includes(name)) return true;
  return false;
}

function keepEnds(value: string, head: number, tail: number): string {
  const chars = [...value];
  if (chars.length <= head + tail) {
    // Too short to keep both ends: keep at most the last quarter.
    const keep = Math.floor(chars.length / 4);
    return "*".repeat(chars.length - keep) + chars.slice(chars.length - keep).join("");
  }
  return (
    chars.slice(0, head).join("") +
    "*".repeat(chars.length - head - tail) +
    chars.slice(chars.length - tail).join("")
  );
}
