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
}

export const defaultServerLimits: Required<ServerLimits> = {
  bodyLimitBytes: 1024 * 1024,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
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
  return resolved;
}

function definedOnly(limits: ServerLimits): ServerLimits {
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
}
