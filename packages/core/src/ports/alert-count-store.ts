/**
 * Counts behind alert rules, in 10-second buckets, that every node adds to and the evaluating node
 * reads: failure rates, limiter saturation and refused callbacks are then judged over the whole
 * cluster, not per node (migration 0026 in @capflow/store-knex; in memory, one node's own).
 */
export interface AlertCountStore {
  /** Adds each count to its bucket (creating it), whichever node added before. */
  addCounts(counts: AlertCount[]): Promise<void>;
  /** Every bucket starting at or after `since`. */
  countsSince(since: number): Promise<AlertCount[]>;
  /** Forgets buckets that start before `before`. */
  purgeCounts(before: number): Promise<void>;
}

/**
 * What is counted: `calls` (calls and polls; `hits` failed), `limiter` (partner requests; `hits`
 * refused by the interface's concurrency or rate limit), `callbacks` (notifications; `hits`
 * refused).
 */
export type AlertSignal = "calls" | "limiter" | "callbacks";

export interface AlertCount {
  signal: AlertSignal;
  channel: string;
  /** The interface, or the callback. */
  subject: string;
  /** Start of the 10-second bucket, epoch milliseconds. */
  bucket: number;
  total: number;
  hits: number;
}

/** Length of a count bucket. */
export const alertBucketMs = 10_000;
