import type { BreakerBoard, BreakerReport, ClosedBreakerReport } from "@capflow/core";
import type { Redis } from "ioredis";
import { breakerReportScript } from "./lua/breaker-report.ts";
import { translateRedisError } from "./translate-redis-error.ts";

export interface RedisBreakerBoardOptions {
  /** A client configured to fail fast (see `openRedis`); not closed by this board. */
  client: Redis;
  /** Prepended to the board's key. Default `capflow:`. */
  keyPrefix?: string;
}

/**
 * Every node's open and half-open breakers in one Redis hash (one field per channel, interface
 * and node), so any `capflow serve` shows the cluster's. A report carries its own expiry: the
 * reader skips expired ones, and the hash itself expires when its longest-lived report has.
 * Reports are sent with EVAL, not EVALSHA: a NOSCRIPT retry could land after a later `closed`
 * report and bring an open breaker back.
 */
export class RedisBreakerBoard implements BreakerBoard {
  readonly #client: Redis;
  readonly #key: string;

  constructor(options: RedisBreakerBoardOptions) {
    this.#client = options.client;
    this.#key = `${options.keyPrefix ?? "capflow:"}breakers`;
  }

  async report(report: BreakerReport | ClosedBreakerReport): Promise<void> {
    const field = JSON.stringify([report.channel, report.interface, report.node]);
    try {
      if (report.state === "closed") {
        await this.#client.hdel(this.#key, field);
        return;
      }
      // From the report's own times: the node's clock may differ from this process's.
      const lifetimeMs = Math.max(1, Math.ceil(report.expiresAt - report.since));
      await this.#client.eval(
        breakerReportScript,
        1,
        this.#key,
        field,
        JSON.stringify(report),
        lifetimeMs,
      );
    } catch (error) {
      throw translateRedisError(error, "LIMITER_UNAVAILABLE", {
        channel: report.channel,
        interface: report.interface,
      });
    }
  }

  async list(now: number): Promise<BreakerReport[]> {
    let fields: Record<string, string>;
    try {
      fields = await this.#client.hgetall(this.#key);
    } catch (error) {
      throw translateRedisError(error, "LIMITER_UNAVAILABLE", {});
    }
    const reports: BreakerReport[] = [];
    for (const value of Object.values(fields)) {
      const report = parseReport(value);
      if (report !== undefined && report.expiresAt > now) reports.push(report);
    }
    return reports;
  }
}

/** A report as stored; anything else in the hash (written by another version) is skipped. */
function parseReport(value: string): BreakerReport | undefined {
  try {
    const report = JSON.parse(value) as Partial<BreakerReport>;
    if (
      typeof report.channel === "string" &&
      typeof report.interface === "string" &&
      typeof report.node === "string" &&
      (report.state === "open" || report.state === "half-open") &&
      typeof report.since === "number" &&
      typeof report.expiresAt === "number"
    ) {
      return report as BreakerReport;
    }
  } catch {
    // Not JSON: not a report.
  }
  return undefined;
}
