import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * The intake API of `capflow serve`:
 *
 * - `upstream_clients`: client definitions (`*.client.json`), live like channels.
 * - `intake_nonces`: every nonce a client signed with, kept until `expires_at` (past the replay
 *   window, when its timestamp would be refused anyway); the primary key makes a replay fail
 *   its insert, whichever node it reaches.
 * - `intake_requests`: one row per (client, Idempotency-Key): the digest of the body it came
 *   with, and once answered the status and body replayed to every repeat until `expires_at`. A
 *   row in state `pending` is a request still being answered: a concurrent repeat waits for it.
 */
export const intakeMigration: Migration = {
  name: "0007_intake",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.upstreamClients} (
      id text PRIMARY KEY,
      definition json NOT NULL,
      digest text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE ${n.intakeNonces} (
      client text NOT NULL,
      nonce text NOT NULL,
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (client, nonce)
    )`,
    `CREATE INDEX intake_nonces_expiry ON ${n.intakeNonces} (expires_at)`,
    `CREATE TABLE ${n.intakeRequests} (
      client text NOT NULL,
      idempotency_key text NOT NULL,
      body_digest text NOT NULL,
      state text NOT NULL CHECK (state IN ('pending', 'answered')),
      status integer,
      answer json,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (client, idempotency_key)
    )`,
    `CREATE INDEX intake_requests_expiry ON ${n.intakeRequests} (expires_at)`,
  ],
};
