import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * `operator_tokens.created_reason` and `revoked_reason`: why a token was made and why it was
 * revoked, next to who did each and when, so the token listing is its own audit trail. Tokens
 * made or revoked before have none. Adding nullable columns does not rewrite the table.
 */
export const operatorTokenReasonsMigration: Migration = {
  name: "0043_operator_token_reasons",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.operatorTokens} ADD COLUMN created_reason text, ADD COLUMN revoked_reason text`,
  ],
};
