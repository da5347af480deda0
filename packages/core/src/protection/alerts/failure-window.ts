/** Calls and failures per channel and interface, in 10-second buckets, over a sliding window. */
export class FailureWindow {
  readonly #buckets = new Map<string, Map<number, { calls: number; failures: number }>>();
  readonly #keepMs: number;

  constructor(keepMs: number) {
    this.#keepMs = keepMs;
  }

  record(channel: string, iface: string, failed: boolean, at: number): void {
    const key = `${channel}\u0000${iface}`;
    let buckets = this.#buckets.get(key);
    if (!buckets) {
      buckets = new Map();
      this.#buckets.set(key, buckets);
    }
    const start = at - (at % 10_000);
    const bucket = buckets.get(start) ?? { calls: 0, failures: 0 };
    bucket.calls += 1;
    if (failed) bucket.failures += 1;
    buckets.set(start, bucket);
  }

  /** Totals per channel and interface over `windowMs` before `now`; old buckets are dropped. */
  totals(
    now: number,
    windowMs: number,
  ): { channel: string; iface: string; calls: number; failures: number }[] {
    const result = [];
    for (const [key, buckets] of this.#buckets) {
      let calls = 0;
      let failures = 0;
      for (const [start, bucket] of buckets) {
        if (start + 10_000 <= now - this.#keepMs) {
          buckets.delete(start);
          continue;
        }
        if (start + 10_000 > now - windowMs) {
          calls += bucket.calls;
          failures += bucket.failures;
        }
      }
      const [channel, iface] = key.split("\u0000") as [string, string];
      result.push({ channel, iface, calls, failures });
    }
    return result;
  }
}
