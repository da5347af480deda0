import { Pool } from "undici";
import { CapflowError } from "../errors.ts";
import type {
  Transport,
  TransportRequest,
  TransportResponse,
  TransportTls,
} from "../ports/transport.ts";
import { Redacted } from "../redacted.ts";

export interface UndiciTransportOptions {
  /** Connections per origin. Default 32. */
  connections?: number;
  /**
   * TLS defaults for every pool (custom CAs, a client certificate for all channels). A channel's
   * own `tls` settings, carried by each request, take precedence.
   */
  tls?: {
    ca?: string | Buffer;
    cert?: string | Buffer;
    key?: string | Buffer;
    passphrase?: string;
    rejectUnauthorized?: boolean;
  };
  /** Idle keep-alive time. Default 4 s (below common partner/server idle timeouts of 5 s). */
  keepAliveTimeoutMs?: number;
}

/**
 * HTTP through one undici `Pool` per origin and channel TLS settings (~7x the throughput of global
 * fetch; architecture.md, "Decisions").
 *
 * undici's Pool never retries a request by itself (only its RetryAgent does, which is not used):
 * a POST that may have reached the partner is never resent silently (concepts.md, "The money rules").
 */
export class UndiciTransport implements Transport {
  readonly #pools = new Map<string, Pool>();
  readonly #options: UndiciTransportOptions;

  constructor(options: UndiciTransportOptions = {}) {
    this.#options = options;
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    const url = new URL(request.url);
    const pool = this.#pool(url.origin, request.connectTimeoutMs, request.tls);
    const started = performance.now();
    try {
      const response = await pool.request({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers: request.headers,
        body: request.body ?? null,
        headersTimeout: request.timeoutMs,
        bodyTimeout: request.timeoutMs,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      const body = Buffer.from(await response.body.arrayBuffer());
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined)
          headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
      }
      return {
        status: response.statusCode,
        headers,
        body,
        durationMs: performance.now() - started,
      };
    } catch (error) {
      throw classifyTransportError(error, request);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
    this.#pools.clear();
  }

  #pool(origin: string, connectTimeoutMs: number, tls: TransportTls | undefined): Pool {
    // A connection keeps the client certificate it was opened with: one pool per identity.
    const key = tls === undefined ? origin : `${origin} ${tls.id}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.#options.connections ?? 32,
        keepAliveTimeout: this.#options.keepAliveTimeoutMs ?? 4_000,
        connect: {
          timeout: connectTimeoutMs,
          ...(this.#options.tls ?? {}),
          ...(tls === undefined ? {} : Redacted.reveal(tls.options)),
        },
        // One request per connection at a time: pipelining would make a reset ambiguous for
        // every request queued behind the one in flight.
        pipelining: 1,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }
}

/**
 * Codes that prove the request never left this process or never reached a server. (A refused
 * connection or a failed name lookup can only happen before any byte was written.)
 */
const notSentCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_DESTROYED",
  "UND_ERR_INVALID_ARG",
]);

/**
 * TLS handshake failures: this side rejected the server's certificate (OpenSSL verify codes, the
 * host name check), or the server sent a handshake alert about ours. No request byte reached the
 * partner's application. (With TLS 1.3 a server rejecting the client certificate only closes the
 * connection after the client finished its handshake; that stays an unknown outcome.)
 */
const tlsHandshakeCodes = new Set([
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_CHAIN_TOO_LONG",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "HOSTNAME_MISMATCH",
  "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
  "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
  "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
  "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
  "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED",
  "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
  "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

/**
 * Codes that prove nothing was sent only when connecting failed: on a reused keep-alive
 * connection the route can vanish after the request left, and the socket then reports the same.
 */
const notSentWhileConnecting = new Set(["EHOSTUNREACH", "ENETUNREACH"]);

/** node:tls's message when the peer hangs up before the handshake completes (code ECONNRESET). */
const closedBeforeHandshake = "before secure TLS connection was established";

/**
 * Sorts a failure into "certainly not sent" (safe to retry) or "unknown outcome" (the partner may
 * have processed it). When in doubt the answer is unknown: a wrong "not sent" could pay twice.
 */
export function classifyTransportError(error: unknown, request: TransportRequest): CapflowError {
  const code = errorCode(error);
  const where = `${request.method} ${redactQuery(request.url)}`;
  const context = { url: redactQuery(request.url), cause: code ?? "unknown" };
  if (
    (code !== undefined && tlsHandshakeCodes.has(code)) ||
    (code === "ECONNRESET" && errorMessage(error).includes(closedBeforeHandshake))
  ) {
    return new CapflowError(
      "TRANSPORT_NOT_SENT",
      `${where} was not sent: the TLS handshake failed (${code}). Check the channel's tls settings (client certificate and key, ca, serverName) against the funder's certificate`,
      { cause: error, context: { ...context, tls: "handshake" }, retryable: true },
    );
  }
  if (
    code !== undefined &&
    (notSentCodes.has(code) ||
      (notSentWhileConnecting.has(code) && errorField(error, "syscall") === "connect"))
  ) {
    return new CapflowError(
      "TRANSPORT_NOT_SENT",
      `${where} was not sent (${code}); it is safe to retry`,
      {
        cause: error,
        context,
        retryable: true,
      },
    );
  }
  return new CapflowError(
    "TRANSPORT_UNKNOWN_OUTCOME",
    `${where} may have reached the partner (${code ?? "no answer"}); query its status before sending it again`,
    { cause: error, context, retryable: false },
  );
}

function errorCode(error: unknown): string | undefined {
  return errorField(error, "code");
}

/** A string property of the error or of the first error in its cause chain that has one. */
function errorField(error: unknown, field: "code" | "syscall"): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 4; depth++) {
    const value = (current as Record<string, unknown>)[field];
    if (typeof value === "string") return value;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : "";
}

/** Query strings may carry signatures or personal data; errors keep only the path. */
function redactQuery(url: string): string {
  const index = url.indexOf("?");
  return index === -1 ? url : `${url.slice(0, index)}?…`;
}
