import { randomUUID } from "node:crypto";
import { CapflowError } from "@capflow/core";
import type { CapflowDatabase } from "@capflow/store-knex";
import type { Knex } from "knex";
import type { StatementLine } from "./read-statement.ts";

/** The categories a line or an instance can end in. */
export const differenceKinds = [
  "missing-ours",
  "missing-funder",
  "amount-mismatch",
  "status-mismatch",
  "other-day",
  "ambiguous-line",
  "duplicate-line",
  "malformed-line",
  "totals-mismatch",
] as const;

export type DifferenceKind = (typeof differenceKinds)[number];

/** Lines and instances per category; `matched` lines agree on every point. */
export type RunCounts = Record<DifferenceKind | "matched", number>;

export interface RunRecord {
  id: string;
  channel: string;
  statement: string;
  /** `yyyy-MM-dd` in the statement's time zone. */
  businessDate: string;
  fileDigest: string;
  /** The statement definition's SHA-256 the file was read with (absent for runs before it was kept). */
  definitionDigest?: string;
  /** 0, then 1, 2… for the same file and definition reconciled again on purpose. */
  attempt: number;
  fileName: string;
  fileBytes: number;
  state: "running" | "completed" | "failed";
  /** The fencing token: 1, and one more each time the run, left running, is taken over. */
  generation: number;
  lineCount?: number;
  counts?: RunCounts;
  /** What the file declares and what its lines add up to (fen as text). */
  totals?: {
    declared: { count?: number; amount?: string };
    lines: { count: number; amount: string };
  };
  /** The earlier run of the same date this one was compared with. */
  comparedWith?: string;
  /** Differences new in this file, also in the earlier one, and in the earlier one only. */
  comparison?: { new: number; repeated: number; gone: number };
  error?: { code: string; message: string };
  startedBy?: string;
  startedAt: string;
  finishedAt?: string;
}

export interface DifferenceRecord {
  id: string;
  runId: string;
  kind: DifferenceKind;
  /** Stable across runs of one date: compares a later file with an earlier one. */
  key: string;
  lineNo?: number;
  businessKey?: string;
  partnerReference?: string;
  instanceId?: string;
  /** The funder's side: the line as read (amounts in fen, as text). */
  funder?: Record<string, unknown>;
  /** Our side: the instance (amounts in fen, as text). */
  ours?: Record<string, unknown>;
  /** The earlier run of the date had the same difference. */
  seenBefore: boolean;
  resolved?: { at: string; by: string; reason: string };
}

/**
 * A statement the schedule stopped: trying again cannot help (a refused host key, a definition
 * that does not hold) until an operator looks. Kept until cleared (migration 0041).
 */
export interface StopRecord {
  id: string;
  channel: string;
  statement: string;
  /** The definition it stopped with: a corrected definition (another digest) is tried anew. */
  definitionDigest: string;
  /** The date whose check stopped it. */
  businessDate: string;
  error: { code: string; message: string };
  stoppedAt: string;
  cleared?: { at: string; by: string; reason: string };
}

/**
 * What a run's writes carry: its id and the generation that writes. A write of a generation that
 * was taken over is refused (`RECONCILE_TAKEN_OVER`).
 */
export type RunFence = Pick<RunRecord, "id" | "generation">;

/** How the statement reads our instances (from the statement's `ours`). */
export interface OurSide {
  channel: string;
  behaviors: string[];
  /** JSON path into the instance: `input.amount`. */
  amountPath: string;
  amountUnit: "yuan" | "fen";
  partnerReferencePath?: string;
  dateColumn: "created_at" | "updated_at";
  expectStatuses: string[];
  /** The business date as an instant range. */
  from: Date;
  to: Date;
  /**
   * The instants a line's timestamp, and the instance a line matches, may fall in and still be
   * the business date's: the day widened by the statement's `dayMargin`. Default `from`-`to`.
   */
  sameDay?: { from: Date; to: Date };
}

const emptyCounts = (): RunCounts => ({
  matched: 0,
  "missing-ours": 0,
  "missing-funder": 0,
  "amount-mismatch": 0,
  "status-mismatch": 0,
  "other-day": 0,
  "ambiguous-line": 0,
  "duplicate-line": 0,
  "malformed-line": 0,
  "totals-mismatch": 0,
});

/**
 * Reconciliation's tables on knex (migration 0013 of `@capflow/store-knex`), PostgreSQL or PGlite.
 * Lines are staged in batches and matched in SQL, so memory does not grow with the file.
 */
