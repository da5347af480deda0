import type { InstanceStatus } from "./instance-store.ts";

/**
 * What the stuck-order monitor (卡单) reads and records: unsettled instances with the time they
 * entered their current step, and breaches of a service-level limit, each recorded once. The
 * implementation is `KnexStuckStore` in @capflow/store-knex (PostgreSQL or PGlite).
 */
export interface StuckStore {
  /**
   * Unsettled instances (active or waiting) created at or before `createdBefore`, oldest first by
   * (createdAt, id); `after` continues after the last row of the previous page.
   */
  unsettledInstances(request: UnsettledRequest): Promise<UnsettledInstance[]>;
  /**
   * Records breaches; a breach already recorded (same instance, scope and `since`) is left alone.
   * Returns only the breaches recorded now, so each fires once however many nodes or rounds see it.
   */
  recordBreaches(breaches: readonly NewStuckBreach[]): Promise<StuckBreach[]>;
  /**
   * Closes open breaches that no longer hold: the instance settled, or (for a step breach) left
   * the step. Returns how many were closed.
   */
  resolveCleared(now: number): Promise<number>;
  /** Open breaches, oldest first: what operators list as stuck. */
  listStuck(filter?: StuckFilter): Promise<StuckBreach[]>;
  /**
   * Instances with an open breach, each counted once per channel, behavior and the step it is at
   * now (for a gauge): not the step a behavior breach was found at, once the instance moved on.
   */
  stuckCounts(): Promise<StuckCount[]>;
  /**
   * The last round any node finished, or undefined before the first. Read and written by the
   * monitor while it holds its round's lock, so nodes share one scan per interval.
   */
  lastScan(): Promise<StuckScan | undefined>;
  /** Records a finished round in place of the last. */
  recordScan(scan: StuckScan): Promise<void>;
}

/** A finished round of the stuck-order monitor. */
export interface StuckScan {
  /** When the round ended, on the clock of the monitor that ran it. */
  finishedAt: number;
  /** The monitor that ran it (each `StuckMonitor` has its own id). */
  node: string;
}

export interface UnsettledRequest {
  createdBefore: number;
  limit: number;
  after?: { createdAt: number; id: string };
}

export interface UnsettledInstance {
  id: string;
  channel: string;
  behavior: string;
  behaviorVersion: number;
  businessKey: string;
  step: string;
  status: InstanceStatus;
  createdAt: number;
  /** When the instance came to its current step (its creation for the first step). */
  stepEnteredAt: number;
}

/**
 * `behavior`: the instance has not settled within its behavior's SLA (counted from its creation);
 * `step`: it has stayed at its current step longer than that step's SLA.
 */
export type StuckScope = "behavior" | "step";

export interface NewStuckBreach {
  instanceId: string;
  channel: string;
  behavior: string;
  businessKey: string;
  step: string;
  scope: StuckScope;
  /** The limit that was passed, in milliseconds. */
  slaMs: number;
  /** Where the limit counts from: creation (behavior) or entering the step (step). */
  since: number;
  /** When the monitor saw it. */
  detectedAt: number;
}

export interface StuckBreach extends NewStuckBreach {
  id: string;
  /** When it stopped holding (settled, moved on); null while the instance is stuck. */
  resolvedAt: number | null;
}

export interface StuckFilter {
  channel?: string;
  behavior?: string;
  limit?: number;
}

export interface StuckCount {
  channel: string;
  behavior: string;
  step: string;
  count: number;
}
