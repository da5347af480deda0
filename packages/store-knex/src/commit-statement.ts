import { createHash, randomUUID } from "node:crypto";
import { CapflowError, type Transition } from "@capflow/core";
import { routedLogEntry } from "@capflow/core/internal";
import {
  instanceValues,
  type Param,
  parameters,
  stepLogColumns,
  stepLogSelect,
} from "./instance-insert.ts";
import {
  instanceSelectList,
  jsonParam,
  nullableJsonParam,
  refusalsParam,
  storedRefusals,
  timeParam,
} from "./rows.ts";
import type { QualifiedNames } from "./sql-names.ts";

/** The comment that names a commit statement on the server: `pg_stat_activity.query` shows it. */
export function commitTag(logId: string): string {
  return `/* capflow commit ${logId} */`;
}

/**
 * The start of every group commit's text: with the backend's pid, how a group commit whose
 * connection broke is found on the server before it could name itself (waiting for a table lock,
 * say).
 */
export const groupCommitPrefix = "/* capflow commit: group */";

/**
 * How a group commit names itself on the server while it runs: its transaction sets
 * `application_name` to the connection's own name (its first 39 characters) followed by
 * ` commit <id>` (`set_config(…, true)`, undone when the statement ends), so
 * `pg_stat_activity.application_name` shows it, and tools that look for the connection's name
 * by prefix still see its connections. The text of a group commit is the same for every batch,
 * so that it can be a prepared statement, and cannot carry the id. The id is 16 hex digits.
 */
export function commitNameSuffix(statementId: string): string {
  return ` commit ${statementId}`;
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
  const consumed = transition.consumedInbox ?? [];
  const { bindings, param } = parameters();
  const { sets, where } = instanceUpdate(t, transition, param);
  let sql = `${commitTag(logId)} WITH updated AS (
    UPDATE ${t.instances} SET ${sets}
    WHERE ${where}
    RETURNING *
  )${historyInserts(t, transition, logId, "updated", "", param)}`;
  // The instance taking over the business on another channel (failover): inserted with its
  // history entry, its quotas reserved, in this statement. A unique violation or a full quota
  // fails the statement whole.
  const { spawn } = transition;
  if (spawn !== undefined) {
    const row = instanceValues(spawn, param);
    // The business key held on a channel of the product by another start fails it (migration
    // 0036), as a unique violation would.
    const channels = transition.spawnKeyChannels ?? [];
    const guard =
      channels.length === 0
        ? ""
        : ` WHERE ${t.businessKeyFree}(${param(spawn.businessKey, "::text")}, ${param(spawn.product ?? null, "::text")},
          ${param(
            channels.map((c) => c.channel),
            "::text[]",
          )}, ${param(
            channels.map((c) => c.behavior),
            "::text[]",
          )}, '{}'::text[], true)`;
    const spawnLog = stepLogSelect(randomUUID(), routedLogEntry(spawn), "s", param);
    sql += `, spawned AS (
      INSERT INTO ${t.instances} (${row.columns}) SELECT ${row.values} FROM updated u${guard} RETURNING *
    ), spawn_logged AS (
      INSERT INTO ${t.stepLogs} (${spawnLog.columns}) SELECT ${spawnLog.select} FROM spawned s
    )`;
  }
  // Quota holds move with the instance (consumed, released, reserved anew when reopened) and the
  // spawned instance reserves its own: one quota_apply, so every quota row is locked in one order.
  const quotas = transition.quota !== undefined || spawn !== undefined;
  if (quotas) {
    const reopening = transition.quota === "reserved";
    if (reopening && spawn !== undefined) throw reopenWithSpawn(transition);
    // Parameters bind in the order they are written (positional `?`).
    const settleTo = param(transition.quota ?? null, "::text");
    const reserveFor = param(reopening ? transition.instanceId : (spawn?.id ?? null), "::text");
    const reservations = reopening ? transition.reopenQuotas : spawn?.routing?.quotas;
    sql += `, quota AS (
      SELECT ${t.quotaApply}(u.id, ${settleTo},
        ${reserveFor}, ${param(nullableJsonParam(reservations), "::jsonb")}) AS changed
      FROM updated u
    )`;
  }
  const quotaColumn = quotas ? ", (SELECT count(*) FROM quota) AS quota_applied" : "";
  // The upstream's notification of this change: inserted only when the update matched, so a lost
  // compare-and-set writes none. A duplicate event id fails the statement whole.
  const { notification } = transition;
  if (notification !== undefined) {
    sql += `, notified AS (
      INSERT INTO ${t.outbox} (id, instance_id, type, payload, target, next_attempt_at, created_at)
      SELECT ${param(notification.id, "::text")}, u.id, ${param(notification.type, "::text")},
        ${param(jsonParam(notification.payload), "::jsonb")}, ${param(notification.target, "::text")},
        ${param(timeParam(notification.nextAttemptAt), "::timestamptz")},
        ${param(timeParam(notification.createdAt), "::timestamptz")}
      FROM updated u
    )`;
  }
  if (consumed.length > 0) {
    sql += `, consumed AS (
      UPDATE ${t.inbox} SET processed_at = ${param(timeParam(transition.now), "::timestamptz")}, instance_id = u.id
      FROM updated u
      WHERE ${t.inbox}.id = ANY (${param(consumed, "::text[]")}) AND ${t.inbox}.processed_at IS NULL
      RETURNING ${t.inbox}.id
    )`;
    // An entry processed meanwhile (another instance applied it) fails the whole statement.
    sql += ` SELECT ${instanceSelectList("u")}, ${t.inboxConsumed}((SELECT count(*) FROM consumed), ${param(consumed.length, "::int")})${quotaColumn}
      FROM updated u`;
  } else {
    sql += ` SELECT ${instanceSelectList("u")}${quotaColumn} FROM updated u`;
  }
  return { sql, bindings };
}