export class ReconcileStore {
  readonly #knex: Knex;
  readonly #t: {
    runs: string;
    lines: string;
    differences: string;
    instances: string;
    stops: string;
  };

  constructor(db: Pick<CapflowDatabase, "knex" | "schema">) {
    this.#knex = db.knex;
    const q = (name: string) => `"${db.schema.replaceAll('"', '""')}"."${name}"`;
    this.#t = {
      runs: q("reconcile_runs"),
      lines: q("reconcile_lines"),
      differences: q("reconcile_differences"),
      instances: q("instances"),
      stops: q("reconcile_stops"),
    };
  }

  /**
   * Starts a run for a file, or finds the one already made for the same file, definition and date
   * (`existing`; with `again`, a new attempt after it). A run of the same file still going on elsewhere is `RECONCILE_BUSY`; a failed
   * one, or one left running for longer than `staleAfterMs`, is taken over.
   */
  async beginRun(input: {
    channel: string;
    statement: string;
    businessDate: string;
    fileDigest: string;
    /** The statement definition's digest (`statementDigest`): part of the run's identity. */
    definitionDigest: string;
    /** Reconcile anew even when this file was reconciled with this definition (a new attempt). */
    again?: boolean;
    fileName: string;
    fileBytes: number;
    startedBy?: string;
    now: Date;
    staleAfterMs: number;
  }): Promise<{ run: RunRecord; existing: boolean }> {
    const identity = [
      input.channel,
      input.statement,
      input.businessDate,
      input.fileDigest,
      input.definitionDigest,
    ];
    const latest = async () => {
      const found = await this.#knex.raw(
        `SELECT ${runColumns} FROM ${this.#t.runs}
         WHERE channel = ? AND statement = ? AND business_date = ? AND file_digest = ?
           AND definition_digest = ?
         ORDER BY attempt DESC LIMIT 1`,
        identity,
      );
      return found.rows[0] === undefined ? undefined : toRun(found.rows[0]);
    };
    // Again on purpose: a new attempt after the latest completed one. One still running or
    // failed is taken over below as any run would be.
    const last = input.again === true ? await latest() : undefined;
    const attempt = last?.state === "completed" ? last.attempt + 1 : 0;
    const inserted = await this.#knex.raw(
      `INSERT INTO ${this.#t.runs} (id, channel, statement, business_date, file_digest,
         definition_digest, attempt, file_name, file_bytes, state, started_by, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)
       ON CONFLICT ON CONSTRAINT reconcile_runs_file DO NOTHING
       RETURNING ${runColumns}`,
      [
        randomUUID(),
        ...identity,
        attempt,
        input.fileName,
        input.fileBytes,
        input.startedBy ?? null,
        input.now,
      ],
    );
    if (inserted.rows.length === 1) return { run: toRun(inserted.rows[0]), existing: false };
    const run = (await latest())!;
    if (run.state === "completed") return { run, existing: true };
    const staleBefore = new Date(input.now.getTime() - input.staleAfterMs);
    // A new generation: a process still writing under the old one is refused from now on.
    const taken = await this.#knex.raw(
      `UPDATE ${this.#t.runs}
       SET state = 'running', started_at = ?, started_by = ?, error = NULL, finished_at = NULL,
           file_name = ?, generation = generation + 1
       WHERE id = ? AND (state = 'failed' OR (state = 'running' AND started_at < ?))
       RETURNING ${runColumns}`,
      [input.now, input.startedBy ?? null, input.fileName, run.id, staleBefore],
    );
    if (taken.rows.length === 0) {
      throw new CapflowError(
        "RECONCILE_BUSY",
        `${input.channel}/${input.statement} for ${input.businessDate} is being reconciled from this file since ${run.startedAt}; wait for that run (capflow reconcile show)`,
        { context: { channel: input.channel, run: run.id } },
      );
    }
    await this.#clear(run.id);
    return { run: toRun(taken.rows[0]), existing: false };
  }

  async #clear(runId: string, db: Knex | Knex.Transaction = this.#knex): Promise<void> {
    await db.raw(`DELETE FROM ${this.#t.lines} WHERE run_id = ?`, [runId]);
    await db.raw(`DELETE FROM ${this.#t.differences} WHERE run_id = ?`, [runId]);
  }

  /**
   * Checks, inside a write's transaction, that `run` is still the current generation and running,
   * and holds the run's row (FOR SHARE) until the write commits: a takeover waits for the write
   * and then clears it, or comes first and the write is refused.
   */
  async #fence(tx: Knex.Transaction, run: RunFence): Promise<void> {
    const found = await tx.raw(
      `SELECT generation, state FROM ${this.#t.runs} WHERE id = ? FOR SHARE`,
      [run.id],
    );
    const row = found.rows[0] as { generation: number; state: string } | undefined;
    const same = row !== undefined && Number(row.generation) === run.generation;
    if (same && row.state === "running") return;
    const current = row === undefined ? "gone" : `generation ${row.generation}, ${row.state}`;
    throw new CapflowError(
      "RECONCILE_TAKEN_OVER",
      same
        ? `reconciliation run ${run.id} is ${row.state} already; nothing more is written to it`
        : `reconciliation run ${run.id} (generation ${run.generation}) was taken over (now ${current}) after it was left running past its stale time; this process stops, the other one finishes the run (capflow reconcile show ${run.id})`,
      { context: { run: run.id, generation: run.generation } },
    );
  }

  /** Runs `write` in a transaction, after {@link #fence}. */
  #fenced<T>(run: RunFence, write: (tx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.#knex.transaction(async (tx) => {
      await this.#fence(tx, run);
      return write(tx);
    });
  }

  /** Stages a batch of lines (one statement, however many lines). */
  async addLines(run: RunFence, lines: readonly StatementLine[]): Promise<void> {
    if (lines.length === 0) return;
    const runId = run.id;
    const rows = lines.map((line) => ({
      l: line.lineNo,
      k: line.businessKey ?? null,
      r: line.partnerReference ?? null,
      b: line.behavior ?? null,
      a: line.amountMinor === undefined ? null : line.amountMinor.toString(),
      s: line.status ?? null,
      w: line.rawStatus ?? null,
      o: line.occurredAt ?? null,
      p: line.problem ?? null,
    }));
    await this.#fenced(run, (tx) =>
      tx.raw(
        `INSERT INTO ${this.#t.lines} (run_id, line_no, business_key, partner_ref, behavior,
           amount_minor, status, raw_status, occurred_at, problem)
         SELECT ?, l, k, r, b, a, s, w, o, p
         FROM json_to_recordset(?::json) AS x(l bigint, k text, r text, b text, a numeric, s text,
           w text, o timestamptz, p text)`,
        [runId, JSON.stringify(rows)],
      ),
    );
  }

  /**
   * Matches the staged lines against our instances (by business key, then partner reference) and
   * records every difference; returns the counts per category.
   */
  async match(run: RunFence, ours: OurSide): Promise<RunCounts> {
    const runId = run.id;
    const { lines, differences, instances } = this.#t;
    const k = this.#knex;
    const amount = ourAmountSql(ours.amountPath, ours.amountUnit);
    const reference =
      ours.partnerReferencePath === undefined
        ? "NULL::text"
        : jsonPathSql(ours.partnerReferencePath);
    const behaviorMatch =
      "i.behavior = COALESCE(l.behavior, i.behavior) AND i.behavior = ANY(?::text[])";
    const behaviors = `{${ours.behaviors.map((b) => `"${b.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
    // Fresh rows have no statistics yet: without them the planner takes the staged lines for a
    // handful and joins them by nested loops, quadratic on a big file.
    await k.raw(`ANALYZE ${lines}`);
    await k.transaction(async (tx) => {
      await this.#fence(tx, run);
      // Repeated lines: the same key (or reference) again for one behavior.
      await tx.raw(
        `UPDATE ${lines} l SET duplicate_of = d.first
         FROM (SELECT line_no, min(line_no) OVER (
                 PARTITION BY behavior, COALESCE(business_key, partner_ref)) AS first
               FROM ${lines} WHERE run_id = ? AND problem IS NULL) d
         WHERE l.run_id = ? AND l.line_no = d.line_no AND d.first <> d.line_no`,
        [runId, runId],
      );
      const funder = `jsonb_strip_nulls(jsonb_build_object('lineNo', l.line_no,
        'businessKey', l.business_key, 'partnerReference', l.partner_ref, 'behavior', l.behavior,
        'amount', l.amount_minor::text, 'status', l.raw_status, 'mappedStatus', l.status,
        'occurredAt', l.occurred_at, 'problem', l.problem))`;
      const oursJson = `jsonb_strip_nulls(jsonb_build_object('instanceId', i.id,
        'behavior', i.behavior, 'businessKey', i.business_key, 'partnerReference', ${reference},
        'amount', (${amount})::text, 'status', i.status, 'step', i.step,
        'createdAt', i.created_at, 'updatedAt', i.updated_at))`;
      const lineKey =
        "COALESCE(l.behavior, '') || ':' || COALESCE(l.business_key, l.partner_ref, l.line_no::text)";
      const ambiguous = `EXISTS (SELECT 1 FROM ${differences} a
        WHERE a.run_id = l.run_id AND a.kind = 'ambiguous-line' AND a.line_no = l.line_no)`;
      // A line matches the one instance its key (then its reference) names. A key or reference
      // two or more of our instances share (a reference on a loan and its repayments, a key on
      // two behaviors of a statement without a kind column) matches none of them: picking one
      // would be a guess. The line is an ambiguous-line difference listing every candidate.
      const matchBy = async (on: string, eligible: string) => {
        const candidates = `FROM ${lines} l JOIN ${instances} i
            ON i.channel = ? AND ${on} AND ${behaviorMatch}
          WHERE l.run_id = ? AND l.problem IS NULL AND l.duplicate_of IS NULL
            AND l.instance_id IS NULL AND ${eligible} AND NOT ${ambiguous}
          GROUP BY l.run_id, l.line_no`;
        await tx.raw(
          `UPDATE ${lines} l SET instance_id = c.id
           FROM (SELECT l.line_no, min(i.id) AS id ${candidates} HAVING count(*) = 1) c
           WHERE l.run_id = ? AND l.line_no = c.line_no`,
          [ours.channel, behaviors, runId, runId],
        );
        await tx.raw(
          `INSERT INTO ${differences} (run_id, kind, difference_key, line_no, business_key,
             partner_ref, funder, ours)
           SELECT l.run_id, 'ambiguous-line', 'ambiguous-line:' || ${lineKey}, l.line_no,
             l.business_key, l.partner_ref, ${funder}, jsonb_build_object('candidates', c.ours)
           FROM ${lines} l
           JOIN (SELECT l.line_no, jsonb_agg(${oursJson} ORDER BY i.id) AS ours ${candidates}
                 HAVING count(*) > 1) c ON c.line_no = l.line_no
           WHERE l.run_id = ?
           ORDER BY l.line_no`,
          [ours.channel, behaviors, runId, runId],
        );
      };
      await matchBy("i.business_key = l.business_key", "l.business_key IS NOT NULL");
      if (ours.partnerReferencePath !== undefined) {
        await matchBy(`${reference} = l.partner_ref`, "l.partner_ref IS NOT NULL");
      }
      // One instance reported by two lines (one by key, one by reference): the later is repeated.
      await tx.raw(
        `UPDATE ${lines} l SET duplicate_of = d.first, instance_id = NULL
         FROM (SELECT line_no, min(line_no) OVER (PARTITION BY instance_id) AS first
               FROM ${lines} WHERE run_id = ? AND instance_id IS NOT NULL) d
         WHERE l.run_id = ? AND l.line_no = d.line_no AND d.first <> d.line_no`,
        [runId, runId],
      );
      // The updates changed what the planner knows about the lines (matched or not).
      await tx.raw(`ANALYZE ${lines}`);
      const insertFromLines = (kind: DifferenceKind, join: string, where: string, key: string) =>
        tx.raw(
          `INSERT INTO ${differences} (run_id, kind, difference_key, line_no, business_key,
             partner_ref, instance_id, funder, ours)
           SELECT l.run_id, ?, ? || ':' || ${key}, l.line_no, l.business_key, l.partner_ref,
             ${join === "" ? "NULL" : "i.id"}, ${funder}, ${join === "" ? "NULL" : oursJson}
           FROM ${lines} l ${join}
           WHERE l.run_id = ? AND ${where}
           ORDER BY l.line_no`,
          [kind, kind, runId],
        );
      const joined = `JOIN ${instances} i ON i.id = l.instance_id`;
      // A matched line dated another day belongs to that day's statement: the same transaction
      // listed on two days' files would match twice. A line without a date is dated by the
      // instance it names (`ours.date`); one with a date is not, so an instance settled by hand
      // after the funder's day (then the file run `--again`) still matches its line.
      const day = ours.sameDay ?? { from: ours.from, to: ours.to };
      const outside = (at: string) =>
        `(${at} < '${day.from.toISOString()}'::timestamptz OR ${at} >= '${day.to.toISOString()}'::timestamptz)`;
      const otherDay = `(CASE WHEN l.occurred_at IS NOT NULL THEN ${outside("l.occurred_at")}
        ELSE ${outside(`i.${ours.dateColumn}`)} END)`;
      await insertFromLines("malformed-line", "", "l.problem IS NOT NULL", "l.line_no::text");
      await insertFromLines("duplicate-line", "", "l.duplicate_of IS NOT NULL", "l.line_no::text");
      await insertFromLines(
        "missing-ours",
        "",
        `l.problem IS NULL AND l.duplicate_of IS NULL AND l.instance_id IS NULL AND NOT ${ambiguous}`,
        lineKey,
      );
      await insertFromLines("other-day", joined, otherDay, "i.id");
      await insertFromLines(
        "amount-mismatch",
        joined,
        `NOT ${otherDay} AND (${amount}) IS DISTINCT FROM l.amount_minor`,
        "i.id",
      );
      // Every line carries a status: its own, or the one a statement without a status column
      // stands for. An instance we hold as failed that the funder lists is what this is for.
      await insertFromLines(
        "status-mismatch",
        joined,
        `NOT ${otherDay} AND l.status IS DISTINCT FROM i.status`,
        "i.id",
      );
      await tx.raw(
        `INSERT INTO ${differences} (run_id, kind, difference_key, business_key, instance_id, ours)
         SELECT ?, 'missing-funder', 'missing-funder:' || i.id, i.business_key, i.id, ${oursJson}
         FROM ${instances} i
         WHERE i.channel = ? AND i.behavior = ANY(?::text[]) AND i.status = ANY(?::text[])
           AND i.${ours.dateColumn} >= ? AND i.${ours.dateColumn} < ?
           AND NOT EXISTS (SELECT 1 FROM ${lines} l WHERE l.run_id = ? AND l.instance_id = i.id)
           -- A candidate of an ambiguous line is listed there: the funder may have reported it.
           AND NOT EXISTS (SELECT 1 FROM ${differences} a
             WHERE a.run_id = ? AND a.kind = 'ambiguous-line'
               AND a.ours -> 'candidates' @> jsonb_build_array(jsonb_build_object('instanceId', i.id)))
         ORDER BY i.${ours.dateColumn}, i.id`,
        [
          runId,
          ours.channel,
          behaviors,
          `{${ours.expectStatuses.join(",")}}`,
          ours.from,
          ours.to,
          runId,
          runId,
        ],
      );
    });
    const counts = emptyCounts();
    const byKind = await k.raw(
      `SELECT kind, count(*)::int AS n FROM ${differences} WHERE run_id = ? GROUP BY kind`,
      [runId],
    );
    for (const row of byKind.rows as { kind: DifferenceKind; n: number }[])
      counts[row.kind] = row.n;
    const matched = await k.raw(
      `SELECT count(*)::int AS n FROM ${lines} l
       WHERE l.run_id = ? AND l.instance_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM ${differences} d
                         WHERE d.run_id = l.run_id AND d.line_no = l.line_no)`,
      [runId],
    );
    counts.matched = matched.rows[0].n;
    return counts;
  }

  /** Records a file-level difference: the totals the file declares against its lines. */
  async addTotalsDifference(
    run: RunFence,
    declared: Record<string, unknown>,
    counted: Record<string, unknown>,
  ): Promise<void> {
    await this.#fenced(run, (tx) =>
      tx.raw(
        `INSERT INTO ${this.#t.differences} (run_id, kind, difference_key, funder, ours)
         VALUES (?, 'totals-mismatch', 'totals-mismatch:file', ?::jsonb, ?::jsonb)`,
        [run.id, JSON.stringify({ declared }), JSON.stringify({ lines: counted })],
      ),
    );
  }

  /** The latest completed run of the date other than `runId`. */
  async previousRun(run: RunRecord): Promise<RunRecord | undefined> {
    const found = await this.#knex.raw(
      `SELECT ${runColumns} FROM ${this.#t.runs}
       WHERE channel = ? AND statement = ? AND business_date = ? AND state = 'completed' AND id <> ?
       ORDER BY finished_at DESC LIMIT 1`,
      [run.channel, run.statement, run.businessDate, run.id],
    );
    return found.rows[0] === undefined ? undefined : toRun(found.rows[0]);
  }

  /** Marks differences the earlier run also had, and counts new, repeated and gone ones. */
  async compare(
    run: RunFence,
    previousId: string,
  ): Promise<{ new: number; repeated: number; gone: number }> {
    const runId = run.id;
    const d = this.#t.differences;
    await this.#fenced(run, (tx) =>
      tx.raw(
        `UPDATE ${d} n SET seen_before = true
         WHERE n.run_id = ? AND EXISTS (SELECT 1 FROM ${d} p
           WHERE p.run_id = ? AND p.difference_key = n.difference_key)`,
        [runId, previousId],
      ),
    );
    const counted = await this.#knex.raw(
      `SELECT
         (SELECT count(*)::int FROM ${d} WHERE run_id = ? AND NOT seen_before) AS new,
         (SELECT count(*)::int FROM ${d} WHERE run_id = ? AND seen_before) AS repeated,
         (SELECT count(*)::int FROM ${d} p WHERE p.run_id = ? AND NOT EXISTS (
            SELECT 1 FROM ${d} n WHERE n.run_id = ? AND n.difference_key = p.difference_key)) AS gone`,
      [runId, runId, previousId, runId],
    );
    const row = counted.rows[0] as { new: number; repeated: number; gone: number };
    return { new: row.new, repeated: row.repeated, gone: row.gone };
  }

  async completeRun(
    run: RunFence,
    result: {
      lineCount: number;
      counts: RunCounts;
      totals: NonNullable<RunRecord["totals"]>;
      comparedWith?: string;
      comparison?: RunRecord["comparison"];
      now: Date;
    },
  ): Promise<RunRecord> {
    return this.#fenced(run, async (tx) => {
      await tx.raw(`DELETE FROM ${this.#t.lines} WHERE run_id = ?`, [run.id]);
      const updated = await tx.raw(
        `UPDATE ${this.#t.runs}
         SET state = 'completed', line_count = ?, counts = ?::jsonb, totals = ?::jsonb,
             compared_with = ?, comparison = ?::jsonb, finished_at = ?
         WHERE id = ? AND generation = ? RETURNING ${runColumns}`,
        [
          result.lineCount,
          JSON.stringify(result.counts),
          JSON.stringify(result.totals),
          result.comparedWith ?? null,
          result.comparison === undefined ? null : JSON.stringify(result.comparison),
          result.now,
          run.id,
          run.generation,
        ],
      );
      return toRun(updated.rows[0]);
    });
  }

  /** Fails the run's generation, clearing what it wrote; one taken over fails nothing. */
  async failRun(run: RunFence, error: { code: string; message: string }, now: Date): Promise<void> {
    await this.#fenced(run, async (tx) => {
      await this.#clear(run.id, tx);
      await tx.raw(
        `UPDATE ${this.#t.runs} SET state = 'failed', error = ?::jsonb, finished_at = ?
         WHERE id = ? AND generation = ?`,
        [JSON.stringify(error), now, run.id, run.generation],
      );
    });
  }

  async getRun(id: string): Promise<RunRecord> {
    const found = await this.#knex.raw(`SELECT ${runColumns} FROM ${this.#t.runs} WHERE id = ?`, [
      id,
    ]);
    if (found.rows[0] === undefined) {
      throw new CapflowError(
        "RECONCILE_NOT_FOUND",
        `no reconciliation run ${id}; list them with capflow reconcile show`,
      );
    }
    return toRun(found.rows[0]);
  }

  /** Runs, newest first, optionally of one channel, statement or date. */
  async listRuns(
    filter: { channel?: string; statement?: string; businessDate?: string; limit?: number } = {},
  ): Promise<RunRecord[]> {
    const where: string[] = [];
    const values: string[] = [];
    if (filter.channel !== undefined) {
      where.push("channel = ?");
      values.push(filter.channel);
    }
    if (filter.statement !== undefined) {
      where.push("statement = ?");
      values.push(filter.statement);
    }
    if (filter.businessDate !== undefined) {
      where.push("business_date = ?");
      values.push(filter.businessDate);
    }
    const found = await this.#knex.raw(
      `SELECT ${runColumns} FROM ${this.#t.runs} ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY started_at DESC, id LIMIT ?`,
      [...values, filter.limit ?? 50] as (string | number)[],
    );
    return (found.rows as Record<string, unknown>[]).map(toRun);
  }

  /** A run's differences in order, optionally of one kind or only the unresolved ones. */
  async listDifferences(
    runId: string,
    filter: { kind?: DifferenceKind; unresolved?: boolean; limit?: number; afterId?: string } = {},
  ): Promise<DifferenceRecord[]> {
    const where = ["run_id = ?"];
    const values: string[] = [runId];
    if (filter.kind !== undefined) {
      where.push("kind = ?");
      values.push(filter.kind);
    }
    if (filter.unresolved === true) where.push("resolved_at IS NULL");
    if (filter.afterId !== undefined) {
      where.push("id > ?");
      values.push(filter.afterId);
    }
    const found = await this.#knex.raw(
      `SELECT * FROM ${this.#t.differences} WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`,
      [...values, filter.limit ?? 1000] as (string | number)[],
    );
    return (found.rows as Record<string, unknown>[]).map(toDifference);
  }

  /**
   * The latest completed run of each statement and date that still has unresolved differences,
   * with how many are open per kind (what reconciliation alerts are about). A later run of the
   * date without differences, or every difference resolved, takes a date off this list.
   */
  async openRuns(): Promise<{ run: RunRecord; open: Partial<Record<DifferenceKind, number>> }[]> {
    const found = await this.#knex.raw(
      `WITH latest AS (
         SELECT DISTINCT ON (channel, statement, business_date) *
         FROM ${this.#t.runs} WHERE state = 'completed'
         ORDER BY channel, statement, business_date, finished_at DESC, id
       )
       SELECT l.*, l.business_date::text AS business_day, o.open FROM latest l
       JOIN LATERAL (
         SELECT jsonb_object_agg(kind, n) AS open FROM (
           SELECT kind, count(*)::int AS n FROM ${this.#t.differences}
           WHERE run_id = l.id AND resolved_at IS NULL GROUP BY kind
         ) k
       ) o ON o.open IS NOT NULL
       ORDER BY l.business_date, l.channel, l.statement`,
    );
    return (found.rows as Record<string, unknown>[]).map((row) => ({
      run: toRun(row),
      open: row.open as Partial<Record<DifferenceKind, number>>,
    }));
  }

  /**
   * Marks a difference resolved by an operator with a reason, once: resolving a resolved one is
   * refused (`STORE_CONFLICT`) rather than overwriting who resolved it and why.
   */
  async resolveDifference(input: {
    id: string;
    operator: string;
    reason: string;
    now: Date;
  }): Promise<DifferenceRecord> {
    if (input.operator.trim() === "" || input.reason.trim() === "") {
      throw new CapflowError(
        "CONFIG_INVALID",
        "resolving a difference needs an operator and a reason",
      );
    }
    if (!/^\d+$/.test(input.id)) {
      throw new CapflowError(
        "RECONCILE_NOT_FOUND",
        `no difference ${input.id}; differences have numeric ids (capflow reconcile show RUN)`,
      );
    }
    const updated = await this.#knex.raw(
      `UPDATE ${this.#t.differences} SET resolved_at = ?, resolved_by = ?, resolution = ?
       WHERE id = ? AND resolved_at IS NULL RETURNING *`,
      [input.now, input.operator, input.reason, input.id],
    );
    if (updated.rows[0] !== undefined) return toDifference(updated.rows[0]);
    const found = await this.#knex.raw(`SELECT * FROM ${this.#t.differences} WHERE id = ?`, [
      input.id,
    ]);
    if (found.rows[0] === undefined) {
      throw new CapflowError(
        "RECONCILE_NOT_FOUND",
        `no difference ${input.id}; list a run's differences with capflow reconcile show RUN`,
      );
    }
    const existing = toDifference(found.rows[0]);
    throw new CapflowError(
      "STORE_CONFLICT",
      `difference ${input.id} was already resolved by ${existing.resolved?.by} at ${existing.resolved?.at}: ${existing.resolved?.reason}`,
    );
  }

  /**
   * Records that the schedule stopped a statement (for its definition digest). `recorded` is false
   * when it was stopped already (by this node before a restart, or another node): only the first
   * stop alerts.
   */
  async stopStatement(input: {
    channel: string;
    statement: string;
    definitionDigest: string;
    businessDate: string;
    error: { code: string; message: string };
    now: Date;
  }): Promise<{ stop: StopRecord; recorded: boolean }> {
    const inserted = await this.#knex.raw(
      `INSERT INTO ${this.#t.stops} (channel, statement, definition_digest, business_date, error,
         stopped_at)
       VALUES (?, ?, ?, ?, ?::jsonb, ?)
       ON CONFLICT (channel, statement, definition_digest) WHERE cleared_at IS NULL DO NOTHING
       RETURNING ${stopColumns}`,
      [
        input.channel,
        input.statement,
        input.definitionDigest,
        input.businessDate,
        JSON.stringify(input.error),
        input.now,
      ],
    );
    if (inserted.rows[0] !== undefined) return { stop: toStop(inserted.rows[0]), recorded: true };
    const open = await this.openStop(input);
    return { stop: open!, recorded: false };
  }

  /** The statement's open stop for this definition digest, if any. */
  async openStop(input: {
    channel: string;
    statement: string;
    definitionDigest: string;
  }): Promise<StopRecord | undefined> {
    const found = await this.#knex.raw(
      `SELECT ${stopColumns} FROM ${this.#t.stops}
       WHERE channel = ? AND statement = ? AND definition_digest = ? AND cleared_at IS NULL`,
      [input.channel, input.statement, input.definitionDigest],
    );
    return found.rows[0] === undefined ? undefined : toStop(found.rows[0]);
  }

  /** Stops, newest first: the open ones only unless `all`. */
  async listStops(
    filter: { channel?: string; statement?: string; all?: boolean; limit?: number } = {},
  ): Promise<StopRecord[]> {
    const where: string[] = [];
    const values: (string | number)[] = [];
    if (filter.all !== true) where.push("cleared_at IS NULL");
    if (filter.channel !== undefined) {
      where.push("channel = ?");
      values.push(filter.channel);
    }
    if (filter.statement !== undefined) {
      where.push("statement = ?");
      values.push(filter.statement);
    }
    const found = await this.#knex.raw(
      `SELECT ${stopColumns} FROM ${this.#t.stops}
       ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY stopped_at DESC, id DESC LIMIT ?`,
      [...values, filter.limit ?? 100],
    );
    return (found.rows as Record<string, unknown>[]).map(toStop);
  }

  /**
   * Clears a statement's open stops (after checking the server with the funder, say), with who
   * and why: the schedule tries the statement again at its next check. Nothing open to clear is
   * `RECONCILE_NOT_FOUND`.
   */
  async clearStop(input: {
    channel: string;
    statement: string;
    operator: string;
    reason: string;
    now: Date;
  }): Promise<StopRecord[]> {
    if (input.operator.trim() === "" || input.reason.trim() === "") {
      throw new CapflowError("CONFIG_INVALID", "clearing a stop needs an operator and a reason");
    }
    const cleared = await this.#knex.raw(
      `UPDATE ${this.#t.stops} SET cleared_at = ?, cleared_by = ?, clear_reason = ?
       WHERE channel = ? AND statement = ? AND cleared_at IS NULL
       RETURNING ${stopColumns}`,
      [input.now, input.operator, input.reason, input.channel, input.statement],
    );
    if (cleared.rows.length === 0) {
      throw new CapflowError(
        "RECONCILE_NOT_FOUND",
        `${input.channel}/${input.statement} is not stopped; capflow reconcile stops lists the stopped statements`,
        { context: { channel: input.channel, statement: input.statement } },
      );
    }
    return (cleared.rows as Record<string, unknown>[]).map(toStop);
  }

  /**
   * Clears the statement's stops of other definitions once this one reconciled a date: the
   * correction that lifted them worked.
   */
  async clearSupersededStops(input: {
    channel: string;
    statement: string;
    definitionDigest: string;
    businessDate: string;
    now: Date;
  }): Promise<void> {
    await this.#knex.raw(
      `UPDATE ${this.#t.stops} SET cleared_at = ?, cleared_by = 'schedule', clear_reason = ?
       WHERE channel = ? AND statement = ? AND definition_digest <> ? AND cleared_at IS NULL`,
      [
        input.now,
        `a corrected definition reconciled ${input.businessDate}`,
        input.channel,
        input.statement,
        input.definitionDigest,
      ],
    );
  }
}

