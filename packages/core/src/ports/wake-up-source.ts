/**
 * Tells workers that an instance may have become due (started, woken by a stored callback, given
 * back, or a retry coming due within seconds), so they claim at once instead of at their next
 * poll. A hint, never the source of truth: a notice may be lost (a dropped connection) or name an
 * instance another worker claims first, and workers keep polling as the fallback. The knex store
 * implements it with PostgreSQL `LISTEN`/`NOTIFY`.
 */
export interface WakeUpSource {
  /**
   * Calls `onWakeUp` for every notice until the subscription is closed; resolves once listening.
   * After a lost connection the source reconnects by itself and sends one notice without details
   * (something may have come due meanwhile).
   */
  listen(onWakeUp: (wakeUp: WakeUp) => void): Promise<WakeUpSubscription>;
}

export interface WakeUp {
  /** The instance's channel, when known (workers dedicated to other channels ignore it). */
  channel?: string;
  /** When the instance is due (epoch ms); absent or past: now. */
  at?: number;
}

export interface WakeUpSubscription {
  close(): Promise<void>;
}
