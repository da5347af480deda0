import { type AlertMonitor, CapflowError, type ErrorCode } from "@capflow/core";
import type { CapflowDatabase } from "@capflow/store-knex";
import { DateTime } from "luxon";
import type { FetchStatementOptions } from "./fetch-statement.ts";
import { ReconcileStore } from "./reconcile-store.ts";
import { type ReconciliationResult, runReconciliation } from "./run-reconciliation.ts";
import type { StatementDefinition } from "./statement-definition.ts";
import { statementDigest } from "./statement-digest.ts";

export interface ReconcileScheduleOptions extends FetchStatementOptions {
  db: Pick<CapflowDatabase, "knex" | "schema" | "target">;
  /** Statements with a `schedule`; the others are left to `capflow reconcile run`. */
  statements: readonly StatementDefinition[];
  /** How often to look whether a statement is due. Default one minute. */
  checkEveryMs?: number;
  now?: () => Date;
  /**
   * Alerts for the runs' differences (see `RunReconciliationOptions.alerts`); a statement stopped
   * (a refused host key) raises an alert of the `raised` rule {@link stoppedAlertRule} names.
   */
  alerts?: Pick<AlertMonitor, "evaluate"> & Partial<Pick<AlertMonitor, "raise">>;
  /** The `raised` rule a stopped statement's alert goes to. Default `reconciliation-stopped`. */
  stoppedAlertRule?: string;
  /** Each run made, reused, or failed (`error`), for logs and alerts. */
  onRun?: (event: ScheduledRunEvent) => void;
  /** What each periodic check did per statement (e.g. another node was on it). */
  onCheck?: (check: ScheduleCheck) => void;
}

export type ScheduledRunEvent =
  | { statement: StatementDefinition; businessDate: string; result: ReconciliationResult }
  | {
      statement: StatementDefinition;
      businessDate: string;
      error: unknown;
      /** Stopped (stored): not tried again until an operator clears it or the definition changes. */
      stopped?: true;
    };

/** What one check did per statement. */
export type ScheduleCheck = {
  statement: string;
  businessDate?: string;
  outcome:
    | "not-due"
    | "done-before"
    | "busy-elsewhere"
    | "waiting-to-retry"
    | "ran"
    | "failed"
    | "stopped";
}[];

/**
 * Runs each scheduled statement once a day, after the funder's cut-off: from `schedule.after` in
 * the statement's time zone, the previous day is due until a run of it completes; a failed try
 * (the file not published yet) is tried again every `schedule.retryEvery` (default 10m). On
 * PostgreSQL one node at a time per date: each statement and date is checked under its own
 * transaction-scoped advisory lock that other nodes try and skip, so a date that hangs or fails
 * holds no other; a node that checks after another finished finds the run done.
 */
export class ReconcileSchedule {
  readonly #options: ReconcileScheduleOptions;
  readonly #store: ReconcileStore;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<ScheduleCheck> | undefined;
  /** When a statement and date last failed on this node (the file not published yet). */
  readonly #failedAt = new Map<string, number>();
  /** Stored stops this node has said (once per stop, also after a restart). */
  readonly #toldStops = new Set<string>();

  constructor(options: ReconcileScheduleOptions) {
    this.#options = options;
    this.#store = new ReconcileStore(options.db);
  }

