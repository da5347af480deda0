/**
 * Cached answers of queries (a repayment trial, a credit limit), shared by every node through the
 * database (migration 0021 in @capflow/store-knex).
 */
export interface QueryCacheStore {
  /** The entry for `key` still valid at `now` (its `expiresAt` later), if any. */
  getCached(key: string, now: number): Promise<CachedAnswer | undefined>;
  /** Stores an answer, replacing an expired entry; a valid entry already there wins and is returned. */
  putCached(answer: CachedAnswer): Promise<CachedAnswer>;
}

export interface CachedAnswer {
  key: string;
  channel: string;
  behavior: string;
  /** The instance that asked the funder. */
  instanceId: string;
  /** How it settled and what it extracted. */
  value: { status: string; context: Record<string, unknown> };
  storedAt: number;
  expiresAt: number;
}
