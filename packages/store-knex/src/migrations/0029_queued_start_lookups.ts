import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Two lookups of queued starts that run on every intake start and every admission round:
 * by business key whatever the state (a repeated start is answered with what the first became,
 * and a business key is queued only if it never was), and the starts admitted in the last
 * moments per channel and behavior (the rate holds across every node that admits).
 */
export const queuedStartLookupsMigration: Migration = {
  name: "0029_queued_start_lookups",
  statements: (n: QualifiedNames) => [
    `CREATE INDEX queued_starts_business_key ON ${n.schema}."queued_starts" (channel, behavior, business_key, seq)`,
    `CREATE INDEX queued_starts_admitted ON ${n.schema}."queued_starts" (channel, behavior, finished_at)
      WHERE status = 'started'`,
  ],
};
