import { randomUUID } from "node:crypto";
import { Agent, request } from "undici";
import { CapflowError } from "../errors.ts";
import { systemClock } from "../memory/system-clock.ts";
import type { Clock } from "../ports/clock.ts";
import type { StoredError } from "../ports/instance-store.ts";
import type { NotificationRecord, NotificationType, OutboxStore } from "../ports/outbox-store.ts";
import { type NotificationSigner, signedContent } from "./notification-signer.ts";
import type { NotificationTargets } from "./notification-targets.ts";
import { publicBody } from "./public-body.ts";

/**
 * The waits before each delivery attempt, in seconds: at once when the change commits, then 15 s,
 * 15 s, 30 s, 3 min, 30 min (four times) and 1 h after each failed attempt; then it fails.
 */
export const defaultNotificationSchedule: readonly number[] = [
  0, 15, 15, 30, 180, 1800, 1800, 1800, 1800, 3600,
];

export interface OutboxDispatcherOptions {
  store: OutboxStore;
  targets: NotificationTargets;
  signer: NotificationSigner;
  /**
   * Waits before each attempt in seconds; the first must be 0 (a notification is due when its
   * change commits). Its length is the number of attempts before the notification fails.
   * Default {@link defaultNotificationSchedule}.
   */
  retrySchedule?: readonly number[];
  /** Names this dispatcher in leases. Default: a random id. */
  owner?: string;
  /** How long a claimed notification is leased; a dispatcher that dies is replaced after it. Default 60 s. */
  leaseMs?: number;
  /** How long one delivery may take, connection to answer. Must be below `leaseMs`. Default 10 s. */
  timeoutMs?: number;
  /**
   * Deliveries in flight at once. A running dispatcher claims as slots free up, so one slow
   * delivery holds only its own slot; `deliverDue` claims this many per round. Default 16.
   */
  batchSize?: number;
  /**
   * Deliveries in flight at once to one target (an upstream client's URL), so a receiver that
   * hangs until the timeout leaves the other slots to the other clients. Default three quarters
   * of `batchSize`, at most `batchSize`.
   */
  perTarget?: number;
  /** Wait after a round that found nothing due. Default 1 s. */
  idleMs?: number;
  clock?: Clock;
  /** After each attempt: for logs and metrics. A throwing listener is ignored. */
  onEvent?: (event: OutboxEvent) => void;
  /** Errors a round could not handle (e.g. the store is down); the loop goes on after `idleMs`. */
  onError?: (error: unknown) => void;
}

/** What each delivery attempt came to. */
export type OutboxEvent =
  | {
      type: "notification.delivered";
      id: string;
      instanceId: string;
      notificationType: NotificationType;
      attempts: number;
      httpStatus: number;
      durationMs: number;
    }
  | {
      type: "notification.failed";
      id: string;
      instanceId: string;
      notificationType: NotificationType;
      attempts: number;
      code: string;
      httpStatus?: number;
      /** False: the schedule ran out and the notification is `failed` until an operator re-sends it. */
      willRetry: boolean;
      durationMs: number;
    };

/** The headers every delivery carries (lower case, as HTTP/2 and Node report them). */
export const notificationHeaders = {
  eventId: "capflow-event-id",
  eventType: "capflow-event-type",
  timestamp: "capflow-timestamp",
  signature: "capflow-signature",
  algorithm: "capflow-signature-algorithm",
  keyId: "capflow-key-id",
  attempt: "capflow-attempt",
} as const;

/** Bytes of a receiver's answer read at most (the answer is not used beyond its status). */
const maxAnswerBytes = 64 * 1024;

/**
 * Delivers the outbox: claims due notifications with a lease, POSTs each as JSON signed with
 * capflow's key, records 2xx as delivered and anything else as a failed attempt retried on the
 * schedule. At least once: a dispatcher that dies mid-delivery leaves its lease to expire and the
 * notification is delivered again, with the same event id, for the receiver to deduplicate.
 */
