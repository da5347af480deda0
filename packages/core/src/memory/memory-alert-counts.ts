import type { AlertCount, AlertCountStore } from "../ports/alert-count-store.ts";

/** Alert counts of this process only: rules judge what this node saw. */
export class MemoryAlertCounts implements AlertCountStore {
  readonly #buckets = new Map<string, AlertCount>();

  async addCounts(counts: AlertCount[]): Promise<void> {
    for (const count of counts) {
      const key = `${count.signal}\u0000${count.channel}\u0000${count.subject}\u0000${count.bucket}`;
      const bucket = this.#buckets.get(key);
      if (bucket) {
        bucket.total += count.total;
        bucket.hits += count.hits;
      } else {
        this.#buckets.set(key, { ...count });
      }
    }
  }

  async countsSince(since: number): Promise<AlertCount[]> {
    return [...this.#buckets.values()].filter((b) => b.bucket >= since).map((b) => ({ ...b }));
  }

  async purgeCounts(before: number): Promise<void> {
    for (const [key, bucket] of this.#buckets)
      if (bucket.bucket < before) this.#buckets.delete(key);
  }
}
