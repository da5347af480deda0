import type { KeyFormat } from "../crypto/keys/key-spec.ts";
import type { Duration, SecretRef } from "./types.ts";

/**
 * An upstream client: a system (a lending platform's order service) that starts instances and
 * reads them through the intake API of `capflow serve`. Mirrors
 * `packages/core/schema/client.schema.json`; change both together. File: `<id>.client.json`,
 * loaded, validated, pushed and pulled with the other definitions.
 */
export interface UpstreamClientDefinition {
  $schema?: string;
  /** The client's id, sent in the `X-Capflow-Client` header of every request. */
  id: string;
  /** Human name, shown to operators. */
  name?: string;
  description?: string;
  /** How the client signs its requests, and the key that verifies them. */
  signature: ClientSignature;
  /**
   * How far a request's `X-Capflow-Timestamp` may be from the server's clock, either way; nonces
   * are remembered for twice as long. Default `5m`.
   */
  replayWindow?: Duration;
  /** CIDRs the client calls from, IPv4 and IPv6 (`10.1.0.0/16`, `2001:db8::/32`, `192.0.2.7`). */
  allowedIps: string[];
  /** How long the answer to an `Idempotency-Key` is kept and replayed. Default `24h`. */
  idempotencyKeyLifetime?: Duration;
  /**
   * What the client may start and read: behaviors as `channel/behavior`, products by code.
   * Without `allow`, nothing: each client names what it serves.
   */
  allow: ClientAllowances;
  /**
   * Where notifications for this client's instances go (settled, needs attention): the outbox
   * posts them to `url`, signed with capflow's key.
   */
  notify?: ClientNotify;
}

export interface ClientAllowances {
  /** `channel/behavior` pairs, or `channel/*` for every behavior of a channel. */
  behaviors?: string[];
  /** Product codes. */
  products?: string[];
}

export interface ClientNotify {
  /** The client's endpoint for notifications, `https://…` (or `http://` on a private network). */
  url: string;
}

/** Signature algorithms an upstream client may sign with. */
export type ClientSignatureAlgorithm = "rsa-sha256" | "sm2-sm3" | "hmac-sha256" | "hmac-sm3";

/**
 * The signature rule. The signed string is
 * `METHOD\nPATH\nTIMESTAMP\nNONCE\nBODY`, where BODY is, with `canonical: "sortedFields"`
 * (default), the JSON body's top-level fields as sorted `k=v` joined by `&` (empty values left
 * out, nested values as compact JSON), or with `canonical: "rawBody"` the body's bytes exactly as
 * sent.
 */
export interface ClientSignature {
  algorithm: ClientSignatureAlgorithm;
  /**
   * RSA: the client's public key or certificate (PEM); SM2: its public key (hex `04…`, PEM or
   * certificate); HMAC: the shared secret. A reference (`file:`, `env:`), never the key itself.
   */
  key: { ref: SecretRef; format?: KeyFormat };
  /** What BODY is in the signed string. Default `sortedFields`. */
  canonical?: "sortedFields" | "rawBody";
  /** Text form of the signature in `X-Capflow-Signature`. Default `base64`. */
  encoding?: "base64" | "hex";
  /** SM2 user ID. Default `1234567812345678`. */
  userId?: string;
  /** SM2 signature form: DER (default, what Java and OpenSSL write) or raw r||s. */
  sm2Encoding?: "der" | "raw";
}
