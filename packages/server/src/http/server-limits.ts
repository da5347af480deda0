/**
 * How much a client may send and how long it may take. Every limit has a default suited to a
 * service behind a load balancer; docs/serving.md explains each.
 */
export interface ServerLimits {
  /** Largest request body, in bytes; a larger one gets 413 (`REQUEST_TOO_LARGE`). Default 1 MiB. */
  bodyLimitBytes?: number;
  /**
   * Time to receive a whole request, headers and body; a slower one is cut with 408 and the
   * connection closed. Default 30 000 ms.
   */
  requestTimeoutMs?: number;
  /** Time to receive the request headers (at most `requestTimeoutMs`). Default 10 000 ms. */
  headersTimeoutMs?: number;
  /** A connection with no traffic at all for this long is closed. Default 60 000 ms. */
  idleTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open between requests. Default 5 000 ms. */
  keepAliveTimeoutMs?: number;
  /**
   * How long one `POST /v1/ops/migrations` works before it stops and answers its report with
   * `interrupted: true` (run it again to go on: nothing moves twice). At most three quarters of
   * `idleTimeoutMs`, so the answer leaves before the connection is closed. Default 45 000 ms.
   */
  migrationTimeMs?: number;
}

export const defaultServerLimits: Required<ServerLimits> = {
  bodyLimitBytes: 1024 * 1024,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  migrationTimeMs: 45_000,
};

/** The limits with defaults filled in, checked for sense. */
export function resolveLimits(limits: ServerLimits = {}): Required<ServerLimits> {
  const resolved = { ...defaultServerLimits, ...definedOnly(limits) };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`server limit ${name} must be a positive integer, not ${value}`);
    }
  }
  resolved.headersTimeoutMs = Math.min(resolved.headersTimeoutMs, resolved.requestTimeoutMs);
  resolved.migrationTimeMs = Math.min(
    resolved.migrationTimeMs,
    Math.max(1, Math.floor((resolved.idleTimeoutMs * 3) / 4)),
  );
  return resolved;
}

function definedOnly(limits: ServerLimits): ServerLimits {
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
}
