/**
 * Every statement names its tables with the schema (`"capflow"."instances"`) instead of relying on
 * the connection's `search_path`: a pooler in transaction mode (PgBouncer) does not keep session
 * settings, and a test can run several schemas side by side in one database.
 */

/** The schema used when none is given: capflow's own, so its tables never collide with yours. */
export const defaultSchema = "capflow";

/** Statuses an instance can still run in, as an SQL list (the complement of `settledStatuses`). */
export const runnableStatuses = "('active', 'waiting')";

/** Quotes an SQL identifier (schema, table or function name). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Schema-qualified, quoted names of every table and function capflow owns. */
export interface QualifiedNames {
  schema: string;
  channels: string;
  behaviors: string;
  processors: string;
  instances: string;
  stepLogs: string;
  inbox: string;
  /** History of pushes, migration 0004. */
  definitionPushes: string;
  /** `has_pending_inbox(channel, business_key, consumed text[])`, see migration 0001. */
  hasPendingInbox: string;
  /** `has_pending_callback(channel, business_key, callback, consumed text[])`, migration 0003. */
  hasPendingCallback: string;
  /** `inbox_consumed(applied, expected)`: raises CF409 when applied < expected, migration 0003. */
  inboxConsumed: string;
  products: string;
  routingPositions: string;
  quotaUsage: string;
  quotaHolds: string;
  /** `quota_apply(settle, settle_to, reserve, quotas)`: raises CF429 without room (migrations 0005, 0035). */
  quotaApply: string;
  /** `business_key_free(key, product, channels, behaviors, products, raise)`, migration 0036. */
  businessKeyFree: string;
  /** `has_callback_of_account(channel, business_key, callback, account, consumed)`, migration 0004. */
  hasCallbackOfAccount: string;
  /** Notifications for the upstream, migration 0008. */
  outbox: string;
  /** Each re-send of a notification, who asked and why, migration 0039. */
  notificationResends: string;
  /** Reconciliation runs, staged statement lines and differences, migration 0013. */
  reconcileRuns: string;
  reconcileLines: string;
  reconcileDifferences: string;
  /** Upstream clients of the intake API, migration 0007. */
  upstreamClients: string;
  /** Nonces seen in signed intake requests, until they expire; migration 0007. */
  intakeNonces: string;
  /** Idempotency keys of intake requests and the answers they replay; migration 0007. */
  intakeRequests: string;
  /** Trigger function sending `NOTIFY "<schema>.due"`, migration 0016. */
  notifyDue: string;
  /** Operators' API tokens (digests), migration 0006. */
  operatorTokens: string;
  /** `claim_due(owner, lease_until, now, channels, skip_channels, limit)`, migration 0030. */
  claimDue: string;
}

export function qualifiedNames(schema: string): QualifiedNames {
  const q = (name: string) => `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
  return {
    schema: quoteIdentifier(schema),
    channels: q("channels"),
    behaviors: q("behaviors"),
    processors: q("processors"),
    instances: q("instances"),
    stepLogs: q("step_logs"),
    inbox: q("inbox"),
    definitionPushes: q("definition_pushes"),
    hasPendingInbox: q("has_pending_inbox"),
    hasPendingCallback: q("has_pending_callback"),
    inboxConsumed: q("inbox_consumed"),
    products: q("products"),
    routingPositions: q("routing_positions"),
    quotaUsage: q("quota_usage"),
    quotaHolds: q("quota_holds"),
    quotaApply: q("quota_apply"),
    businessKeyFree: q("business_key_free"),
    hasCallbackOfAccount: q("has_callback_of_account"),
    outbox: q("outbox"),
    notificationResends: q("notification_resends"),
    reconcileRuns: q("reconcile_runs"),
    reconcileLines: q("reconcile_lines"),
    reconcileDifferences: q("reconcile_differences"),
    upstreamClients: q("upstream_clients"),
    intakeNonces: q("intake_nonces"),
    intakeRequests: q("intake_requests"),
    notifyDue: q("notify_due"),
    operatorTokens: q("operator_tokens"),
    claimDue: q("claim_due"),
  };
}

/** The `LISTEN` channel of a schema's due notifications (migration 0016), quoted. */
export function dueChannel(schema: string): string {
  return quoteIdentifier(`${schema.slice(0, 59)}.due`);
}