function reopenWithSpawn(transition: Transition): CapflowError {
  return new CapflowError(
    "INTERNAL",
    `instance ${transition.instanceId} cannot be reopened (quota "reserved") and hand its business to a failover instance in one commit; nothing was written`,
    { context: { instance: transition.instanceId } },
  );
}

/**
 * Whether a transition can share a statement with others' (group commit): one whose only way to
 * change nothing is its own compare-and-set. Consumed inbox entries, quotas, a spawned instance
 * or an outbox notification can fail the statement, which would fail the others with it.
 */
export function groupable(transition: Transition): boolean {
  return (
    (transition.consumedInbox ?? []).length === 0 &&
    transition.quota === undefined &&
    transition.spawn === undefined &&
    transition.notification === undefined
  );
}

/**
 * Several instances' groupable transitions as one set-based statement (one round trip, one
 * transaction, one WAL flush): the batch goes as one JSON array, and one `UPDATE … FROM` applies
 * each element to its instance with that element's own compare-and-set (`id` and `version`), then
 * one `INSERT … SELECT` writes the step logs of the rows it updated. An instance whose version
 * moved is simply not updated and gets no step log; the rows returned are the instances that
 * committed. The instances must be distinct (a statement cannot update one row twice).
 *
 * Its text does not depend on the batch, so on PostgreSQL it is a prepared statement, parsed and
 * planned once per connection (planning it took as long as running a batch of 16), where one pair
 * of CTEs per instance cost more to plan than to run. Each element says which columns it
 * changes: an absent key leaves the column as it is (the same columns, the same waiting rule and
 * the same refusal summaries as `commitStatement`; an element without `log`, a refusal's commit,
 * writes no entry).
 */
