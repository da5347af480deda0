import { CapflowError } from "@capflow/core";
import { Redis, type RedisOptions } from "ioredis";
import { RedisBreakerBoard } from "./redis-breaker-board.ts";
import { RedisLimiter } from "./redis-limiter.ts";
import { RedlockLockProvider } from "./redlock-lock-provider.ts";

export interface OpenRedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /** Prepended to every key, so several applications can share one Redis. Default `capflow:`. */
  keyPrefix?: string;
  /** A command without an answer after this long fails as unavailable. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** How long `openRedis` waits for the first connection. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Connection errors (reconnects happen by themselves). Default: ignored. */
  onError?: (error: Error) => void;
  /** Extra ioredis options (TLS, Sentinel …); the fail-fast settings below win over them. */
  redisOptions?: RedisOptions;
}

export interface CapflowRedis {
  locks: RedlockLockProvider;
  limiter: RedisLimiter;
  /** Where every node reports its open breakers (`FlowControlOptions.breakerBoard`). */
  breakers: RedisBreakerBoard;
  /** The underlying connection, e.g. for health checks. */
  client: Redis;
  /** Releases held locks and closes the connection. */
  close(): Promise<void>;
}

/**
 * Connects to Redis for locks and limits, configured so that no operation hangs when Redis is
 * away: commands are not queued while disconnected (they fail at once), a command in flight when
 * the connection drops is never resent (a resend could take a second permit), and every command
 * has a timeout. Failures surface as retryable `LOCK_UNAVAILABLE` / `LIMITER_UNAVAILABLE`;
 * the connection comes back by itself when Redis does.
 *
 * Waits for the first connection, and fails with a retryable `LOCK_UNAVAILABLE` if Redis cannot
 * be reached within `connectTimeoutMs`.
 */
export async function openRedis(options: OpenRedisOptions): Promise<CapflowRedis> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const client = new Redis(options.url, {
    // Commands issued in one turn of the event loop (a claimed batch's locks, a group commit's
    // unlocks) leave in one write: one system call and one wake-up of Redis instead of one each.
    // Each command keeps its own reply, error and timeout.
    enableAutoPipelining: true,
    ...options.redisOptions,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    connectTimeout: Math.min(connectTimeoutMs, 2_000),
    // Reconnect quickly: during an outage every operation fails fast anyway.
    retryStrategy: (times) => Math.min(50 * 2 ** times, 1_000),
  });
  // Without a listener ioredis prints every reconnect failure; callers choose what to do.
  client.on("error", (error: Error) => options.onError?.(error));
  await waitUntilReady(client, connectTimeoutMs, options.url);

  const keyPrefix = options.keyPrefix ?? "capflow:";
  const locks = new RedlockLockProvider({ clients: client, keyPrefix });
  const limiter = new RedisLimiter({ client, keyPrefix });
  const breakers = new RedisBreakerBoard({ client, keyPrefix });
  return {
    locks,
    limiter,
    breakers,
    client,
    close: async () => {
      await locks.close();
      await limiter.close();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

async function waitUntilReady(client: Redis, timeoutMs: number, url: string): Promise<void> {
  if (client.status === "ready") return;
  let lastError: Error | undefined;
  const onError = (error: Error) => {
    lastError = error;
  };
  client.on("error", onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
      client.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch {
    client.disconnect();
    throw new CapflowError(
      "LOCK_UNAVAILABLE",
      `cannot reach Redis at ${redactUrl(url)} within ${timeoutMs} ms${lastError ? ` (${lastError.message})` : ""}; check REDIS_URL and that Redis is running`,
      { cause: lastError },
    );
  } finally {
    client.off("error", onError);
  }
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "<redacted>";
    return parsed.toString();
  } catch {
    return "<invalid Redis URL>";
  }
}
