import type {
  NewOperatorToken,
  OperatorRole,
  OperatorTokenRecord,
  OperatorTokenStore,
  RevokeTokenRequest,
} from "@capflow/core";
import type { Knex } from "knex";
import { epochMs, type Row, timeParam } from "./rows.ts";
import { defaultSchema, type QualifiedNames, qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export interface KnexOperatorTokenStoreOptions {
  /** Schema holding capflow's tables. Default `capflow`. */
  schema?: string;
  /** How messages name the database (never with a password). */
  target?: string;
}

const columns =
  "id, name, role, created_at, created_by, created_reason, revoked_at, revoked_by, revoked_reason, last_used_at";

/**
 * `OperatorTokenStore` on PostgreSQL or PGlite: the `operator_tokens` table (migration 0006; the
 * reasons, migration 0043; when each was last used, migration 0047).
 */
export class KnexOperatorTokenStore implements OperatorTokenStore {
  readonly #knex: Knex;
  readonly #t: QualifiedNames;
  readonly #target: string;

  constructor(knex: Knex, options: KnexOperatorTokenStoreOptions = {}) {
    this.#knex = knex;
    this.#t = qualifiedNames(options.schema ?? defaultSchema);
    this.#target = options.target ?? "the database";
  }

  async createToken(token: NewOperatorToken): Promise<OperatorTokenRecord> {
    const [row] = await this.#rows(
      `INSERT INTO ${this.#t.operatorTokens} (id, name, role, token_hash, created_at, created_by, created_reason)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ${columns}`,
      [
        token.id,
        token.name,
        token.role,
        token.tokenHash,
        timeParam(token.createdAt),
        token.createdBy,
        token.createdReason,
      ],
      { token: token.name },
    );
    return tokenFromRow(row!);
  }

  async findTokenByHash(tokenHash: string): Promise<OperatorTokenRecord | undefined> {
    const [row] = await this.#rows(
      `SELECT ${columns} FROM ${this.#t.operatorTokens} WHERE token_hash = ?`,
      [tokenHash],
    );
    return row === undefined ? undefined : tokenFromRow(row);
  }

  async listTokens(): Promise<OperatorTokenRecord[]> {
    const rows = await this.#rows(
      `SELECT ${columns} FROM ${this.#t.operatorTokens} ORDER BY created_at, id COLLATE "C"`,
      [],
    );
    return rows.map(tokenFromRow);
  }

  async revokeToken(request: RevokeTokenRequest): Promise<OperatorTokenRecord | undefined> {
    const t = this.#t.operatorTokens;
    // By id, else the unrevoked token of that name.
    const [found] = await this.#rows(
      `SELECT id FROM ${t} WHERE id = ?
       UNION ALL
       SELECT id FROM ${t} WHERE name = ? AND revoked_at IS NULL
       LIMIT 1`,
      [request.idOrName, request.idOrName],
    );
    if (found === undefined) return undefined;
    const [revoked] = await this.#rows(
      `UPDATE ${t} SET revoked_at = ?, revoked_by = ?, revoked_reason = ?
       WHERE id = ? AND revoked_at IS NULL RETURNING ${columns}`,
      [timeParam(request.now), request.by, request.reason, found.id],
      { token: request.idOrName },
    );
    if (revoked !== undefined) return tokenFromRow(revoked);
    // Revoked already: returned as it is.
    const [row] = await this.#rows(`SELECT ${columns} FROM ${t} WHERE id = ?`, [found.id]);
    return row === undefined ? undefined : tokenFromRow(row);
  }

  async recordTokenUse(id: string): Promise<boolean> {
    // The database's clock, and at most one write a minute per token whichever server asks.
    const [row] = await this.#rows(
      `UPDATE ${this.#t.operatorTokens} SET last_used_at = now()
       WHERE id = ? AND revoked_at IS NULL
         AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
       RETURNING id`,
      [id],
      { token: id },
    );
    return row !== undefined;
  }

  async #rows(sql: string, bindings: readonly unknown[], context = {}): Promise<Row[]> {
    try {
      const result = (await this.#knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: Row[] };
      return result.rows;
    } catch (cause) {
      throw translateStoreError(cause, { target: this.#target, context });
    }
  }
}

function tokenFromRow(row: Row): OperatorTokenRecord {
  return {
    id: row.id as string,
    name: row.name as string,
    role: row.role as OperatorRole,
    createdAt: epochMs(row.created_at),
    createdBy: (row.created_by as string | null) ?? null,
    createdReason: (row.created_reason as string | null) ?? null,
    revokedAt:
      row.revoked_at === null || row.revoked_at === undefined ? null : epochMs(row.revoked_at),
    revokedBy: (row.revoked_by as string | null) ?? null,
    revokedReason: (row.revoked_reason as string | null) ?? null,
    lastUsedAt:
      row.last_used_at === null || row.last_used_at === undefined
        ? null
        : epochMs(row.last_used_at),
  };
}
