import type { HttpMethod } from "../definition/types.ts";

/**
 * Sends sealed requests to partners. The undici implementation keeps a pool per origin.
 *
 * Failures are classified, because money depends on it (DESIGN §5):
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
  body?: string;
  /** Time allowed for the response headers and body once sent. */
  timeoutMs: number;
  connectTimeoutMs: number;
  signal?: AbortSignal;
}

export interface TransportResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
  durationMs: number;
}
