import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * `queued_starts.input_digest`: the digest of the start's input, as the engine computes an
 * instance's `input_digest`. An expiring start is closed as started only with an instance of the
 * same digest; with other input it is given up. Rows queued before, or by an older node, have
 * none: the store computes it from their stored input before expiring them (the digest is
 * JavaScript's, not SQL's). Adding a nullable column does not rewrite the table.
 */
export const queuedStartInputDigestMigration: Migration = {
  name: "0044_queued_start_input_digest",
  statements: (n: QualifiedNames) => [
    `ALTER TABLE ${n.schema}."queued_starts" ADD COLUMN input_digest text`,
  ],
};
