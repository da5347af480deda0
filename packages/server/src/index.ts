/**
 * @capflow/server — capflow's service process on Fastify: funder callbacks, health checks, the
 * operator API. `capflow serve` runs it; a host service may build it with `createServer` and run
 * it next to its own routes.
 *
 * ```ts
 * import { createServer } from "@capflow/server";
 *
 * const app = createServer({ engine, readiness: { database: () => db.knex.raw("select 1") } });
 * await app.listen({ port: 8080, host: "0.0.0.0" });
 * process.once("SIGTERM", () => void app.close());
 * ```
 */
export type { OperatorAuthOptions } from "./auth/authenticate.ts";
export { type Operator, type OperatorAuthenticator, roleAllows } from "./auth/operator.ts";
export {
  hashOperatorToken,
  type IssueTokenRequest,
  issueOperatorToken,
  operatorTokenPrefix,
  type RevokeOperatorTokenRequest,
  revokeOperatorToken,
} from "./auth/operator-tokens.ts";
export { type TrustedHeaderOptions, trustedHeaderAuth } from "./auth/trusted-headers.ts";
export { type CreateServerOptions, createServer } from "./create-server.ts";
export type { ActionPreviewView } from "./ops/action-preview-view.ts";
export type { BehaviorGraphView } from "./ops/behavior-graph-view.ts";
export type {
  BehaviorVersionView,
  DefinitionsView,
  VersionDiffView,
} from "./ops/definition-views.ts";
export type {
  HistoryEntryView,
  InboxEntryView,
  InstanceDetailView,
  InstanceSummaryView,
} from "./ops/instance-views.ts";
export type { NotificationView } from "./ops/notification-view.ts";
export type {
  InstanceSummaryAnswer,
  InstanceAnswer,
  InstanceGraphAnswer,
  IssuedTokenAnswer,
  ItemList,
  LateNotificationView,
  ListPage,
  MigrationAnswer,
  NotificationResendAnswer,
  RevokedTokenAnswer,
  StartedInstanceAnswer,
  WhoamiAnswer,
} from "./ops/ops-answers.ts";
export type {
  AttentionGroupView,
  OutboxBacklogView,
  OverviewRowView,
  OverviewView,
} from "./ops/overview-view.ts";
export type { OperatorApiOptions } from "./ops/ops-routes.ts";
export type { ProtectionViews } from "./ops/protection-routes.ts";
export type {
  AlertHistoryEntryView,
  AlertView,
  QueueDepthView,
  StuckInstanceView,
  StuckView,
} from "./ops/protection-views.ts";
export type {
  BusinessInstanceView,
  InstanceRoutingView,
  QuotaView,
  RoutingView,
} from "./ops/routing-view.ts";
export type {
  AccountLimitView,
  FlowStateSources,
  FlowStateStatus,
  PartnerInterfaceView,
} from "./ops/partner-health.ts";
export type { ProtectionMetricsSources } from "./metrics/protection-gauges.ts";
export type { TokenView } from "./ops/token-routes.ts";
export {
  type ErrorBody,
  httpStatusFor,
  replyWithError,
  sendError,
  toRequestError,
} from "./http/error-reply.ts";
export { type IntakeOptions, intakeHeaders } from "./intake/intake-routes.ts";
export { type SignedParts, signedString } from "./intake/signed-string.ts";
export { redactedPaths, type ServerLogOptions } from "./http/logger-options.ts";
export { defaultServerLimits, type ServerLimits } from "./http/server-limits.ts";
export type { CheckResult, ReadinessChecks, ReadinessReport } from "./health/readiness.ts";
export { CapflowMetrics, type CapflowMetricsOptions } from "./metrics/capflow-metrics.ts";
export { engineEventLog, type EventLogger, outboxEventLog } from "./logs/engine-event-log.ts";
