import { randomBytes } from "node:crypto";
import {
  CapflowError,
  type Limiter,
  type LimiterDecision,
  type LimiterState,
  type Limits,
  type Permit,
} from "@capflow/core";
import type { Redis } from "ioredis";
import { limiterAcquireScript } from "./lua/limiter-acquire.ts";
import { limiterStateScript } from "./lua/limiter-state.ts";
import { translateRedisError } from "./translate-redis-error.ts";

export interface RedisLimiterOptions {
  /** A client configured to fail fast (see `openRedis`); not closed by `close()`. */
  client: Redis;
  /** Prepended to every key. Default `capflow:`. */
  keyPrefix?: string;
  /** Permit lifetime when the caller gives none. Default 60 s. */
  defaultPermitTtlMs?: number;
  /**
   * Longest retry delay suggested for a concurrency refusal. Permits are usually released long
   * before they expire, so waiting for the soonest expiry would be far too pessimistic. Default 50 ms.
   */
  concurrencyRetryMs?: number;
}

/** The Lua command registered on the client with `defineCommand` (sent with EVALSHA). */
type AcquireCommand = (
  permitsKey: string,
  rateKey: string,
  token: string,
  concurrency: number,
  permitTtlMs: number,
  rateLimit: number,
  rateWindowMs: number,
) => Promise<[0 | 1, ("concurrency" | "rate")?, number?]>;

type StateCommand = (
  permitsKey: string,
  rateKey: string,
  rateWindowMs: number,
) => Promise<[number, number]>;

const acquireCommandName = "capflowLimiterAcquire";
const stateCommandName = "capflowLimiterState";

/**
 * Concurrency and rate limits shared by every worker connected to one Redis. Limits travel with
 * each call, so a changed channel definition applies at once. Redis failures throw a retryable
 * `LIMITER_UNAVAILABLE`: the engine then delays the call rather than making it without limits.
 */
export class RedisLimiter implements Limiter {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #defaultPermitTtlMs: number;
  readonly #concurrencyRetryMs: number;
  readonly #acquire: AcquireCommand;
  readonly #state: StateCommand;

  constructor(options: RedisLimiterOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? "capflow:";
    this.#defaultPermitTtlMs = options.defaultPermitTtlMs ?? 60_000;
    this.#concurrencyRetryMs = options.concurrencyRetryMs ?? 50;
    const commands = this.#client as unknown as Record<string, AcquireCommand | undefined>;
    if (commands[acquireCommandName] === undefined) {
      this.#client.defineCommand(acquireCommandName, {
        numberOfKeys: 2,
        lua: limiterAcquireScript,
      });
    }
    this.#acquire = commands[acquireCommandName]!.bind(this.#client);
    const reads = this.#client as unknown as Record<string, StateCommand | undefined>;
    if (reads[stateCommandName] === undefined) {
      this.#client.defineCommand(stateCommandName, { numberOfKeys: 2, lua: limiterStateScript });
    }
    this.#state = reads[stateCommandName]!.bind(this.#client);
  }

  async acquire(
    key: string,
    limits: Limits,
    options: { permitTtlMs?: number } = {},
  ): Promise<LimiterDecision> {
    checkLimits(key, limits);
    const permitTtlMs = Math.ceil(options.permitTtlMs ?? this.#defaultPermitTtlMs);
    const { permitsKey, rateKey } = this.#keys(key);
    const token = randomBytes(12).toString("base64url");
    let reply: Awaited<ReturnType<AcquireCommand>>;
    try {
      reply = await this.#acquire(
        permitsKey,
        rateKey,
        token,
        limits.concurrency ?? -1,
        permitTtlMs,
        limits.rate?.limit ?? -1,
        limits.rate?.windowMs ?? 0,
      );
    } catch (error) {
      throw translateRedisError(error, "LIMITER_UNAVAILABLE", { limiterKey: key });
    }
    const [granted, reason, waitMs] = reply;
    if (granted === 1) {
      return { granted: true, permit: this.#permit(key, permitsKey, token, limits) };
    }
    if (reason === "concurrency") {
      return {
        granted: false,
        reason,
        retryAfterMs: Math.max(1, Math.min(waitMs ?? 1, this.#concurrencyRetryMs)),
      };
    }
    return { granted: false, reason: "rate", retryAfterMs: Math.max(1, waitMs ?? 1) };
  }

  /** Permits held and calls in the rate window, counted by Redis for every worker's calls. */
  async state(key: string, limits: Limits): Promise<LimiterState> {
    checkLimits(key, limits);
    const { permitsKey, rateKey } = this.#keys(key);
    try {
      const [held, inWindow] = await this.#state(permitsKey, rateKey, limits.rate?.windowMs ?? 0);
      return { held: Number(held), inWindow: Number(inWindow) };
    } catch (error) {
      throw translateRedisError(error, "LIMITER_UNAVAILABLE", { limiterKey: key });
    }
  }

  #keys(key: string): { permitsKey: string; rateKey: string } {
    // The hash tag keeps both keys in one slot, so the scripts also run on Redis Cluster.
    return {
      permitsKey: `${this.#prefix}limit:{${key}}:permits`,
      rateKey: `${this.#prefix}limit:{${key}}:rate`,
    };
  }

  /** The client belongs to whoever created it (see `openRedis`); nothing to close here. */
  async close(): Promise<void> {}

  #permit(key: string, permitsKey: string, token: string, limits: Limits): Permit {
    // A rate-only permit holds nothing: the call stays in the window log until it ages out.
    if (limits.concurrency === undefined) return { release: async () => {} };
    let released = false;
    return {
      release: async () => {
        if (released) return;
        try {
          await this.#client.zrem(permitsKey, token);
          released = true;
        } catch (error) {
          throw translateRedisError(error, "LIMITER_UNAVAILABLE", { limiterKey: key });
        }
      },
    };
  }
}

function checkLimits(key: string, limits: Limits): void {
  const { concurrency, rate } = limits;
  const problems: string[] = [];
  if (concurrency !== undefined && !(Number.isSafeInteger(concurrency) && concurrency >= 0)) {
    problems.push(`concurrency must be a non-negative integer (got ${concurrency})`);
  }
  if (rate !== undefined) {
    if (!(Number.isSafeInteger(rate.limit) && rate.limit >= 0)) {
      problems.push(`rate.limit must be a non-negative integer (got ${rate.limit})`);
    }
    if (!(Number.isSafeInteger(rate.windowMs) && rate.windowMs > 0)) {
      problems.push(`rate.windowMs must be a positive integer (got ${rate.windowMs})`);
    }
  }
  if (problems.length > 0) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `invalid limits for "${key}": ${problems.join("; ")}`,
      {
        context: { limiterKey: key },
      },
    );
  }
}
