import { randomUUID } from "node:crypto";
import type { InstanceRecord, RefusalRun, Transition } from "@capflow/core";
import type { MeasuredBench } from "../../../bench/run.ts";
import { type CapflowDatabase, openPostgresStore } from "../src/index.ts";

/**
 * What a flow-control refusal writes to PostgreSQL. Runs of refusals (an instance refused
 * `refusalsPerRun` times in a row, then moved on by one ordinary commit) are committed two ways,
 * side by side in alternating rounds, each on its own instances:
 *
 * - **one entry per refusal** (the reference): each refusal is a compare-and-set reschedule with a
 *   `wait` history entry of its own, as capflow wrote them before refusals were counted;
 * - **counted on the instance**: each refusal is the same reschedule carrying the run
 *   (`changes.refusals`) and no entry; the closing commit writes the run as one entry.
 *
 * Bytes are the WAL records that touch this bench's tables (read back with `pg_walinspect`, so
 * other sessions' writes to the shared server do not count), without full-page images (those
 * depend on when the last checkpoint ran, not on what was written), and the growth of `step_logs`
 * with its indexes. `pnpm bench refusals`; needs DATABASE_URL and a server that has the
 * pg_walinspect extension (PostgreSQL 15 and later ship it).
 */
const instancesPerMode = 100;
const refusalsPerRun = 10;
const rounds = 3;
const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

type Mode = "one entry per refusal" | "counted on the instance";
const modes: Mode[] = ["one entry per refusal", "counted on the instance"];

interface Written {
  walBytes: number;
  walRecords: number;
  stepLogBytes: number;
  stepLogRows: number;
}

export async function measure(): Promise<MeasuredBench> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    return { rows: [], results: [], lines: ["refusals: skipped; set DATABASE_URL=postgres://…"] };
  }
  const schema = `capflow_bench_refusals_${randomUUID().slice(0, 8)}`;
  const db = openPostgresStore({ connectionString: databaseUrl, schema, pool: { max: 8 } });
  try {
    await db.migrate();
    // In the bench's schema, so dropping the schema drops it too.
    await db.knex.raw(`CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA "${schema}"`);
    const measured: Record<Mode, Written[]> = {
      "one entry per refusal": [],
      "counted on the instance": [],
    };
    for (let round = 0; round < rounds; round++) {
      // ABAB: the order alternates, so drift on the shared server falls on both.
      const order = round % 2 === 0 ? modes : [...modes].reverse();
      for (const mode of order) {
        measured[mode].push(await measureRuns(db, schema, mode, `${round}`));
      }
    }
    const refusals = instancesPerMode * refusalsPerRun;
    const median = (mode: Mode, pick: (w: Written) => number) =>
      medianOf(measured[mode].map(pick)) / refusals;
    const rows = modes.map((mode) => ({
      mode,
      "WAL bytes per refusal": median(mode, (w) => w.walBytes).toFixed(0),
      "WAL records per refusal": median(mode, (w) => w.walRecords).toFixed(2),
      "step_logs bytes per refusal": median(mode, (w) => w.stepLogBytes).toFixed(0),
      "step_logs rows per refusal": median(mode, (w) => w.stepLogRows).toFixed(2),
    }));
    const [reference, counted] = modes;
    const walRatio = median(counted!, (w) => w.walBytes) / median(reference!, (w) => w.walBytes);
    const logRatio =
      median(counted!, (w) => w.stepLogBytes) / median(reference!, (w) => w.stepLogBytes);
    return {
      rows,
      results: rows.map((row) => ({ file: "refusals", ...row })),
      lines: [
        `runs of ${refusalsPerRun} refusals then one commit, ${instancesPerMode} instances per mode, median of ${rounds} rounds (bytes include the closing commit, spread over the run's refusals)`,
        `counted on the instance / one entry per refusal: WAL bytes ${walRatio.toFixed(2)}x, step_logs bytes ${logRatio.toFixed(2)}x`,
      ],
    };
  } finally {
    await db.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await db.close();
  }
}

/** Runs of refusals on fresh instances, and what they wrote. */
async function measureRuns(
  db: CapflowDatabase,
  schema: string,
  mode: Mode,
  tag: string,
): Promise<Written> {
  let records: InstanceRecord[] = [];
  for (let i = 0; i < instancesPerMode; i++) {
    const { instance } = await db.instances.createInstance(newInstance(`${mode}-${tag}-${i}`));
    records.push(instance);
  }
  const before = await position(db, schema);
  for (let n = 1; n <= refusalsPerRun; n++) {
    const at = t0 + n * 1_000;
    records = await Promise.all(
      records.map((record) => db.instances.commitTransition(refusal(record, mode, n, at))),
    );
  }
  await Promise.all(records.map((record) => db.instances.commitTransition(moveOn(record))));
  return written(db, schema, before);
}

