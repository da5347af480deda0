import type { HttpMethod } from "../definition/types.ts";
import type { Redacted } from "../redacted.ts";

/**
 * Sends sealed requests to partners. The undici implementation keeps a pool per origin and TLS
 * identity.
 *
 * Failures are classified, because money depends on it (concepts.md, "Failures are classified"):
 * - `TRANSPORT_NOT_SENT` (retryable): the request certainly did not reach the partner.
 * - `TRANSPORT_UNKNOWN_OUTCOME`: it may have been processed (timeout or connection lost after
 *   sending). Implementations must never resend by themselves.
 * An HTTP answer of any status is returned, not thrown: the partner answered.
 */
export interface Transport {
  send(request: TransportRequest): Promise<TransportResponse>;
  close(): Promise<void>;
}

export interface TransportRequest {
  /** Absolute URL including the query string. */
  url: string;
  method: HttpMethod;
  headers: Record<string, string>;
  /** The body's bytes, encoded once in the message's charset (a string is sent as UTF-8). */
  body?: Uint8Array | string;
  /** Time allowed for the response headers and body once sent. */
  timeoutMs: number;
  connectTimeoutMs: number;
  signal?: AbortSignal;
  /** The channel's TLS settings (client certificate, CAs, server name), when it has any. */
  tls?: TransportTls;
}

/**
 * A channel's TLS settings, loaded and checked (see `loadChannelTls`). Implementations must keep
 * requests with different `id`s on different connections: a connection carries the identity of the
 * client certificate it was opened with.
 */
export interface TransportTls {
  /** Digest of the settings: equal ids mean interchangeable connections. */
  readonly id: string;
  /** Options for `node:tls.connect`; `key` is a private key, so the whole is kept redacted. */
  readonly options: Redacted<TlsConnectOptions>;
}

export interface TlsConnectOptions {
  /** PEM private key (PKCS#8) of the client certificate. */
  key?: string;
  /** PEM client certificate chain, leaf first. */
  cert?: string;
  /** PEM CA certificates trusted for the server certificate, instead of the system ones. */
  ca?: string[];
  servername?: string;
}

export interface TransportResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The body's bytes as received; the engine decodes them in the declared or announced charset. */
  body: Uint8Array;
  durationMs: number;
}
