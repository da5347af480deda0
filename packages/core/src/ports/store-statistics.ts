import type { InstanceStatus } from "./instance-store.ts";

/**
 * Counts for monitoring, read on every metrics scrape: each must stay cheap however many
 * instances have settled (served by indexes of unsettled rows). Both built-in stores implement it.
 */
export interface StoreStatistics {
  backlogs(): Promise<StoreBacklogs>;
}

export interface StoreBacklogs {
  /**
   * Instances still running (`active`, `waiting`) or in manual review (`manual`), each status
   * with how many and when the least recently changed one last changed.
   */
  instances: { status: InstanceStatus; count: number; oldestUpdatedAt: number | null }[];
  /** Callbacks stored and not yet applied to an instance. */
  inbox: { pending: number; oldestReceivedAt: number | null };
}

/** The statuses `backlogs` counts. */
export const backlogStatuses: readonly InstanceStatus[] = ["active", "waiting", "manual"];

export function hasStoreStatistics(store: object): store is StoreStatistics {
  return typeof (store as Partial<StoreStatistics>).backlogs === "function";
}
