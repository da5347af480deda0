/** The business protection layer's public API, re-exported by the package index. */

export {
  type ExclusiveRun,
  type ExclusiveRunner,
  inProcessExclusiveRunner,
} from "../ports/exclusive-runner.ts";
export type * from "../ports/stuck-store.ts";
export {
  BusinessCalendar,
  type BusinessCalendarOptions,
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
export { type SlaLimits, slaLimits } from "./sla-limits.ts";
export {
  type StuckCheck,
  StuckMonitor,
  type StuckMonitorOptions,
} from "./stuck-monitor.ts";