/** `input.amount` -> `(i.input #>> '{amount}')`. Paths are checked by the statement schema. */
function jsonPathSql(path: string): string {
  const [root, ...rest] = path.split(".");
  if ((root !== "input" && root !== "context") || rest.some((p) => !/^[A-Za-z0-9_]+$/.test(p))) {
    throw new CapflowError(
      "STATEMENT_INVALID",
      `${path} is not a path into an instance's input or context`,
    );
  }
  return `(i.${root} #>> '{${rest.join(",")}}')`;
}

/** Our amount in fen as numeric, or NULL when the instance's value is not a decimal number. */
function ourAmountSql(path: string, unit: "yuan" | "fen"): string {
  const value = jsonPathSql(path);
  const factor = unit === "yuan" ? " * 100" : "";
  // No question marks: knex reads them as placeholders.
  return `(CASE WHEN ${value} ~ '^-{0,1}[0-9]+([.][0-9]+){0,1}$' THEN trim_scale(${value}::numeric${factor}) END)`;
}

/**
 * A run's columns with its business date as text: drivers turn a date into a `Date` at midnight,
 * node-postgres local and PGlite UTC, so no one set of getters reads both in every time zone.
 */
const runColumns = "*, business_date::text AS business_day";

function iso(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  return value instanceof Date ? value.toISOString() : String(value);
}