function refusal(record: InstanceRecord, mode: Mode, count: number, at: number): Transition {
  const reschedule = {
    status: "active" as const,
    attempt: 0,
    nextRunAt: at + 1_000,
    waitingFor: null,
    inFlight: null,
  };
  const base = { instanceId: record.id, expectedVersion: record.version, now: at };
  if (mode === "counted on the instance") {
    const refusals: RefusalRun = {
      step: "apply",
      attempt: 0,
      reason: "circuit-open",
      count,
      reasons: { "circuit-open": count },
      firstAt: t0 + 1_000,
      lastAt: at,
    };
    return { ...base, changes: { ...reschedule, refusals } };
  }
  return {
    ...base,
    changes: reschedule,
    log: {
      step: "apply",
      attempt: 0,
      event: "wait",
      outcome: "notAdmitted:circuit-open",
      fromStatus: "active",
      toStatus: "active",
      startedAt: at,
      durationMs: 0,
    },
  };
}

/** The commit that ends a run: the call's intent once admitted. */
function moveOn(record: InstanceRecord): Transition {
  const at = t0 + (refusalsPerRun + 1) * 1_000;
  return {
    instanceId: record.id,
    expectedVersion: record.version,
    now: at,
    changes: {
      attempt: 1,
      inFlight: { step: "apply", attempt: 1, serial: `S-${record.id}`, startedAt: at },
    },
    log: { step: "apply", attempt: 1, event: "intent", startedAt: at, durationMs: 0 },
    keepLease: true,
    keepUpdatedAt: true,
  };
}

/** A loan application's instance, its row about the size of a real one (~1.5 KB). */
function newInstance(key: string) {
  return {
    id: randomUUID(),
    channel: "bench",
    behavior: "loan",
    businessKey: key,
    behaviorVersion: 1,
    inputDigest: "d",
    input: {
      loanNo: key,
      amount: "100000.00",
      termMonths: 12,
      customer: { name: "张*", idCardNo: "1101**********1234", mobile: "138****0000" },
      purpose: "consumption",
      riskFactors: { score: 712, channel: "app", device: "ios", city: "310100" },
    },
    step: "apply",
    status: "active" as const,
    context: {
      route: { channel: "bench", rule: "weighted-round-robin", tried: [] },
      preCheck: { passed: true, checks: Array.from({ length: 12 }, (_, i) => `rule-${i}:ok`) },
    },
    snapshot: { value: "apply", history: ["apply"] },
    nextRunAt: t0,
    now: t0,
  };
}

async function position(db: CapflowDatabase, schema: string) {
  const [row] = (
    await db.knex.raw(
      `SELECT pg_current_wal_insert_lsn()::text AS lsn,
         pg_total_relation_size(?::regclass) AS size,
         (SELECT count(*) FROM "${schema}".step_logs) AS rows`,
      [`"${schema}".step_logs`],
    )
  ).rows as { lsn: string; size: string; rows: string }[];
  return { lsn: row!.lsn, size: Number(row!.size), rows: Number(row!.rows) };
}

async function written(
  db: CapflowDatabase,
  schema: string,
  before: Awaited<ReturnType<typeof position>>,
): Promise<Written> {
  const after = await position(db, schema);
  // Every relation of the schema (tables, their TOAST tables, indexes) by the file WAL names.
  const [wal] = (
    await db.knex.raw(
      `WITH files AS (
         SELECT pg_relation_filenode(c.oid)::text AS node FROM pg_class c
         WHERE c.relnamespace = ?::regnamespace
            OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace = ?::regnamespace)
            OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN
                 (SELECT reltoastrelid FROM pg_class WHERE relnamespace = ?::regnamespace))
       )
       SELECT count(*) AS records, coalesce(sum(record_length - fpi_length), 0) AS bytes
       FROM "${schema}".pg_get_wal_records_info(?::pg_lsn, pg_current_wal_flush_lsn()) r
       WHERE EXISTS (
         SELECT 1 FROM regexp_matches(r.block_ref, 'rel \\d+/\\d+/(\\d+)', 'g') AS m
         WHERE m[1] IN (SELECT node FROM files)
       )`,
      [`"${schema}"`, `"${schema}"`, `"${schema}"`, before.lsn],
    )
  ).rows as { records: string; bytes: string }[];
  return {
    walBytes: Number(wal!.bytes),
    walRecords: Number(wal!.records),
    stepLogBytes: after.size - before.size,
    stepLogRows: after.rows - before.rows,
  };
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
