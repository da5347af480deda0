import type {
  InboxEntry,
  InFlightCall,
  InstanceRecord,
  InstanceStatus,
  RefusalRun,
  RoutingRecord,
  StepLogEntry,
  StepLogEvent,
  StoredError,
} from "@capflow/core";

/**
 * Row <-> record mapping, in one place. Rows come from `pg` (timestamptz as `Date`, int8 as string)
 * or PGlite (timestamptz as `Date`, int8 as number); these functions accept both.
 */

/** A row as the drivers return it. */
export type Row = Record<string, unknown>;

/** JSON text for a `jsonb`/`json` parameter (cast with `::jsonb`). `undefined` becomes JSON null. */
export function jsonParam(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/** Like {@link jsonParam}, but `null`/`undefined` become SQL NULL (for nullable columns). */
export function nullableJsonParam(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** Epoch milliseconds as a `timestamptz` parameter. */
export function timeParam(ms: number): Date;
export function timeParam(ms: number | null): Date | null;
export function timeParam(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

const epochText = /^-?\d+$/;

export function epochMs(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    // Whole epoch milliseconds or ±infinity from instanceSelectList; other text is a timestamp.
    if (epochText.test(value)) return Number(value);
    if (value === "infinity") return Number.POSITIVE_INFINITY;
    if (value === "-infinity") return Number.NEGATIVE_INFINITY;
    return Date.parse(value);
  }
  throw new TypeError(`expected a timestamp, got ${typeof value}`);
}

function nullableEpochMs(value: unknown): number | null {
  return value === null || value === undefined ? null : epochMs(value);
}

/** `json` values come back parsed; a driver configured to return text is handled too. */
function json(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

/**
 * The columns `instanceFromRow` reads, for statements that name them instead of `*`: a prepared
 * statement's result columns must not change when a later migration adds a column (PostgreSQL
 * then fails it with "cached plan must not change result type").
 */
export const instanceColumns = [
  "id",
  "channel",
  "behavior",
  "business_key",
  "behavior_version",
  "input_digest",
  "input",
  "step",
  "status",
  "context",
  "snapshot",
  "next_run_at",
  "version",
  "attempt",
  "in_flight",
  "waiting_for",
  "last_error",
  "refusals",
  "product",
  "account",
  "customer_ref",
  "failover_of",
  "routing",
  "lease_owner",
  "lease_until",
  "created_at",
  "updated_at",
  "traceparent",
  "upstream_client",
] as const;

/** The columns of `instanceColumns` that are `timestamptz`. */
const instanceTimeColumns: ReadonlySet<string> = new Set([
  "next_run_at",
  "lease_until",
  "created_at",
  "updated_at",
]);

/**
 * `instanceColumns` of the row `alias`, as the select list of the statements on every step's
 * path (the claim, the commit, the start), with the timestamps as whole epoch milliseconds in
 * text (`infinity` as itself), which `instanceFromRow` reads with `Number`: a `timestamptz` is
 * formatted in the session's time zone by PostgreSQL and parsed back into a `Date` by pg with a
 * regular expression, and for four columns that was about a quarter of the cost of reading a
 * claimed row. Text of an `int8`, not a `float8`: a float's text depends on the session's
 * `extra_float_digits`, and before PostgreSQL 14 `extract` gives a float, whose product by 1000
 * can fall just below the millisecond (truncating to it first, then rounding, is exact).
 */
export function instanceSelectList(alias: string): string {
  return instanceColumns
    .map((column) =>
      instanceTimeColumns.has(column)
        ? `CASE WHEN isfinite(${alias}.${column})
            THEN (extract(epoch FROM date_trunc('milliseconds', ${alias}.${column})) * 1000)::int8::text
            ELSE ${alias}.${column}::text END AS ${column}`
        : `${alias}.${column}`,
    )
    .join(", ");
}

export function instanceFromRow(row: Row): InstanceRecord {
  const record: InstanceRecord = {
    id: row.id as string,
    channel: row.channel as string,
    behavior: row.behavior as string,
    businessKey: row.business_key as string,
    behaviorVersion: Number(row.behavior_version),
    inputDigest: row.input_digest as string,
    input: row.input,
    step: row.step as string,
    status: row.status as InstanceStatus,
    context: row.context as Record<string, unknown>,
    snapshot: row.snapshot,
    nextRunAt: nullableEpochMs(row.next_run_at),
    now: epochMs(row.created_at),
    version: Number(row.version),
    attempt: Number(row.attempt),
    inFlight: (row.in_flight ?? null) as InFlightCall | null,
    waitingFor: (row.waiting_for ?? null) as string | null,
    lastError: (row.last_error ?? null) as StoredError | null,
    refusals: refusalsFromRow(row),
    product: (row.product ?? null) as string | null,
    account: (row.account ?? null) as string | null,
    customerRef: (row.customer_ref ?? null) as string | null,
    failoverOf: (row.failover_of ?? null) as string | null,
    routing: (row.routing ?? null) as RoutingRecord | null,
    leaseOwner: (row.lease_owner ?? null) as string | null,
    leaseUntil: nullableEpochMs(row.lease_until),
    createdAt: epochMs(row.created_at),
    updatedAt: epochMs(row.updated_at),
  };
  // Left out when absent, as it went in (instances started outside any trace).
  if (row.traceparent != null) record.traceparent = row.traceparent as string;
  if (row.upstream_client != null) record.upstreamClient = row.upstream_client as string;
  return record;
}

/**
 * The `refusals` column of an instance as stored: the run with its times as ISO text (so SQL
 * reads them exactly) and the version its last refusal produced. The column is not cleared when
 * the run is written to the history (that would cost the commit a read of the old row): a run is
 * the instance's only while the row is still at that version.
 */
export interface StoredRefusals extends Omit<RefusalRun, "firstAt" | "lastAt"> {
  firstAt: string;
  lastAt: string;
  version: number;
}

/** The `refusals` parameter of a refusal's commit, which produces `version`. */
export function refusalsParam(run: RefusalRun, version: number): string {
  return JSON.stringify(storedRefusals(run, version));
}

/** The `refusals` column's value for a refusal's commit, which produces `version`. */
export function storedRefusals(run: RefusalRun, version: number): StoredRefusals {
  return {
    ...run,
    firstAt: new Date(run.firstAt).toISOString(),
    lastAt: new Date(run.lastAt).toISOString(),
    version,
  };
}

function refusalsFromRow(row: Row): RefusalRun | null {
  const stored = row.refusals == null ? undefined : (json(row.refusals) as StoredRefusals);
  if (stored === undefined || stored.version !== Number(row.version)) return null;
  const { version: _version, ...run } = stored;
  return { ...run, firstAt: Date.parse(stored.firstAt), lastAt: Date.parse(stored.lastAt) };
}

export function stepLogFromRow(row: Row): StepLogEntry {
  const entry: StepLogEntry = {
    id: row.id as string,
    instanceId: row.instance_id as string,
    version: Number(row.version),
    step: row.step as string,
    attempt: Number(row.attempt),
    event: row.event as StepLogEvent,
    startedAt: epochMs(row.started_at),
    durationMs: Number(row.duration_ms),
  };
  // Optional fields are left out when absent (exactOptionalPropertyTypes), as they went in.
  if (row.from_step != null) entry.fromStep = row.from_step as string;
  if (row.to_step != null) entry.toStep = row.to_step as string;
  if (row.from_status != null) entry.fromStatus = row.from_status as InstanceStatus;
  if (row.to_status != null) entry.toStatus = row.to_status as InstanceStatus;
  if (row.outcome != null) entry.outcome = row.outcome as string;
  if (row.request != null) entry.request = row.request;
  if (row.response != null) entry.response = row.response;
  if (row.raw != null) entry.raw = row.raw as NonNullable<StepLogEntry["raw"]>;
  if (row.error != null) entry.error = row.error as StoredError;
  if (row.actor != null) entry.actor = row.actor as NonNullable<StepLogEntry["actor"]>;
  if (row.interface != null) entry.interface = row.interface as string;
  if (row.refusals != null) entry.refusals = row.refusals as NonNullable<StepLogEntry["refusals"]>;
  return entry;
}

export function inboxFromRow(row: Row): InboxEntry {
  const entry: InboxEntry = {
    id: row.id as string,
    channel: row.channel as string,
    account: (row.account ?? null) as string | null,
    callback: row.callback as string,
    dedupeKey: row.dedupe_key as string,
    businessKey: row.business_key as string,
    payload: row.payload,
    receivedAt: epochMs(row.received_at),
    processedAt: nullableEpochMs(row.processed_at),
    instanceId: (row.instance_id ?? null) as string | null,
  };
  if (row.raw != null) entry.raw = row.raw as NonNullable<InboxEntry["raw"]>;
  return entry;
}

/** A stored definition (`json` column) parsed. */
export function definitionFromRow<T>(row: Row): T {
  return json(row.definition) as T;
}
