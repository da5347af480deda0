import type { Transition } from "@capflow/core";
import { jsonParam, nullableJsonParam, timeParam } from "./rows.ts";
import type { QualifiedNames } from "./sql-names.ts";

/** The comment that names a commit statement on the server: `pg_stat_activity.query` shows it. */
export function commitTag(logId: string): string {
  return `/* capflow commit ${logId} */`;
}

/**
 * The whole transition as one statement (so one round trip and its own transaction): update the
 * instance if it still has the expected version, insert the step log built from the updated row,
 * mark consumed inbox entries. When the update matches no row, neither insert happens; when a
 * consumed entry was processed already, the statement fails and nothing happens.
 */
export function commitStatement(
  t: QualifiedNames,
  transition: Transition,
  logId: string,
): { sql: string; bindings: unknown[] } {
  const { changes, log } = transition;
  const consumed = transition.consumedInbox ?? [];
  const bindings: unknown[] = [];
  const param = (value: unknown, cast = "") => {
    bindings.push(value);
    return `?${cast}`;
  };
  const sets: string[] = [];
  if (changes.behaviorVersion !== undefined)
    sets.push(`behavior_version = ${param(changes.behaviorVersion, "::int")}`);
  if (changes.step !== undefined) sets.push(`step = ${param(changes.step)}`);
  if (changes.status !== undefined) sets.push(`status = ${param(changes.status)}`);
  if (changes.context !== undefined)
    sets.push(`context = ${param(jsonParam(changes.context), "::jsonb")}`);
  if (changes.snapshot !== undefined)
    sets.push(`snapshot = ${param(jsonParam(changes.snapshot), "::jsonb")}`);
  if (changes.attempt !== undefined) sets.push(`attempt = ${param(changes.attempt, "::int")}`);
  if (changes.inFlight !== undefined)
    sets.push(`in_flight = ${param(nullableJsonParam(changes.inFlight), "::jsonb")}`);
  if (changes.lastError !== undefined)
    sets.push(`last_error = ${param(nullableJsonParam(changes.lastError), "::jsonb")}`);
  if (changes.waitingFor !== undefined)
    sets.push(`waiting_for = ${param(changes.waitingFor, "::text")}`);
  if (!transition.keepLease) sets.push("lease_owner = NULL, lease_until = NULL");
  else if (transition.leaseUntil !== undefined)
    sets.push(`lease_until = ${param(timeParam(transition.leaseUntil), "::timestamptz")}`);

  // A commit into `waiting` for a callback whose notifications sit unprocessed in the inbox makes
  // the instance due now, so a callback that raced the commit is not left until the deadline.
  // has_pending_callback is volatile: see migration 0001 for why that closes the race.
  const nextRunAt = () =>
    changes.nextRunAt !== undefined
      ? param(timeParam(changes.nextRunAt), "::timestamptz")
      : "next_run_at";
  const becomesWaiting =
    changes.status === undefined ? "status = 'waiting'" : changes.status === "waiting";
  if (becomesWaiting === false) {
    if (changes.nextRunAt !== undefined) sets.push(`next_run_at = ${nextRunAt()}`);
  } else {
    const notWaiting =
      becomesWaiting === true ? "" : `WHEN NOT (${becomesWaiting}) THEN ${nextRunAt()}`;
    const now = () => param(timeParam(transition.now), "::timestamptz");
    // The callback the row waits for after this commit (SET expressions read the old row).
    const awaited = () =>
      changes.waitingFor !== undefined ? param(changes.waitingFor, "::text") : "waiting_for";
    sets.push(
      `next_run_at = CASE ${notWaiting}
         WHEN ${t.hasPendingCallback}(channel, business_key, ${awaited()}, ${param(consumed, "::text[]")})
           THEN LEAST(COALESCE(${nextRunAt()}, ${now()}), ${now()})
         ELSE ${nextRunAt()} END`,
    );
  }
  sets.push(`version = version + 1, updated_at = ${param(timeParam(transition.now))}`);

  // Tagged with the log id, so recovery can find this statement in pg_stat_activity.
  let sql = `${commitTag(logId)} WITH updated AS (
    UPDATE ${t.instances} SET ${sets.join(", ")}
    WHERE id = ${param(transition.instanceId)} AND version = ${param(transition.expectedVersion, "::int")}
    RETURNING *
  ), logged AS (
    INSERT INTO ${t.stepLogs} (id, instance_id, version, step, attempt, event, from_step, to_step,
      from_status, to_status, outcome, request, response, raw, error, actor, started_at, duration_ms)
    SELECT ${param(logId, "::uuid")}, u.id, u.version, ${param(log.step, "::text")},
      ${param(log.attempt, "::int")}, ${param(log.event, "::text")},
      ${param(log.fromStep ?? null, "::text")}, ${param(log.toStep ?? null, "::text")},
      ${param(log.fromStatus ?? null, "::text")}, ${param(log.toStatus ?? null, "::text")},
      ${param(log.outcome ?? null, "::text")}, ${param(nullableJsonParam(log.request), "::jsonb")},
      ${param(nullableJsonParam(log.response), "::jsonb")}, ${param(nullableJsonParam(log.raw), "::jsonb")},
      ${param(nullableJsonParam(log.error), "::jsonb")}, ${param(nullableJsonParam(log.actor), "::jsonb")},
      ${param(timeParam(log.startedAt), "::timestamptz")}, ${param(log.durationMs, "::float8")}
    FROM updated u
  )`;
  if (consumed.length > 0) {
    sql += `, consumed AS (
      UPDATE ${t.inbox} SET processed_at = ${param(timeParam(transition.now), "::timestamptz")}, instance_id = u.id
      FROM updated u
      WHERE ${t.inbox}.id = ANY (${param(consumed, "::text[]")}) AND ${t.inbox}.processed_at IS NULL
      RETURNING ${t.inbox}.id
    )`;
    // An entry processed meanwhile (another instance applied it) fails the whole statement.
    sql += ` SELECT u.*, ${t.inboxConsumed}((SELECT count(*) FROM consumed), ${param(consumed.length, "::int")})
      FROM updated u`;
  } else {
    sql += " SELECT * FROM updated";
  }
  return { sql, bindings };
}
