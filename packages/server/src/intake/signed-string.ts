import { sortedFieldsCanonical } from "@capflow/core";

/** What an upstream client signs: the request line, its timestamp and nonce, and its body. */
export interface SignedParts {
  method: string;
  /** The path with its query string, exactly as requested (`/v1/instances`). */
  path: string;
  /** `X-Capflow-Timestamp`: Unix seconds. */
  timestamp: string;
  /** `X-Capflow-Nonce`. */
  nonce: string;
  /** The body's bytes as sent (empty for a GET). */
  body: Uint8Array;
  /** The body parsed, for `sortedFields` (undefined when there is none). */
  fields: Record<string, unknown> | undefined;
  canonical: "sortedFields" | "rawBody";
}

/**
 * The bytes a client signs: `METHOD\nPATH\nTIMESTAMP\nNONCE\n` then, with `sortedFields`, the
 * body's top-level fields as sorted `k=v` joined by `&` (core's `sortedFieldsCanonical`: empty
 * values left out, nested values as compact JSON) or, with `rawBody`, the body's bytes as sent.
 */
export function signedString(parts: SignedParts): Buffer {
  const head = Buffer.from(
    `${parts.method.toUpperCase()}\n${parts.path}\n${parts.timestamp}\n${parts.nonce}\n`,
    "utf8",
  );
  if (parts.canonical === "rawBody") return Buffer.concat([head, parts.body]);
  const fields = sortedFieldsCanonical(parts.fields ?? {}, { kind: "sortedFields" }, undefined);
  return Buffer.concat([head, Buffer.from(fields, "utf8")]);
}
