import type { IdempotencyClaim, IdempotencyState, IntakeStore, StoredAnswer } from "@capflow/core";
import type { Knex } from "knex";
import { jsonParam, type Row, timeParam } from "./rows.ts";
import { defaultSchema, type QualifiedNames, qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export interface KnexIntakeStoreOptions {
  /** Default `capflow`. */
  schema?: string;
  /** How messages name the database. */
  target?: string;
}

/**
 * The intake's nonces and idempotency keys in PostgreSQL (migration 0007), shared by every node:
 * a nonce or a key is taken by one insert, so two nodes can never both accept the same one.
 */
export class KnexIntakeStore implements IntakeStore {
  readonly #knex: Knex;
  readonly #t: QualifiedNames;
  readonly #target: string;

  constructor(knex: Knex, options: KnexIntakeStoreOptions = {}) {
    this.#knex = knex;
    this.#t = qualifiedNames(options.schema ?? defaultSchema);
    this.#target = options.target ?? "the database";
  }

  async useNonce(client: string, nonce: string, expiresAt: number, now: number) {
    // A row left by an expired nonce is taken over; a live one makes the insert do nothing.
    const rows = await this.#rows(
      `INSERT INTO ${this.#t.intakeNonces} AS n (client, nonce, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (client, nonce) DO UPDATE SET expires_at = excluded.expires_at
         WHERE n.expires_at <= ?
       RETURNING 1 AS used`,
      [client, nonce, timeParam(expiresAt), timeParam(now)],
    );
    return rows.length === 1;
  }

  async claimKey(request: IdempotencyClaim): Promise<IdempotencyState> {
    // Two tries: a key released between the insert and the read is simply claimed again. A key
    // pending for over a minute was left by a request that died (a crashed node): taken over.
    for (let attempt = 0; attempt < 2; attempt++) {
      const claimed = await this.#rows(
        `INSERT INTO ${this.#t.intakeRequests} AS r
           (client, idempotency_key, body_digest, state, created_at, expires_at)
         VALUES (?, ?, ?, 'pending', ?, ?)
         ON CONFLICT (client, idempotency_key) DO UPDATE
           SET body_digest = excluded.body_digest, state = 'pending', status = NULL,
               answer = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at
           WHERE r.expires_at <= excluded.created_at
              OR (r.state = 'pending' AND r.created_at <= excluded.created_at - interval '1 minute')
         RETURNING 1 AS claimed`,
        [
          request.client,
          request.key,
          request.bodyDigest,
          timeParam(request.now),
          timeParam(request.expiresAt),
        ],
      );
      if (claimed.length === 1) return { state: "claimed" };
      const [row] = await this.#rows(
        `SELECT body_digest, state, status, answer FROM ${this.#t.intakeRequests}
         WHERE client = ? AND idempotency_key = ?`,
        [request.client, request.key],
      );
      if (row === undefined) continue;
      const bodyDigest = row.body_digest as string;
      if (row.state === "pending") return { state: "pending", bodyDigest };
      const body = typeof row.answer === "string" ? JSON.parse(row.answer) : row.answer;
      return { state: "answered", bodyDigest, answer: { status: Number(row.status), body } };
    }
    return { state: "pending", bodyDigest: request.bodyDigest };
  }

  async saveAnswer(client: string, key: string, answer: StoredAnswer): Promise<void> {
    await this.#rows(
      `UPDATE ${this.#t.intakeRequests} SET state = 'answered', status = ?, answer = ?::json
       WHERE client = ? AND idempotency_key = ? AND state = 'pending'`,
      [answer.status, jsonParam(answer.body), client, key],
    );
  }

  async releaseKey(client: string, key: string): Promise<void> {
    await this.#rows(
      `DELETE FROM ${this.#t.intakeRequests}
       WHERE client = ? AND idempotency_key = ? AND state = 'pending'`,
      [client, key],
    );
  }

  async purgeExpired(now: number): Promise<number> {
    const at = timeParam(now);
    const nonces = await this.#rows(
      `DELETE FROM ${this.#t.intakeNonces} WHERE expires_at <= ? RETURNING 1`,
      [at],
    );
    const keys = await this.#rows(
      `DELETE FROM ${this.#t.intakeRequests} WHERE expires_at <= ? RETURNING 1`,
      [at],
    );
    return nonces.length + keys.length;
  }

  async #rows(sql: string, bindings: unknown[]): Promise<Row[]> {
    try {
      return ((await this.#knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: Row[] }).rows;
    } catch (error) {
      throw translateStoreError(error, { target: this.#target });
    }
  }
}