export function groupCommitStatement(
  t: QualifiedNames,
  items: readonly { transition: Transition; logId: string }[],
  statementId: string,
): GroupCommitStatement {
  const batch = items.map(({ transition, logId }) => groupedTransition(transition, logId));
  // The ids again, as an array: the planner sees how many rows the batch touches and reaches them
  // through the primary key. From the JSON alone it guesses 100 elements and, on a table of a few
  // thousand rows, scans the whole table for every commit.
  const ids = items.map(({ transition }) => transition.instanceId);
  const text = groupCommitText(t);
  return {
    sql: text.sql,
    bindings: [commitNameSuffix(statementId), JSON.stringify(batch), ids],
    name: text.name,
    text: text.numbered,
  };
}

/**
 * A group commit, to run through knex (`sql` with `?` placeholders) or as a prepared statement
 * (`name`, and `text` with `$1`…`$3`): the text is the same for every batch of a schema.
 */
export interface GroupCommitStatement {
  sql: string;
  bindings: unknown[];
  name: string;
  text: string;
}

interface GroupCommitText {
  sql: string;
  numbered: string;
  name: string;
}

/** The group commit's text per schema, built once: the same for every batch. */
const groupCommitTexts = new WeakMap<QualifiedNames, GroupCommitText>();

function groupCommitText(t: QualifiedNames): GroupCommitText {
  let text = groupCommitTexts.get(t);
  if (text === undefined) {
    const sql = buildGroupCommitText(t);
    let n = 0;
    // The text has no `?` operator of jsonb: every `?` is a placeholder.
    const numbered = sql.replace(/\?/g, () => `$${++n}`);
    // Named by its text: another schema's or another version's group commit is another statement.
    const name = `capflow_group_commit_${createHash("sha256").update(numbered).digest("hex").slice(0, 16)}`;
    text = { sql, numbered, name };
    groupCommitTexts.set(t, text);
  }
  return text;
}

function buildGroupCommitText(t: QualifiedNames): string {
  // Absent key: keep the column. JSON null: SQL NULL (for the nullable columns).
  const time = (key: string) => `(c.v->>'${key}')::timestamptz`;
  const changed = (key: string) => `c.v->'${key}' IS NOT NULL`;
  const nullable = (key: string, column: string) =>
    `CASE WHEN ${changed(key)} THEN NULLIF(c.v->'${key}', 'null'::jsonb) ELSE i.${column} END`;
  const nextRun = `CASE WHEN ${changed("nextRunAt")} THEN ${time("nextRunAt")} ELSE i.next_run_at END`;
  const awaited = `CASE WHEN ${changed("waitingFor")} THEN c.v->>'waitingFor' ELSE i.waiting_for END`;
  const now = time("now");
  // The name first: set before the update touches (or waits for) any row, see
  // commitNameSuffix. A subquery of no row of the update, so it runs once, up front.
  return `${groupCommitPrefix} WITH tag AS MATERIALIZED (
    SELECT set_config('application_name',
      left(current_setting('application_name'), 39) || ?::text, true) AS name
  ), c AS (
    SELECT e.value AS v FROM jsonb_array_elements(?::jsonb) AS e
  ), updated AS (
    UPDATE ${t.instances} i SET
      behavior_version = COALESCE((c.v->>'behaviorVersion')::int, i.behavior_version),
      step = COALESCE(c.v->>'step', i.step),
      status = COALESCE(c.v->>'status', i.status),
      context = COALESCE(c.v->'context', i.context),
      snapshot = COALESCE(c.v->'snapshot', i.snapshot),
      attempt = COALESCE((c.v->>'attempt')::int, i.attempt),
      in_flight = ${nullable("inFlight", "in_flight")},
      last_error = ${nullable("lastError", "last_error")},
      waiting_for = ${awaited},
      refusals = CASE WHEN ${changed("refusals")} THEN c.v->'refusals' ELSE i.refusals END,
      lease_owner = CASE WHEN (c.v->>'keepLease')::boolean THEN i.lease_owner END,
      lease_until = CASE WHEN NOT (c.v->>'keepLease')::boolean THEN NULL
        WHEN ${changed("leaseUntil")} THEN ${time("leaseUntil")} ELSE i.lease_until END,
      next_run_at = CASE WHEN COALESCE(c.v->>'status', i.status) <> 'waiting' THEN ${nextRun}
        WHEN ${t.hasCallbackOfAccount}(i.channel, i.business_key, ${awaited}, i.account, '{}'::text[])
          THEN LEAST(COALESCE(${nextRun}, ${now}), ${now})
        ELSE ${nextRun} END,
      version = i.version + 1,
      updated_at = CASE WHEN (c.v->>'keepUpdatedAt')::boolean THEN i.updated_at ELSE ${now} END
    FROM c
    WHERE (SELECT name FROM tag) IS NOT NULL
      AND i.id = ANY (?::text[]) AND i.id = c.v->>'id'
      AND i.version = (c.v->>'expectedVersion')::int
    RETURNING i.*
  ), refusals_logged AS (${refusalsSummaryInsert(t, "updated")}), logged AS (
    INSERT INTO ${t.stepLogs} (${stepLogColumns})
    SELECT (l.v->>'id')::uuid, u.id, u.version, l.v->>'step', (l.v->>'attempt')::int,
      l.v->>'event', l.v->>'fromStep', l.v->>'toStep', l.v->>'fromStatus', l.v->>'toStatus',
      l.v->>'outcome', NULLIF(l.v->'request', 'null'::jsonb), NULLIF(l.v->'response', 'null'::jsonb),
      NULLIF(l.v->'raw', 'null'::jsonb), NULLIF(l.v->'error', 'null'::jsonb),
      NULLIF(l.v->'actor', 'null'::jsonb), (l.v->>'startedAt')::timestamptz,
      (l.v->>'durationMs')::float8, CASE WHEN l.v->'interface' IS NOT NULL THEN u.channel END,
      l.v->>'interface'
    FROM updated u
      JOIN (SELECT c.v->>'id' AS id, c.v->'log' AS v FROM c WHERE c.v->'log' IS NOT NULL) l
      ON l.id = u.id
  )
  SELECT ${instanceSelectList("u")} FROM updated u`;
}

