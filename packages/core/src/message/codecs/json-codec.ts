import type { Codec } from "../codec.ts";
import { isPlainJson, toMessageValue } from "../message-value.ts";
import { decodeError, encodeError } from "./decode-error.ts";
import { isEmptyBody } from "./empty-body.ts";
import { parseJson } from "./parse-json.ts";

/**
 * `json`: the structured body through JSON.stringify, so numbers and booleans keep their types
 * and no string can break out of its quotes. Numbers a double cannot hold exactly (integers past
 * 2^53) decode as their digits, a string (see `parseJson`). No body (undefined or null) encodes
 * as empty text, and an empty body decodes as `{}` (see empty-body.ts).
 */
export const jsonCodec: Codec = {
  format: "json",
  contentType: "application/json; charset=utf-8",
  encode(value) {
    if (value === undefined || value === null) return "";
    try {
      // Rendered bodies are already plain: skip the converting copy on the hot path.
      return JSON.stringify(isPlainJson(value) ? value : (toMessageValue(value) ?? null));
    } catch (error) {
      throw encodeError("json", (error as Error).message, error);
    }
  },
  decode(text) {
    if (isEmptyBody(text)) return {};
    try {
      return parseJson(text);
    } catch (error) {
      throw decodeError("json", text, "not valid JSON", error);
    }
  },
};
