import type { HttpMethod } from "../definition/types.ts";
import type { Codec } from "../message/codec.ts";

/**
 * A crypto handler turns plain messages into what goes on the wire and back, for one channel.
 * It is symmetric so that the same configuration serves both sides of a conversation: the engine
 * seals requests and opens responses and callbacks; a mock partner (testkit) opens requests and
 * seals responses with the mirrored keys.
 *
 * Handlers never log, and their errors never contain key material or plaintext.
 */
export interface CryptoHandler {
  /** Sign/encrypt an outgoing request (engine -> partner, or partner -> engine for callbacks). */
  sealRequest(request: PlainRequest): Promise<WireRequest>;
  /**
   * Decrypt/verify the answer to a request this handler sealed. `codec` decodes the business body
   * (the response format may differ from the request's); field-based signatures need it.
   */
  openResponse(response: WireResponse, request: WireRequest, codec: Codec): Promise<OpenedMessage>;
  /** Verify/decrypt an inbound request (a callback; or, for a mock partner, an API call). */
  openRequest(request: WireRequest, codec: Codec): Promise<OpenedMessage>;
  /** Sign/encrypt the answer to an inbound request (a callback acknowledgement, a mock's answer). */
  sealResponse(response: PlainResponse, request: OpenedMessage): Promise<WireResponse>;
}

/** A request before sealing: the body is the structured, rendered value, not yet encoded. */
export interface PlainRequest {
  method: HttpMethod;
  /** Path relative to the channel's base URL, starting with `/`. */
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  codec: Codec;
  /**
   * The charset the body travels in on the wire (default `utf-8`). The text here is decoded; what
   * is signed over text (canonical strings, encrypted plaintext) is its bytes in this charset.
   */
  charset?: string;
  /**
   * Called with each canonical string a signature is computed over, for diagnostics only
   * (`capflow preview --sealed`): it may hold personal data and, for keyed digests, the key. The
   * engine never sets it.
   */
  onCanonical?: (canonical: string) => void;
}

/** What goes on the wire. Header names are lower case. */
export interface WireRequest {
  method: HttpMethod;
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  /** The body text; the engine encodes it once in `charset` and sends those bytes. */
  body: string;
  /**
   * The charset the body travels in on the wire (default `utf-8`). The text here is decoded; what
   * is signed over text (canonical strings, encrypted plaintext) is its bytes in this charset.
   */
  charset?: string;
}

export interface PlainResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  codec: Codec;
  /**
   * The charset the body travels in on the wire (default `utf-8`). The text here is decoded; what
   * is signed over text (canonical strings, encrypted plaintext) is its bytes in this charset.
   */
  charset?: string;
}

export interface WireResponse {
  status: number;
  /** Header names are lower case. */
  headers: Record<string, string>;
  body: string;
  /**
   * The charset the body travels in on the wire (default `utf-8`). The text here is decoded; what
   * is signed over text (canonical strings, encrypted plaintext) is its bytes in this charset.
   */
  charset?: string;
}

/** A verified, decrypted message. */
export interface OpenedMessage {
  headers: Record<string, string>;
  query: Record<string, string>;
  /** Decoded business body. */
  body: unknown;
  /** The plaintext body text the business body was decoded from (for masked step logs). */
  text: string;
  /** The charset the message came in; its answer is written in it too. */
  charset?: string;
}