/** One element of a group commit's batch: the keys present are the columns it changes. */
function groupedTransition(transition: Transition, logId: string): Record<string, unknown> {
  const { changes, log } = transition;
  const iso = (ms: number | null | undefined) =>
    ms === undefined ? undefined : ms === null ? null : new Date(ms).toISOString();
  return {
    id: transition.instanceId,
    expectedVersion: transition.expectedVersion,
    now: iso(transition.now),
    keepLease: transition.keepLease === true,
    leaseUntil: transition.keepLease ? iso(transition.leaseUntil) : undefined,
    keepUpdatedAt: transition.keepUpdatedAt === true,
    behaviorVersion: changes.behaviorVersion,
    step: changes.step,
    status: changes.status,
    // `?? null`: a JSON value that serialises to nothing is stored as JSON null, as by jsonParam.
    context: changes.context === undefined ? undefined : (changes.context ?? null),
    snapshot: changes.snapshot === undefined ? undefined : (changes.snapshot ?? null),
    attempt: changes.attempt,
    inFlight: changes.inFlight === undefined ? undefined : (changes.inFlight ?? null),
    lastError: changes.lastError === undefined ? undefined : (changes.lastError ?? null),
    waitingFor: changes.waitingFor,
    nextRunAt: iso(changes.nextRunAt),
    refusals:
      changes.refusals === undefined
        ? undefined
        : storedRefusals(changes.refusals, transition.expectedVersion + 1),
    // A refusal's commit writes no entry of its own.
    log: log && {
      id: logId,
      step: log.step,
      attempt: log.attempt,
      event: log.event,
      fromStep: log.fromStep,
      toStep: log.toStep,
      fromStatus: log.fromStatus,
      toStatus: log.toStatus,
      outcome: log.outcome,
      request: log.request,
      response: log.response,
      raw: log.raw,
      error: log.error,
      actor: log.actor,
      startedAt: iso(log.startedAt),
      durationMs: log.durationMs,
      interface: log.interface,
    },
  };
}

