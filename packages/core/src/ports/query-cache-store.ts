/**
 * Cached answers of queries (a repayment trial, a credit limit), shared by every node through the
 * database (migration 0021 in @capflow/store-knex).
 */
export interface QueryCacheStore {
  /**
   * The entry for `key` still within its lifetime at `now` (its `expiresAt` later), if any,
   * whatever its status: the caller decides whether an answer that did not succeed is served.
   */
  getCached(key: string, now: number): Promise<CachedAnswer | undefined>;
  /**
   * Stores an answer, replacing an expired entry or, within one lifetime, an entry of an earlier
   * run that did not succeed; otherwise the entry already there wins and is returned.
   */
  putCached(answer: CachedAnswer): Promise<CachedAnswer>;
}

export interface CachedAnswer {
  key: string;
  channel: string;
  behavior: string;
  /** The instance that asked the funder. */
  instanceId: string;
  /**
   * Which run of the key within its lifetime: 1 for the first; one more for each run after an
   * answer that did not succeed.
   */
  run: number;
  /**
   * How it settled and what it extracted; `parked` with the `error` that stopped a run an operator
   * must look at.
   */
  value: {
    status: string;
    context: Record<string, unknown>;
    error?: { code: string; message: string } | null;
  };
  storedAt: number;
  /** The end of the key's lifetime (the next cut-off); a succeeded answer is served until then. */
  expiresAt: number;
}
