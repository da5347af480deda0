import { randomUUID } from "node:crypto";
import type { CapflowDatabase } from "@capflow/store-knex";

/** Plants an instance row as the engine leaves it once settled (for matching, nothing else). */
export async function insertInstance(
  db: Pick<CapflowDatabase, "knex" | "schema">,
  instance: {
    channel: string;
    behavior: string;
    businessKey: string;
    input: Record<string, unknown>;
    context: Record<string, unknown>;
    status: string;
    updatedAt: string;
  },
): Promise<string> {
  const id = randomUUID();
  await db.knex.raw(
    `INSERT INTO "${db.schema}"."instances" (id, channel, behavior, behavior_version, business_key,
       input, input_digest, step, status, context, snapshot, created_at, updated_at)
     VALUES (?, ?, ?, 1, ?, ?::jsonb, 'digest', 'done', ?, ?::jsonb, '{}'::jsonb, ?, ?)`,
    [
      id,
      instance.channel,
      instance.behavior,
      instance.businessKey,
      JSON.stringify(instance.input),
      instance.status,
      JSON.stringify(instance.context),
      instance.updatedAt,
      instance.updatedAt,
    ],
  );
  return id;
}