/**
 * The history a commit writes, as CTEs after the update CTE `updated` (each name ends in
 * `suffix`): the transition's own entry, if it has one (a refusal's commit has none), and, unless
 * the commit is itself a refusal, the summary of the refusals the row held. The row keeps its
 * `refusals` column (see `refusalsParam`): the run is the row's while its stored version is the
 * one the update started from, and is then written at that version, with the id core derives for
 * it (`refusalEntryId`), so it sits before this commit's entry. A row that did not match writes
 * neither.
 */
function historyInserts(
  t: QualifiedNames,
  transition: Transition,
  logId: string,
  updated: string,
  suffix: string,
  param: Param,
): string {
  let sql = "";
  if (transition.changes.refusals === undefined) {
    sql += `, refusals_logged${suffix} AS (${refusalsSummaryInsert(t, updated)})`;
  }
  if (transition.log !== undefined) {
    const entry = stepLogSelect(logId, transition.log, "u", param);
    sql += `, logged${suffix} AS (
      INSERT INTO ${t.stepLogs} (${entry.columns}) SELECT ${entry.select} FROM ${updated} u
    )`;
  }
  return sql;
}

/**
 * Writes the refusals each row of `updated` held as their summary entry, for the rows whose run
 * is the one their update started from (`version` one below the row's): a refusal's own commit
 * stores its run at the new version, so it writes none.
 */
function refusalsSummaryInsert(t: QualifiedNames, updated: string): string {
  return `
    INSERT INTO ${t.stepLogs} (id, instance_id, version, step, attempt, event, outcome, refusals,
      started_at, duration_ms)
    SELECT md5(u.id || '/' || r.version || '/refusals')::uuid, u.id, r.version, r.step, r.attempt,
      'wait', 'notAdmitted:' || r.reason, jsonb_build_object('count', r.count, 'reasons', r.reasons),
      r."firstAt", extract(epoch FROM r."lastAt" - r."firstAt") * 1000
    FROM ${updated} u CROSS JOIN LATERAL jsonb_to_record(u.refusals) AS r(step text, attempt int,
      reason text, count int, reasons jsonb, "firstAt" timestamptz, "lastAt" timestamptz, version int)
    WHERE r.version = u.version - 1
  `;
}

/** The SET list and WHERE clause of a transition's compare-and-set update. */
function instanceUpdate(
  t: QualifiedNames,
  transition: Transition,
  param: Param,
): { sets: string; where: string } {
  const { changes } = transition;
  const consumed = transition.consumedInbox ?? [];
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
  if (changes.refusals !== undefined) {
    const stored = refusalsParam(changes.refusals, transition.expectedVersion + 1);
    sets.push(`refusals = ${param(stored, "::jsonb")}`);
  }
  if (!transition.keepLease) sets.push("lease_owner = NULL, lease_until = NULL");
  else if (transition.leaseUntil !== undefined)
    sets.push(`lease_until = ${param(timeParam(transition.leaseUntil), "::timestamptz")}`);

  // A commit into `waiting` for a callback whose notifications (of the instance's account) sit
  // unprocessed in the inbox makes the instance due now, so a callback that raced the commit is
  // not left until the deadline. The function is volatile: see migration 0001 for why that
  // closes the race.
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
         WHEN ${t.hasCallbackOfAccount}(channel, business_key, ${awaited()}, account, ${param(consumed, "::text[]")})
           THEN LEAST(COALESCE(${nextRunAt()}, ${now()}), ${now()})
         ELSE ${nextRunAt()} END`,
    );
  }
  sets.push(
    transition.keepUpdatedAt
      ? "version = version + 1"
      : `version = version + 1, updated_at = ${param(timeParam(transition.now))}`,
  );

  // Placeholders are bound in the order they are made: make them in the order of the text.
  const where = `id = ${param(transition.instanceId)} AND version = ${param(transition.expectedVersion, "::int")}`;
  return { sets: sets.join(", "), where };
}
