import { createHash } from "node:crypto";
import { canonicalJson } from "@capflow/core/internal";
import type { StatementDefinition } from "./statement-definition.ts";

/**
 * The SHA-256 (hex) of what a statement definition says about reading and matching a file: a run
 * is one file read with one definition, so a corrected definition reconciles the same file anew.
 * Its description, schedule and `$schema` change no result and are left out.
 */
export function statementDigest(statement: StatementDefinition): string {
  const { $schema: _schema, description: _description, schedule: _schedule, ...read } = statement;
  return createHash("sha256").update(canonicalJson(read)).digest("hex");
}
