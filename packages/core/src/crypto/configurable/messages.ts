import type { HttpMethod } from "../../definition/types.ts";
import type { Codec } from "../../message/codec.ts";

/** A message on its way out; method and path are empty for responses. */
export interface OutgoingMessage {
  method: HttpMethod | "";
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  codec: Codec;
  /** Charset of the wire bytes; canonical strings and encrypted plaintext are signed in it. */
  charset: string;
  /** Sees each canonical string signed (diagnostics; see `PlainRequest.onCanonical`). */
  onCanonical?: (canonical: string) => void;
}

/** What sealing puts on the wire besides method and path. */
export interface SealedMessage {
  headers: Record<string, string>;
  query: Record<string, string>;
  body: string;
}

/** A message as received; method and path are empty for responses. Header names are lower case. */
export interface IncomingMessage {
  method: HttpMethod | "";
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  body: string;
  charset: string;
}

/** A body (or envelope) read as named fields. */
export type Fields = Record<string, unknown>;

export function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
