import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * `operator_tokens.last_used_at`: when a token last authenticated a request, to the minute, so
 * operators can find stale tokens to revoke. Tokens used before have none until their next use.
 * Adding a nullable column does not rewrite the table.
 */
export const operatorTokenLastUsedMigration: Migration = {
  name: "0047_operator_token_last_used",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.operatorTokens} ADD COLUMN last_used_at timestamptz`,
  ],
};
