/**
 * Alerts and their history (migration 0011 in @capflow/store-knex). One alert is open per rule and
 * subject at a time, whichever node raises it: that is the deduplication.
 */
export interface AlertStore {
  /** Opens an alert unless one is open for its rule and subject; `opened` says which happened. */
  openAlert(alert: NewAlert): Promise<{ alert: AlertRecord; opened: boolean }>;
  /**
   * Raises an alert of a `raised` rule: opens it as `openAlert` does unless one is open for its
   * rule and subject, and either way records `firedAt` as the open alert's last raise
   * (`lastRaisedAt`, the latest kept), in one statement. The last raise is kept with the alert, not
   * in the raising node, so the node that evaluates clears it `clearAfter` after any node's last raise.
   */
  raiseAlert(alert: NewAlert): Promise<{ alert: AlertRecord; opened: boolean }>;
  /**
   * Resolves the open alert of a rule and subject; undefined when none was open. With
   * `raisedBefore`, only when its last raise (its firing, for one never raised) is at or before
   * it: a raise by another node meanwhile keeps it open.
   */
  resolveAlert(
    rule: string,
    subject: string,
    at: number,
    options?: { raisedBefore?: number },
  ): Promise<AlertRecord | undefined>;
  /** Alerts, newest first. */
  listAlerts(filter?: AlertFilter): Promise<AlertRecord[]>;
  /** Records what happened to a notification of an alert; `sent` also sets `lastNotifiedAt`. */
  recordNotification(notification: AlertNotification): Promise<void>;
  /** An alert's history (fired, notified, suppressed, failed, resolved), oldest first. */
  alertHistory(alertId: string): Promise<AlertHistoryEntry[]>;
}

export type AlertSeverity = "critical" | "warning" | "info";

export interface NewAlert {
  id: string;
  rule: string;
  /** What the alert is about: `lanbank/loan.apply`, `lanbank`, `outbox`. */
  subject: string;
  severity: AlertSeverity;
  summary: string;
  details: Record<string, unknown>;
  firedAt: number;
}

export interface AlertRecord extends NewAlert {
  status: "firing" | "resolved";
  resolvedAt: number | null;
  lastNotifiedAt: number | null;
  /** A `raised` rule's alert: when any node last raised it (`raiseAlert`). */
  lastRaisedAt?: number;
}

export interface AlertFilter {
  status?: "firing" | "resolved";
  limit?: number;
}

export interface AlertNotification {
  alertId: string;
  sink: string;
  at: number;
  outcome: "sent" | "failed" | "suppressed";
  /** The alert's state the notification told: firing or resolved. */
  state: "firing" | "resolved";
  detail?: string;
}

export interface AlertHistoryEntry {
  alertId: string;
  at: number;
  event: "fired" | "resolved" | "sent" | "failed" | "suppressed";
  sink: string | null;
  detail: string | null;
}
