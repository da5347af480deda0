import iconv from "iconv-lite";
import { CapflowError, type ErrorContext } from "../errors.ts";

/**
 * Charsets of partner messages. Chinese banks speak GBK or GB18030 as often as UTF-8: a message is
 * rendered as text, encoded once to bytes in the declared charset, and bytes received are decoded
 * in the declared (or, when none is declared, the announced) charset. Decoding is strict — bytes
 * not valid in the charset are an error, never replacement characters — and so is encoding: a
 * character the charset cannot write is an error, never a `?`. Conversions are iconv-lite's (the
 * tables of Node's own TextDecoder cannot encode, and it ships them for every charset).
 */

export const defaultCharset = "utf-8";

/** Whether iconv-lite knows the charset (`utf-8`, `gbk`, `gb18030`, `gb2312`, `big5`, …). */
export function isKnownCharset(charset: string): boolean {
  return iconv.encodingExists(charset);
}

/** The charset's canonical name, lower case: `UTF8` and `utf-8` are one, `GB2312` is `gb2312`. */
export function normaliseCharset(charset: string): string {
  // The usual case, on every message: already the canonical name.
  if (charset === defaultCharset) return charset;
  const name = charset
    .trim()
    .toLowerCase()
    .replace(/^["']|["']$/g, "");
  return name === "utf8" ? "utf-8" : name === "cp936" ? "gbk" : name;
}

/** Charsets whose every byte sequence reads the same in a wider one. */
const subsets: Record<string, string[]> = {
  "us-ascii": ["utf-8", "gbk", "gb18030", "gb2312", "big5", "iso-8859-1"],
  gb2312: ["gbk", "gb18030"],
  gbk: ["gb18030"],
};

/** Whether text announced in `announced` reads right when decoded as `declared`. */
export function charsetReadsAs(announced: string, declared: string): boolean {
  const a = normaliseCharset(announced);
  const d = normaliseCharset(declared);
  return a === d || (subsets[a]?.includes(d) ?? false);
}

/** The `charset` parameter of a Content-Type header, if any. */
export function announcedCharset(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*("?)([^";\s]+)\1/i.exec(contentType ?? "");
  return match?.[2];
}

/** A Content-Type with its charset parameter set to `charset`. */
export function withCharset(contentType: string, charset: string): string {
  const base = contentType.replace(/;\s*charset\s*=\s*[^;]*/i, "");
  return `${base}; charset=${charsetLabel(charset)}`;
}

/** How a charset is written in headers and XML declarations: `UTF-8`, `GBK`, `GB18030`. */
export function charsetLabel(charset: string): string {
  return normaliseCharset(charset).toUpperCase();
}

/** Text as bytes in `charset`; a character it cannot write is `CHARSET_ENCODE_FAILED`. */
export function encodeText(text: string, charset: string, context: ErrorContext = {}): Buffer {
  if (charset === defaultCharset) return Buffer.from(text, "utf8");
  const name = normaliseCharset(charset);
  if (name === "utf-8") return Buffer.from(text, "utf8");
  const bytes = iconv.encode(text, name);
  // iconv-lite writes `?` for what the charset lacks; a round trip tells it from a real `?`.
  if (iconv.decode(bytes, name) !== text) {
    const at = firstUnencodable(text, name);
    throw new CapflowError(
      "CHARSET_ENCODE_FAILED",
      `the message holds a character ${charsetLabel(name)} cannot write (U+${at}); the funder's charset cannot carry it: remove it in the template or map it with a processor`,
      { context: { ...context, charset: name } },
    );
  }
  return bytes;
}

/** Bytes as text in `charset`; bytes not valid in it are `CHARSET_DECODE_FAILED`, never garbled. */
export function decodeBytes(
  bytes: Uint8Array,
  charset: string,
  context: ErrorContext = {},
): string {
  const name = normaliseCharset(charset);
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (name === "utf-8") {
    try {
      return strictUtf8.decode(buffer);
    } catch {
      throw invalidBytes(name, context);
    }
  }
  // UTF-8 Chinese often forms valid but wrong GBK (中文 reads 涓枃): bytes that are valid UTF-8
  // with characters beyond ASCII are refused in a double-byte charset. Genuine GBK text is almost
  // never valid UTF-8 as well (its trail bytes are rarely continuation bytes).
  if (doubleByte.has(name) && !isAscii(buffer) && isUtf8(buffer)) {
    throw new CapflowError(
      "CHARSET_DECODE_FAILED",
      `the body is UTF-8, not ${charsetLabel(name)}; the funder must send ${charsetLabel(name)}, or the definition declare utf-8`,
      { context: { ...context, charset: name } },
    );
  }
  const text = iconv.decode(buffer, name);
  // iconv-lite writes U+FFFD for invalid sequences: re-encoding shows whether the bytes were valid.
  if (text.includes("\uFFFD") && !iconv.encode(text, name).equals(buffer)) {
    throw invalidBytes(name, context);
  }
  return text;
}

/**
 * One decoder for every UTF-8 message: a decode without `stream` starts afresh, a failed one
 * included, and constructing a decoder costs more than decoding a typical answer.
 */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const doubleByte = new Set(["gbk", "gb18030", "gb2312", "big5"]);

function isAscii(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte > 0x7f) return false;
  return true;
}

function isUtf8(bytes: Buffer): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function invalidBytes(charset: string, context: ErrorContext): CapflowError {
  return new CapflowError(
    "CHARSET_DECODE_FAILED",
    `the body is not valid ${charsetLabel(charset)}; check the charset the definition declares against what the funder sends`,
    { context: { ...context, charset } },
  );
}

function firstUnencodable(text: string, charset: string): string {
  for (const char of text) {
    if (iconv.decode(iconv.encode(char, charset), charset) !== char) {
      return (char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
    }
  }
  return "?";
}

/**
 * The charset an inbound message is read in: the declared one (an announced charset that does not
 * read as it is `CHARSET_DECODE_FAILED`), or without a declaration the one its Content-Type
 * announces, else UTF-8. `what` names the message in the error ("the answer").
 */
export function readingCharset(
  contentType: string | undefined,
  declared: string | undefined,
  what: string,
  context: ErrorContext = {},
): string {
  const announced = announcedCharset(contentType);
  if (declared === undefined) {
    return announced !== undefined && isKnownCharset(announced) ? announced : defaultCharset;
  }
  if (announced !== undefined && !charsetReadsAs(announced, declared)) {
    throw new CapflowError(
      "CHARSET_DECODE_FAILED",
      `${what} announces ${charsetLabel(announced)} where ${charsetLabel(declared)} is declared; the funder must send ${charsetLabel(declared)}, or correct the declared charset`,
      { context: { ...context, charset: normaliseCharset(declared) } },
    );
  }
  return declared;
}
