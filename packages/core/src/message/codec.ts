import type { BodyFormat, XmlOptions } from "../definition/types.ts";

/**
 * Turns a structured message body into the text that goes on the wire and back. One codec per
 * body format (`json`, `xml`, `form`, `text`). Encoding escapes every value, so no value can break
 * the message syntax; decoding gives plain JSON-like values.
 */
export interface Codec {
  readonly format: BodyFormat;
  /** The Content-Type header value for this format (with charset). */
  readonly contentType: string;
  encode(value: unknown, options?: CodecOptions): string;
  /** Throws `CapflowError` with code `CODEC_DECODE_FAILED` on malformed input. */
  decode(text: string, options?: CodecOptions): unknown;
}

export interface CodecOptions {
  xml?: XmlOptions;
  /**
   * The charset the text goes on the wire in (default `utf-8`): it names the XML declaration's
   * encoding, and a form body percent-encodes its values' bytes in it.
   */
  charset?: string;
}
