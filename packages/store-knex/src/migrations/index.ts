import { initialMigration } from "./0001_initial.ts";
import { inboxStaleMigration } from "./0002_inbox_stale.ts";
import { waitingForMigration } from "./0003_waiting_for.ts";
import { definitionPushesMigration } from "./0004_definition_pushes.ts";
import { routingMigration } from "./0005_routing.ts";
import { operatorsMigration } from "./0006_operators.ts";
import { intakeMigration } from "./0007_intake.ts";
import { outboxMigration } from "./0008_outbox.ts";
import { instanceUpstreamClientMigration } from "./0009_instance_upstream_client.ts";
import { stuckOrdersMigration } from "./0010_stuck_orders.ts";
import { alertsMigration } from "./0011_alerts.ts";
import { queuedStartsMigration } from "./0012_queued_starts.ts";
import { reconciliationMigration } from "./0013_reconciliation.ts";
import { inboxPerCallbackMigration } from "./0015_inbox_per_callback.ts";
import { dueNotificationsMigration } from "./0016_due_notifications.ts";
import { consoleMigration } from "./0019_console.ts";
import { queryCacheMigration } from "./0021_query_cache.ts";
import { instancesRoomForUpdatesMigration } from "./0022_instances_room_for_updates.ts";
import { partnerLatencyMigration } from "./0023_partner_latency.ts";
import { inboxRawMigration } from "./0024_inbox_raw.ts";
import { queuedStartClientsMigration } from "./0025_queued_start_clients.ts";
import { alertCountsMigration } from "./0026_alert_counts.ts";
import { refusalRunsMigration } from "./0028_refusal_runs.ts";
import { queuedStartLookupsMigration } from "./0029_queued_start_lookups.ts";
import { claimInDueOrderMigration } from "./0030_claim_in_due_order.ts";
import { queryCacheRunsMigration } from "./0031_query_cache_runs.ts";
import { stuckLastScanMigration } from "./0032_stuck_last_scan.ts";
import { claimPlanKeptMigration } from "./0033_claim_plan_kept.ts";
import { inboxPerAccountMigration } from "./0034_inbox_per_account.ts";
import { quotaReopenMigration } from "./0035_quota_reopen.ts";
import { businessKeyGuardMigration } from "./0036_business_key_guard.ts";
import { reconcileRunGenerationMigration } from "./0037_reconcile_run_generation.ts";
import { reconcileRunIdentityMigration } from "./0038_reconcile_run_identity.ts";
import { notificationResendsMigration } from "./0039_notification_resends.ts";
import { businessKeyAnyBehaviorMigration } from "./0040_business_key_any_behavior.ts";
import { reconcileStopsMigration } from "./0041_reconcile_stops.ts";
import { alertLastRaisedMigration } from "./0042_alert_last_raised.ts";
import { operatorTokenReasonsMigration } from "./0043_operator_token_reasons.ts";
import { queuedStartInputDigestMigration } from "./0044_queued_start_input_digest.ts";
import { retentionMigration } from "./0045_retention.ts";
import { fewerInstanceIndexesMigration } from "./0046_fewer_instance_indexes.ts";
import { operatorTokenLastUsedMigration } from "./0047_operator_token_last_used.ts";
import type { Migration } from "./migration.ts";

/** Every migration, in order. Append new ones at the end; never edit or reorder released ones. */
export const migrations: readonly Migration[] = [
  initialMigration,
  inboxStaleMigration,
  waitingForMigration,
  definitionPushesMigration,
  routingMigration,
  operatorsMigration,
  intakeMigration,
  outboxMigration,
  instanceUpstreamClientMigration,
  stuckOrdersMigration,
  alertsMigration,
  queuedStartsMigration,
  reconciliationMigration,
  inboxPerCallbackMigration,
  dueNotificationsMigration,
  consoleMigration,
  queryCacheMigration,
  instancesRoomForUpdatesMigration,
  partnerLatencyMigration,
  inboxRawMigration,
  queuedStartClientsMigration,
  alertCountsMigration,
  refusalRunsMigration,
  queuedStartLookupsMigration,
  claimInDueOrderMigration,
  queryCacheRunsMigration,
  stuckLastScanMigration,
  claimPlanKeptMigration,
  inboxPerAccountMigration,
  quotaReopenMigration,
  businessKeyGuardMigration,
  reconcileRunGenerationMigration,
  reconcileRunIdentityMigration,
  notificationResendsMigration,
  businessKeyAnyBehaviorMigration,
  reconcileStopsMigration,
  alertLastRaisedMigration,
  operatorTokenReasonsMigration,
  queuedStartInputDigestMigration,
  retentionMigration,
  fewerInstanceIndexesMigration,
  operatorTokenLastUsedMigration,
];
