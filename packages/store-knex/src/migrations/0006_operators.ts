import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Operators' API tokens: only the SHA-256 digest of each token is kept (the token is shown once
 * when made). A revoked token stays, so the history of who acted with it still resolves; names are
 * unique among unrevoked tokens, so a name can be issued again after its token is revoked.
 */
export const operatorsMigration: Migration = {
  name: "0006_operators",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.operatorTokens} (
      id text PRIMARY KEY,
      name text NOT NULL,
      role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL,
      created_by text,
      revoked_at timestamptz,
      revoked_by text
    )`,
    `CREATE UNIQUE INDEX operator_tokens_active_name ON ${n.operatorTokens} (name) WHERE revoked_at IS NULL`,
    // Operators list notifications that came after their instance settled, newest first.
    `CREATE INDEX step_logs_late ON ${n.stepLogs} (started_at DESC, id DESC) WHERE outcome LIKE 'late:%'`,
  ],
};
