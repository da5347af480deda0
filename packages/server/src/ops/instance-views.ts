import {
  type InboxEntry,
  type InstanceRecord,
  type InstanceStatus,
  type MaskingRules,
  maskFields,
  pendingRefusalEntry,
  type RoutingRecord,
  type StepLogEntry,
} from "@capflow/core";

/**
 * The JSON shapes of the operator API (documented in docs/serving.md; the console reads them).
 * Times are ISO 8601 strings in UTC; personal data is masked with the channel's and behavior's
 * rules, as step logs store it.
 */

/** An instance in a listing. */
export interface InstanceSummaryView {
  id: string;
  channel: string;
  behavior: string;
  behaviorVersion: number;
  businessKey: string;
  product: string | null;
  account: string | null;
  step: string;
  status: InstanceStatus;
  attempt: number;
  /** Compare-and-set counter: send it back as `expectedVersion` with an action. */
  version: number;
  nextRunAt: string | null;
  waitingFor: string | null;
  /** A call possibly in flight (its outcome unknown until queried). */
  inFlight: boolean;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
}

/** One instance with its data (masked) and history. */
export interface InstanceDetailView extends InstanceSummaryView {
  input: unknown;
  context: unknown;
  inFlightCall: { step: string; attempt: number; serial: string; startedAt: string } | null;
  failoverOf: string | null;
  /** How a product's instance was routed, as stored; null for one started on a channel. */
  routing: RoutingRecord | null;
  history: HistoryEntryView[];
}

/** One history entry (step log), masked as stored; raw sealed bodies are never shown. */
export interface HistoryEntryView {
  id: string;
  version: number;
  at: string;
  step: string;
  attempt: number;
  event: string;
  outcome: string | null;
  fromStep: string | null;
  toStep: string | null;
  fromStatus: string | null;
  toStatus: string | null;
  durationMs: number;
  request: unknown;
  response: unknown;
  error: { code: string; message: string } | null;
  /** `confirmed: "callNotProcessed"`: a move the operator sent vouching the partner did not process the call. */
  actor: { who: string; why: string; confirmed?: "callNotProcessed" } | null;
  /**
   * For a summary of flow-control refusals (event `wait`): how many, by reason, the last one's
   * time (`at` is the first's), and whether they go on (the instance is still being refused:
   * the entry is the last and its count still grows).
   */
  refusals: {
    count: number;
    reasons: Record<string, number>;
    lastAt: string;
    ongoing: boolean;
  } | null;
}

/** A verified callback no step consumed (yet). */
export interface InboxEntryView {
  id: string;
  channel: string;
  account: string | null;
  callback: string;
  dedupeKey: string;
  businessKey: string;
  receivedAt: string;
  processedAt: string | null;
  instanceId: string | null;
  outcome: string | null;
  code: string | null;
  /** The body masked with the channel's rules; the clear body stays in the inbox for processing. */
  body: unknown;
}

export const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function instanceSummary(record: InstanceRecord): InstanceSummaryView {
  return {
    id: record.id,
    channel: record.channel,
    behavior: record.behavior,
    behaviorVersion: record.behaviorVersion,
    businessKey: record.businessKey,
    product: record.product,
    account: record.account,
    step: record.step,
    status: record.status,
    attempt: record.attempt,
    version: record.version,
    nextRunAt: isoOrNull(record.nextRunAt),
    waitingFor: record.waitingFor,
    inFlight: record.inFlight !== null,
    lastError: record.lastError,
    createdAt: iso(record.createdAt),
    updatedAt: iso(record.updatedAt),
  };
}

export function instanceDetail(
  record: InstanceRecord,
  history: readonly StepLogEntry[],
  masking: MaskingRules | undefined,
): InstanceDetailView {
  return {
    ...instanceSummary(record),
    input: maskFields(record.input, masking),
    context: maskFields(record.context, masking),
    inFlightCall:
      record.inFlight === null
        ? null
        : { ...record.inFlight, startedAt: iso(record.inFlight.startedAt) },
    failoverOf: record.failoverOf,
    routing: record.routing,
    history: historyWithRefusals(record, history),
  };
}

/**
 * The stored history and, after it, the refusals the instance holds (not yet written: they are
 * written, with the same id and version, when the instance next moves).
 */
export function historyWithRefusals(
  record: InstanceRecord,
  history: readonly StepLogEntry[],
): HistoryEntryView[] {
  const views = history.map((entry) => historyEntry(entry));
  const pending = pendingRefusalEntry(record);
  if (pending !== undefined) views.push(historyEntry(pending, true));
  return views;
}

export function historyEntry(entry: StepLogEntry, ongoing = false): HistoryEntryView {
  return {
    id: entry.id,
    version: entry.version,
    at: iso(entry.startedAt),
    step: entry.step,
    attempt: entry.attempt,
    event: entry.event,
    outcome: entry.outcome ?? null,
    fromStep: entry.fromStep ?? null,
    toStep: entry.toStep ?? null,
    fromStatus: entry.fromStatus ?? null,
    toStatus: entry.toStatus ?? null,
    durationMs: entry.durationMs,
    request: entry.request ?? null,
    response: entry.response ?? null,
    error: entry.error ?? null,
    actor: entry.actor ?? null,
    refusals:
      entry.refusals === undefined
        ? null
        : {
            count: entry.refusals.count,
            reasons: entry.refusals.reasons,
            lastAt: iso(entry.startedAt + entry.durationMs),
            ongoing,
          },
  };
}

export function inboxEntryView(entry: InboxEntry): InboxEntryView {
  const payload = (entry.payload ?? {}) as { outcome?: string; code?: string; masked?: unknown };
  return {
    id: entry.id,
    channel: entry.channel,
    account: entry.account,
    callback: entry.callback,
    dedupeKey: entry.dedupeKey,
    businessKey: entry.businessKey,
    receivedAt: iso(entry.receivedAt),
    processedAt: isoOrNull(entry.processedAt),
    instanceId: entry.instanceId,
    outcome: payload.outcome ?? null,
    code: payload.code || null,
    body: payload.masked ?? null,
  };
}