  /** Checks now, then every `checkEveryMs`, until `stop()`. */
  start(): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      this.#checking ??= this.check()
        .then((check) => {
          this.#options.onCheck?.(check);
          return check;
        })
        .finally(() => {
          this.#checking = undefined;
        });
      this.#checking.catch(() => {});
    };
    tick();
    this.#timer = setInterval(tick, this.#options.checkEveryMs ?? 60_000);
    this.#timer.unref?.();
  }

  /** Stops checking and waits for a check under way. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking?.catch(() => {});
  }

  /** One pass over the scheduled statements. */
  async check(): Promise<ScheduleCheck> {
    const result: ScheduleCheck = [];
    for (const statement of this.#options.statements) {
      if (statement.schedule === undefined) continue;
      const name = `${statement.channel}/${statement.code}`;
      const dates = this.dueDates(statement);
      const latest = dates.at(-1);
      if (latest === undefined) {
        result.push({ statement: name, outcome: "not-due" });
        continue;
      }
      // Each date on its own: its own turn (lock and transaction), its own outcome. A date that
      // fails, even unexpectedly, is recorded and the later dates are still checked; a date
      // another node is on (a slow download) does not hold the others.
      const checked: ScheduleCheck = [];
      for (const businessDate of dates) {
        const outcome = await this.#withTurn(`reconcile:${name}:${businessDate}`, () =>
          this.#checkStatement(statement, businessDate),
        ).catch((error: unknown) => {
          this.#failedAt.set(`${name}/${businessDate}`, this.#now().getTime());
          this.#report({ statement, businessDate, error });
          return "failed" as const;
        });
        const said = outcome ?? "busy-elsewhere";
        if (said !== "done-before") checked.push({ statement: name, businessDate, outcome: said });
      }
      if (checked.length === 0) {
        result.push({ statement: name, businessDate: latest, outcome: "done-before" });
      } else {
        result.push(...checked);
      }
    }
    return result;
  }

  /**
   * The business dates due now, oldest first: the last `schedule.lookBackDays` (default 7) days
   * up to yesterday in the funder's zone, yesterday only once past `after`. A date is checked
   * until a run of it completes, so a file that came after the next day's cut-off, or a day no
   * node was up, is still reconciled.
   */
  dueDates(statement: StatementDefinition): string[] {
    const latest = this.dueDate(statement);
    const now = DateTime.fromJSDate((this.#options.now ?? (() => new Date()))(), {
      zone: statement.timeZone,
    });
    const yesterday = now.minus({ days: 1 }).startOf("day");
    const lookBack = statement.schedule?.lookBackDays ?? defaultLookBackDays;
    const dates: string[] = [];
    for (let back = lookBack - 1; back >= 0; back--) {
      const date = yesterday.minus({ days: back }).toISODate()!;
      if (back > 0 || date === latest) dates.push(date);
    }
    return dates;
  }

  /** The business date due now (yesterday in the funder's zone, once past `after`), if any. */
  dueDate(statement: StatementDefinition): string | undefined {
    const now = DateTime.fromJSDate((this.#options.now ?? (() => new Date()))(), {
      zone: statement.timeZone,
    });
    const [hour, minute] = (statement.schedule?.after ?? "00:00").split(":").map(Number);
    const cutOff = now.startOf("day").set({ hour: hour ?? 0, minute: minute ?? 0 });
    if (now < cutOff) return undefined;
    return now.minus({ days: 1 }).toISODate()!;
  }

  async #checkStatement(
    statement: StatementDefinition,
    businessDate: string,
  ): Promise<ScheduleCheck[number]["outcome"]> {
    if (await this.#completed(statement, businessDate)) return "done-before";
    const now = (this.#options.now ?? (() => new Date()))();
    const retryMs = parseEvery(statement.schedule?.retryEvery ?? "10m");
    const tried = `${statement.channel}/${statement.code}/${businessDate}`;
    const name = `${statement.channel}/${statement.code}`;
    const identity = {
      channel: statement.channel,
      statement: statement.code,
      definitionDigest: statementDigest(statement),
    };
    // Stopped (by this node before a restart, or by another): left alone until an operator
    // clears the stop or the definition changes. Said once per node, alerted once in all.
    const stopped = await this.#store.openStop(identity);
    if (stopped !== undefined) {
      if (!this.#toldStops.has(stopped.id)) {
        this.#toldStops.add(stopped.id);
        this.#report({
          statement,
          businessDate,
          error: new CapflowError(
            stopped.error.code as ErrorCode,
            `${stopped.error.message} (stopped since ${stopped.stoppedAt})`,
            { retryable: false },
          ),
          stopped: true,
        });
      }
      return "stopped";
    }
    const failedAt = this.#failedAt.get(tried);
    if (failedAt !== undefined && now.getTime() - failedAt < retryMs) return "waiting-to-retry";
    const {
      db,
      statements: _s,
      checkEveryMs: _c,
      onRun: _r,
      onCheck: _k,
      now: clock,
      stoppedAlertRule,
      ...fetchOptions
    } = this.#options;
    try {
      const result = await runReconciliation({
        ...fetchOptions,
        db,
        statement,
        businessDate,
        startedBy: "schedule",
        ...(clock === undefined ? {} : { now: clock }),
      });
      this.#report({ statement, businessDate, result });
      // Stops of an earlier definition are over: this one reconciles.
      await this.#store
        .clearSupersededStops({ ...identity, businessDate, now: this.#now() })
        .catch(() => {});
      return "ran";
    } catch (error) {
      if (mustStop(error)) {
        const message = error instanceof Error ? error.message : String(error);
        // Stored before anything is said: a node that restarts, or another, finds it.
        const { stop, recorded } = await this.#store.stopStatement({
          ...identity,
          businessDate,
          error: { code: error instanceof CapflowError ? error.code : "INTERNAL", message },
          now: this.#now(),
        });
        this.#toldStops.add(stop.id);
        this.#report({ statement, businessDate, error, stopped: true });
        if (recorded) {
          await this.#options.alerts
            ?.raise?.(
              stoppedAlertRule ?? "reconciliation-stopped",
              name,
              `${name} ${businessDate}: reconciliation stopped, not tried again until an operator clears the stop or the definition changes: ${message}`,
              { channel: statement.channel, statement: statement.code, businessDate },
            )
            .catch(() => {});
        }
        return "stopped";
      }
      this.#failedAt.set(tried, now.getTime());
      this.#report({ statement, businessDate, error });
      return "failed";
    }
  }

  #now(): Date {
    return (this.#options.now ?? (() => new Date()))();
  }

  /** Tells `onRun`; a hook that throws (a log sink down) changes no outcome. */
  #report(event: ScheduledRunEvent): void {
    try {
      this.#options.onRun?.(event);
    } catch {
      // The outcome is kept (and stored, for a run); the hook's own failure is its to report.
    }
  }

  async #completed(statement: StatementDefinition, businessDate: string): Promise<boolean> {
    const runs = await this.#store.listRuns({
      channel: statement.channel,
      statement: statement.code,
      businessDate,
      limit: 20,
    });
    return runs.some((run) => run.state === "completed");
  }

  /**
   * Runs `work` if no other node is doing it: a transaction-scoped advisory lock on PostgreSQL
   * (released when the transaction ends, or the connection drops); PGlite serves one process.
   */
  async #withTurn<T>(key: string, work: () => Promise<T>): Promise<T | undefined> {
    const db = this.#options.db;
    if (db.target.startsWith("PGlite")) return work();
    return db.knex.transaction(async (tx) => {
      const locked = await tx.raw(
        "SELECT pg_try_advisory_xact_lock(hashtext('capflow'), hashtext(?)) AS ok",
        [`${db.schema}:${key}`],
      );
      if ((locked.rows[0] as { ok: boolean }).ok !== true) return undefined;
      return work();
    });
  }
}

/**
 * Whether trying again later cannot help: a source that refuses for good (a host key that is not
 * the pinned one: a server that may not be the funder's), a definition that does not hold. An
 * unreadable file is tried again (the funder may publish a corrected one), and so is a run
 * another node took over (it finishes it; the next check finds it done).
 */
function mustStop(error: unknown): boolean {
  if (!(error instanceof CapflowError)) return false;
  return (
    error.code === "STATEMENT_INVALID" ||
    (error.code === "STATEMENT_UNAVAILABLE" && !error.retryable)
  );
}

/** How many business dates, up to yesterday, a schedule keeps checking by default. */
const defaultLookBackDays = 7;

function parseEvery(text: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(text);
  if (match === null) return 10 * 60_000;
  const unit = match[2] === "s" ? 1000 : match[2] === "m" ? 60_000 : 3_600_000;
  return Number(match[1]) * unit;
}