function toRun(row: Record<string, unknown>): RunRecord {
  const run: RunRecord = {
    id: String(row.id),
    channel: String(row.channel),
    statement: String(row.statement),
    businessDate: String(row.business_day),
    fileDigest: String(row.file_digest),
    attempt: Number(row.attempt ?? 0),
    fileName: String(row.file_name),
    fileBytes: Number(row.file_bytes),
    state: row.state as RunRecord["state"],
    generation: Number(row.generation ?? 1),
    startedAt: iso(row.started_at)!,
  };
  if (typeof row.definition_digest === "string" && row.definition_digest !== "")
    run.definitionDigest = row.definition_digest;
  if (row.line_count !== null && row.line_count !== undefined)
    run.lineCount = Number(row.line_count);
  if (row.counts) run.counts = row.counts as RunCounts;
  if (row.totals) run.totals = row.totals as NonNullable<RunRecord["totals"]>;
  if (row.compared_with) run.comparedWith = String(row.compared_with);
  if (row.comparison) run.comparison = row.comparison as NonNullable<RunRecord["comparison"]>;
  if (row.error) run.error = row.error as NonNullable<RunRecord["error"]>;
  if (row.started_by) run.startedBy = String(row.started_by);
  const finished = iso(row.finished_at);
  if (finished !== undefined) run.finishedAt = finished;
  return run;
}

