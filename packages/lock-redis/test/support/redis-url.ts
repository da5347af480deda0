import { describe, test } from "vitest";

/** The Redis of the integration tests, or undefined to skip them (CI always sets it). */
export const redisUrl: string | undefined = process.env.REDIS_URL;

const howToEnable =
  "Redis integration tests skipped: set REDIS_URL=redis://127.0.0.1:6379 (a Redis 7 you can write to) to run them";

/** Registers the suite when REDIS_URL is set, otherwise a visibly skipped placeholder. */
export function describeWithRedis(name: string, suite: (url: string) => void): void {
  if (redisUrl) {
    suite(redisUrl);
    return;
  }
  console.warn(howToEnable);
  describe.skip(name, () => {
    test(howToEnable, () => {});
  });
}

/** A key prefix no other test run uses. */
export function uniquePrefix(): string {
  return `capflow-test:${process.pid}:${Math.random().toString(36).slice(2)}:`;
}
