import type { Codec } from "../codec.ts";
import { encodeError } from "./decode-error.ts";

/** `text`: the body is one rendered string, sent as is; decoding gives the text unchanged. */
export const textCodec: Codec = {
  format: "text",
  contentType: "text/plain; charset=utf-8",
  encode(value) {
    if (value === undefined || value === null) return "";
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    throw encodeError("text", "a text body must render to a string");
  },
  decode(text) {
    return text;
  },
};
