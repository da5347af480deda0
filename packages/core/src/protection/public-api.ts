/** The business protection layer's public API, re-exported by the package index. */

export { MemoryAlertCounts } from "../memory/memory-alert-counts.ts";
export * from "../ports/alert-count-store.ts";
export type * from "../ports/alert-store.ts";
export {
  type ExclusiveRun,
  type ExclusiveRunner,
  inProcessExclusiveRunner,
} from "../ports/exclusive-runner.ts";
export type * from "../ports/query-cache-store.ts";
export type * from "../ports/start-queue-store.ts";
export type * from "../ports/stuck-store.ts";
export type { AlertRule, AlertSink, AlertsConfig } from "./alerts/alert-config.ts";
export { alertText, type SinkRequest, sinkAccepted, sinkRequest } from "./alerts/alert-message.ts";
export {
  AlertMonitor,
  type AlertMonitorOptions,
  type AlertRound,
  type ExpiringCertificate,
  type OpenReconciliation,
  type SinkSender,
} from "./alerts/alert-monitor.ts";
export {
  type ChannelCertificateExpiryOptions,
  channelCertificateExpiry,
} from "./alerts/certificate-expiry.ts";
export {
  CachedQueries,
  type CachedQueriesOptions,
  type QueryAnswer,
} from "./cache/cached-queries.ts";
export { type AmbiguousCutoff, ambiguousCutoffs } from "./calendar/ambiguous-cutoffs.ts";
export {
  BusinessCalendar,
  type BusinessCalendarOptions,
  type UncoveredYear,
} from "./calendar/business-calendar.ts";
export { chinaHolidays2026 } from "./calendar/china-holidays-2026.ts";
export {
  type HolidaySchedule,
  type HolidayScheduleFile,
  isWorkingDay,
  loadHolidaySchedules,
  mergeHolidaySchedules,
  parseHolidaySchedule,
} from "./calendar/holiday-schedule.ts";
export {
  type AdmissionRound,
  type QueueEvent,
  type QueuePolicy,
  type QueueSubmission,
  StartQueue,
  type StartQueueOptions,
} from "./queue/start-queue.ts";
export { type SlaLimits, slaLimits } from "./sla-limits.ts";
export {
  type StuckCheck,
  StuckMonitor,
  type StuckMonitorOptions,
} from "./stuck-monitor.ts";