function toDifference(row: Record<string, unknown>): DifferenceRecord {
  const difference: DifferenceRecord = {
    id: String(row.id),
    runId: String(row.run_id),
    kind: row.kind as DifferenceKind,
    key: String(row.difference_key),
    seenBefore: row.seen_before === true,
  };
  if (row.line_no !== null && row.line_no !== undefined) difference.lineNo = Number(row.line_no);
  if (row.business_key) difference.businessKey = String(row.business_key);
  if (row.partner_ref) difference.partnerReference = String(row.partner_ref);
  if (row.instance_id) difference.instanceId = String(row.instance_id);
  if (row.funder) difference.funder = row.funder as Record<string, unknown>;
  if (row.ours) difference.ours = row.ours as Record<string, unknown>;
  if (row.resolved_at) {
    difference.resolved = {
      at: iso(row.resolved_at)!,
      by: String(row.resolved_by),
      reason: String(row.resolution),
    };
  }
  return difference;
}

const stopColumns = "*, business_date::text AS business_day";

function toStop(row: Record<string, unknown>): StopRecord {
  const stop: StopRecord = {
    id: String(row.id),
    channel: String(row.channel),
    statement: String(row.statement),
    definitionDigest: String(row.definition_digest),
    businessDate: String(row.business_day),
    error: row.error as StopRecord["error"],
    stoppedAt: iso(row.stopped_at)!,
  };
  if (row.cleared_at) {
    stop.cleared = {
      at: iso(row.cleared_at)!,
      by: String(row.cleared_by),
      reason: String(row.clear_reason),
    };
  }
  return stop;
}