export class OutboxDispatcher {
  readonly owner: string;
  readonly #store: OutboxStore;
  readonly #targets: NotificationTargets;
  readonly #signer: NotificationSigner;
  readonly #scheduleMs: readonly number[];
  readonly #leaseMs: number;
  readonly #timeoutMs: number;
  readonly #batchSize: number;
  readonly #perTarget: number;
  readonly #idleMs: number;
  readonly #clock: Clock;
  readonly #onEvent: ((event: OutboxEvent) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #agent: Agent;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: OutboxDispatcherOptions) {
    const schedule = options.retrySchedule ?? defaultNotificationSchedule;
    if (
      schedule.length === 0 ||
      schedule[0] !== 0 ||
      schedule.some((s) => !Number.isFinite(s) || s < 0)
    ) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `the notification retry schedule must start with 0 (due when the change commits) and list waits in seconds, not ${JSON.stringify(schedule)}`,
      );
    }
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    if (this.#timeoutMs >= this.#leaseMs) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `the notification timeout (${this.#timeoutMs} ms) must be below the lease (${this.#leaseMs} ms), or a slow receiver would get the same notification from two dispatchers at once`,
      );
    }
    this.owner = options.owner ?? `outbox-${randomUUID().slice(0, 8)}`;
    this.#store = options.store;
    this.#targets = options.targets;
    this.#signer = options.signer;
    this.#scheduleMs = schedule.map((seconds) => seconds * 1000);
    this.#batchSize = Math.max(1, options.batchSize ?? 16);
    this.#perTarget = Math.min(
      this.#batchSize,
      Math.max(1, options.perTarget ?? Math.ceil((this.#batchSize * 3) / 4)),
    );
    this.#idleMs = options.idleMs ?? 1_000;
    this.#clock = options.clock ?? systemClock;
    this.#onEvent = options.onEvent;
    this.#onError = options.onError;
    this.#agent = new Agent({ connect: { timeout: this.#timeoutMs }, keepAliveTimeout: 4_000 });
  }

  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** One round: claims the due notifications and delivers them. Returns how many it tried. */
  async deliverDue(): Promise<number> {
    const claimed = await this.#claim(this.#batchSize);
    await Promise.all(claimed.map((notification) => this.#attempt(notification)));
    return claimed.length;
  }

  /**
   * Claims up to `limit`; with `inFlight` (what a running dispatcher holds per target), no target
   * past its share: targets at their share are left out of the scan, the others get the room they
   * have left.
   */
  #claim(
    limit: number,
    inFlight?: ReadonlyMap<string | null, number>,
  ): Promise<NotificationRecord[]> {
    const held = [...(inFlight ?? [])];
    const skipTargets = held.filter(([, n]) => n >= this.#perTarget).map(([target]) => target);
    const partial = held
      .filter(([, n]) => n < this.#perTarget)
      .map(([target, count]) => ({ target, count }));
    return this.#store.claimNotifications({
      owner: this.owner,
      now: this.#clock.now(),
      leaseMs: this.#leaseMs,
      limit,
      scheduleMs: this.#scheduleMs,
      ...(skipTargets.length === 0 ? {} : { skipTargets }),
      ...(inFlight === undefined
        ? {}
        : {
            perTarget: {
              limit: this.#perTarget,
              ...(partial.length === 0 ? {} : { inFlight: partial }),
            },
          }),
    });
  }

  #attempt(notification: NotificationRecord): Promise<void> {
    return notification.attempts > this.#scheduleMs.length
      ? this.#abandon(notification)
      : this.#deliver(notification);
  }

  /**
   * A notification claimed past its schedule: the attempts it was claimed for were never recorded,
   * so whatever delivers it kills its dispatcher. It fails without another post, for an operator
   * to look at and re-send.
   */
  async #abandon(notification: NotificationRecord): Promise<void> {
    const now = this.#clock.now();
    const attempts = notification.attempts - 1;
    const code = "NOTIFICATION_DELIVERY_ABANDONED";
    await this.#store.recordDelivery({
      id: notification.id,
      owner: this.owner,
      now,
      delivered: false,
      error: {
        code,
        message: `the schedule's ${this.#scheduleMs.length} attempts were used up (${attempts} claimed) without a result recorded for the last: a dispatcher died or stopped during each delivery; check the dispatchers' logs, then re-send`,
      },
      nextAttemptAt: null,
    });
    this.#emit({
      type: "notification.failed",
      id: notification.id,
      instanceId: notification.instanceId,
      notificationType: notification.type,
      attempts,
      code,
      willRetry: false,
      durationMs: 0,
    });
  }

  /** Delivers rounds until nothing is due (or `deadlineMs` passed): a graceful stop's flush. */
  async flush(deadlineMs = 10_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && (await this.deliverDue()) > 0) {}
  }

  /** Runs rounds in a loop until `stop()`. */
  start(): this {
    if (this.#loop) return this;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal);
    return this;
  }

  /** Stops claiming; resolves when the deliveries in flight are recorded. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  /** Stops, and closes the HTTP connections. */
  async close(): Promise<void> {
    await this.stop();
    await this.#agent.close();
  }

  /**
   * Claims into free slots: again at once while claims fill them, else when a delivery ends or
   * `idleMs` passes (a notification that became due meanwhile waits at most that long). A target
   * with `perTarget` deliveries in flight is left out of the claim until one of them ends.
   */
  async #run(signal: AbortSignal): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    const perTarget = new Map<string | null, number>();
    let tick: Promise<void> | undefined;
    // One timer shared by every wait of a period, not one per delivery that ends.
    const nextTick = () => {
      tick ??= this.#clock
        .sleep(this.#idleMs, signal)
        .catch(() => {})
        .finally(() => {
          tick = undefined;
        });
      return tick;
    };
    while (!signal.aborted) {
      // The claim fills the free slots, no target past its share (the store counts per target).
      const limit = this.#batchSize - inFlight.size;
      let claimed: NotificationRecord[] = [];
      if (limit > 0) {
        try {
          claimed = await this.#claim(limit, perTarget);
        } catch (error) {
          report(this.#onError, error);
        }
      }
      // A claim that took a target to its share may have left other targets' due notifications
      // unread behind that target's: claim again at once, without it.
      let reachedShare = false;
      for (const notification of claimed) {
        const target = notification.target;
        const held = (perTarget.get(target) ?? 0) + 1;
        perTarget.set(target, held);
        if (held >= this.#perTarget) reachedShare = true;
        const delivery: Promise<void> = this.#attempt(notification)
          .catch((error: unknown) => report(this.#onError, error))
          .finally(() => {
            inFlight.delete(delivery);
            const left = (perTarget.get(target) ?? 1) - 1;
            if (left === 0) perTarget.delete(target);
            else perTarget.set(target, left);
          });
        inFlight.add(delivery);
      }
      if (signal.aborted) break;
      if (limit > 0 && (claimed.length === limit || reachedShare)) continue;
      await Promise.race([nextTick(), ...inFlight]);
    }
    await Promise.all(inFlight);
  }

  async #deliver(notification: NotificationRecord): Promise<void> {
    const started = performance.now();
    let httpStatus: number | undefined;
    let failure: StoredError;
    try {
      const url = await this.#targets.resolve(notification);
      if (url === undefined) {
        throw new CapflowError(
          "NOTIFICATION_TARGET_MISSING",
          `no URL is configured for notifications${notification.target === null ? "" : ` of ${notification.target}`}; configure one, then re-send`,
        );
      }
      httpStatus = await this.#post(url, notification);
      if (httpStatus >= 200 && httpStatus < 300) {
        await this.#store.recordDelivery({
          id: notification.id,
          owner: this.owner,
          now: this.#clock.now(),
          delivered: true,
        });
        this.#emit({
          type: "notification.delivered",
          id: notification.id,
          instanceId: notification.instanceId,
          notificationType: notification.type,
          attempts: notification.attempts,
          httpStatus,
          durationMs: performance.now() - started,
        });
        return;
      }
      failure = {
        code: "NOTIFICATION_DELIVERY_FAILED",
        message: `the receiver answered ${httpStatus}, not 2xx`,
      };
    } catch (error) {
      failure =
        error instanceof CapflowError
          ? { code: error.code, message: error.message }
          : { code: "NOTIFICATION_DELIVERY_FAILED", message: describeNetworkError(error) };
    }
    // The claim counted this attempt: wait the schedule's next entry, or give up.
    const now = this.#clock.now();
    const wait = this.#scheduleMs[notification.attempts];
    const nextAttemptAt = wait === undefined ? null : now + wait;
    await this.#store.recordDelivery({
      id: notification.id,
      owner: this.owner,
      now,
      delivered: false,
      error: failure,
      nextAttemptAt,
    });
    this.#emit({
      type: "notification.failed",
      id: notification.id,
      instanceId: notification.instanceId,
      notificationType: notification.type,
      attempts: notification.attempts,
      code: failure.code,
      ...(httpStatus === undefined ? {} : { httpStatus }),
      willRetry: nextAttemptAt !== null,
      durationMs: performance.now() - started,
    });
  }

  /** POSTs the notification signed; returns the answer's status. */
  async #post(url: string, notification: NotificationRecord): Promise<number> {
    // Public whatever wrote the row; the event id (payload.id) is the stored one.
    const body = JSON.stringify(publicBody(notification.payload));
    const timestamp = Math.floor(this.#clock.now() / 1000);
    const signature = await this.#signer.sign(signedContent(timestamp, notification.id, body));
    const headers: Record<string, string> = {
      "content-type": "application/json; charset=utf-8",
      [notificationHeaders.eventId]: notification.id,
      [notificationHeaders.eventType]: notification.type,
      [notificationHeaders.timestamp]: String(timestamp),
      [notificationHeaders.signature]: signature.toString("base64"),
      [notificationHeaders.algorithm]: this.#signer.algorithm,
      [notificationHeaders.attempt]: String(notification.attempts),
    };
    if (this.#signer.keyId !== undefined) headers[notificationHeaders.keyId] = this.#signer.keyId;
    const response = await request(url, {
      method: "POST",
      headers,
      body,
      dispatcher: this.#agent,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await response.body.dump({ limit: maxAnswerBytes }).catch(() => {});
    return response.statusCode;
  }

  #emit(event: OutboxEvent): void {
    try {
      this.#onEvent?.(event);
    } catch {
      // A listener's failure never affects delivery.
    }
  }
}

/** A network failure in words, without the URL (it may carry a token in its query). */
function describeNetworkError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError" || code === "UND_ERR_HEADERS_TIMEOUT")
    return "the receiver did not answer in time";
  if (code === "UND_ERR_CONNECT_TIMEOUT") return "could not connect to the receiver in time";
  if (code === "ECONNREFUSED") return "the receiver refused the connection";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET")
    return "the connection was lost before the receiver answered";
  if (code === "ENOTFOUND") return "the receiver's host name does not resolve";
  return `the delivery failed: ${typeof code === "string" ? code : name || "unknown error"}`;
}

function report(onError: ((error: unknown) => void) | undefined, error: unknown): void {
  try {
    onError?.(error);
  } catch {
    // The loop goes on.
  }
}
