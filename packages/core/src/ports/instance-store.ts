import type { TerminalOutcome } from "../definition/types.ts";
import type { SealedRawMessage } from "../engine/raw-message-keyring.ts";
import type { NewNotification } from "./outbox-store.ts";
import type {
  QuotaHold,
  QuotaHoldState,
  QuotaKey,
  QuotaReservation,
  QuotaUsage,
  RoutingRecord,
} from "./routing.ts";

/**
 * Persistence of instances, their step logs and the callback inbox. PostgreSQL (through
 * @capflow/store-knex) is the production implementation and the queue; `MemoryInstanceStore` is
 * the in-process one. Every implementation passes the contract suite in @capflow/testkit.
 *
 * The safety rule (concepts.md, "The money rules"): every state change is `commitTransition`, a compare-and-set on
 * `version` in the same transaction as its step log. Leases and locks only reduce contention.
 */
export interface InstanceStore {
  /**
   * Creates the instance, or returns the existing one with the same (channel, behavior,
   * businessKey) and `created: false`. Must rely on a unique constraint, not check-then-insert.
   *
   * `keyProducts`, the products that list this channel (under any behavior): when an instance of
   * one of them already holds the business key, nothing is written and that instance is returned
   * (`created: false`, on another channel or behavior). Checked atomically with the
   * insert against every other guarded creation of the key (see `createRoutedInstance`).
   */
  createInstance(
    instance: NewInstance,
    keyProducts?: readonly string[],
  ): Promise<{ instance: InstanceRecord; created: boolean }>;
  getInstance(id: string): Promise<InstanceRecord | undefined>;
  findInstance(key: BusinessKeyRef): Promise<InstanceRecord | undefined>;
  /**
   * Instances matching the filter, oldest first by (createdAt, id). `after` continues a listing
   * after its last row (keyset paging), so rows that stay in the filter never hide the ones behind.
   */
  listInstances(filter: InstanceFilter): Promise<InstanceRecord[]>;
  /**
   * Unsettled instances (active or waiting) counted per channel, behavior, pinned version and
   * step, with a few examples each (oldest first): what running instances still need from the
   * definitions, for the impact analysis of a push.
   */
  unsettledByStep(filter?: { channels?: string[] }): Promise<UnsettledStepCount[]>;

  /**
   * Leases up to `limit` due instances (not settled, `nextRunAt <= now`, lease free or expired)
   * to `owner` until `now + leaseMs`, each claimed by exactly one caller.
   */
  claimDue(request: ClaimRequest): Promise<InstanceRecord[]>;
  /** Releases a lease without changing anything else (a worker giving work back on shutdown). */
  releaseLease(id: string, owner: string): Promise<void>;

  /**
   * Applies a transition if the instance still has `expectedVersion`; increments the version,
   * writes the step log, marks consumed inbox entries processed, all in one transaction.
   * Throws `CapflowError` `STORE_CONFLICT`, changing nothing, if the version moved (the caller
   * lost ownership) or if an entry of `consumedInbox` was processed already (another instance
   * applied that notification: each is applied to one instance only).
   *
   * When the instance is left `waiting` for a callback (`waitingFor`) and unprocessed entries of
   * that callback exist for its business key, `nextRunAt` becomes `now`, so a callback that raced
   * the commit is not left until the deadline.
   *
   * A flow-control refusal's transition (`changes.refusals`, no `log`) writes no history entry;
   * any other commit first writes the refusals the instance holds as one entry at the version they
   * reached (id `refusalEntryId`, see `RefusalRun`), then its own, and clears them.
   */
  commitTransition(transition: Transition): Promise<InstanceRecord>;
  history(instanceId: string): Promise<StepLogEntry[]>;
  /**
   * Notifications recorded after their instance had settled (history entries whose outcome starts
   * with `late:`, see `sweepInbox`), newest first; `before` continues after the last one read.
   */
  lateNotifications(request: LateNotificationsRequest): Promise<StepLogEntry[]>;

  /**
   * Creates a product's instance (`product` and `routing` set) and reserves its quotas
   * (`routing.quotas`) in one transaction, with a `routed` history entry. A product's business key
   * starts once: when its first instance exists, nothing is written and the newest instance of
   * that business is returned (`existing`). A quota without room writes nothing either
   * (`quota-exhausted`, naming it), nor does a (channel, behavior, businessKey) already taken by
   * another start (`business-key-taken`). Reservations are atomic across every node: no quota is
   * ever exceeded, by one start or by one fen.
   *
   * `keyChannels`, the product's channels: an instance not of this product holding the business
   * key on any of them, under any behavior (only `channel` is read), is `business-key-taken` too. The check and the insert are atomic against
   * every other guarded creation of the same business key (a channel start given `keyProducts`,
   * a failover's `spawnKeyChannels`), so two loans for one business never both start.
   */
  createRoutedInstance(
    instance: NewInstance,
    keyChannels?: readonly ChannelBehavior[],
  ): Promise<RoutedCreation>;
  /** The newest instance started for a product's business key (failover makes several). */
  findProductInstance(key: {
    product: string;
    businessKey: string;
  }): Promise<InstanceRecord | undefined>;
  /** The newest instance of a customer, of a product or on a channel: for sticky and alternating routing. */
  lastCustomerInstance(query: CustomerQuery): Promise<InstanceRecord | undefined>;
  /** The next value of a product's routing counter (1, 2, 3 …), shared by every node. */
  nextRoutingPosition(product: string): Promise<number>;
  /** Usage of these quotas; a quota nothing was reserved in yet is left out. */
  quotaUsage(keys: readonly QuotaKey[]): Promise<QuotaUsage[]>;
  /** The quota holds of one instance. */
  quotaHolds(instanceId: string): Promise<QuotaHold[]>;

  /**
   * Stores an inbound callback before it is processed (insert-only). A second callback with the
   * same (channel, callback, account, dedupeKey) returns the first entry with `duplicate: true`;
   * accounts number their notifications on their own, and no account (null) is one more.
   */
  insertInbox(entry: NewInboxEntry): Promise<{ entry: InboxEntry; duplicate: boolean }>;
  /**
   * Unprocessed inbox entries for one business key and channel account (null: none), oldest
   * first. When the instance is left `waiting`, only its account's entries make it due at once.
   */
  pendingInbox(key: PendingInboxKey): Promise<InboxEntry[]>;
  /**
   * Unprocessed inbox entries of any business key received before `receivedBefore`, oldest
   * first: notifications no step consumed (they came after the instance settled, or for a business
   * key with no instance). The engine's inbox sweep reads them. `after` continues a listing from
   * its last entry (keyset paging), so entries that stay, unmatched, never hide those behind them.
   */
  staleInbox(request: StaleInboxRequest): Promise<InboxEntry[]>;
  /**
   * Makes instances with this business key that wait for this callback (`waitingFor`) due now,
   * after an inbox insert. Nothing else moves: not a parked call, a delay or a poll's schedule.
   */
  wake(request: WakeRequest): Promise<void>;

  close(): Promise<void>;
}

/** `active`: the engine will run the current step when due; `waiting`: for a callback or poll. */
export type InstanceStatus = "active" | "waiting" | TerminalOutcome;

export const settledStatuses: readonly InstanceStatus[] = [
  "succeeded",
  "failed",
  "manual",
  "cancelled",
];

export function isSettled(status: InstanceStatus): boolean {
  return settledStatuses.includes(status);
}

export interface BusinessKeyRef {
  channel: string;
  behavior: string;
  businessKey: string;
}

/** A behavior of a channel: where a business key is unique. */
export interface ChannelBehavior {
  channel: string;
  behavior: string;
}

export type RoutedCreation =
  | { outcome: "created"; instance: InstanceRecord }
  | { outcome: "existing"; instance: InstanceRecord }
  | { outcome: "quota-exhausted"; quota: QuotaKey }
  | { outcome: "business-key-taken"; instance: InstanceRecord };

export interface CustomerQuery {
  customerRef: string;
  product?: string;
  channel?: string;
}

export interface NewInstance extends BusinessKeyRef {
  id: string;
  behaviorVersion: number;
  /** Digest of the input, so a second start with different input is detected. */
  inputDigest: string;
  input: unknown;
  step: string;
  status: InstanceStatus;
  context: Record<string, unknown>;
  /** Persisted state-machine snapshot. */
  snapshot: unknown;
  nextRunAt: number | null;
  /** The callback it waits for, when it starts at a callback step. */
  waitingFor?: string | null;
  /** The product it was routed for; absent when started on a channel directly. */
  product?: string | null;
  /** The channel account it uses for life (keys, values, quotas); absent without accounts. */
  account?: string | null;
  /** A digest of the product's customer id, for sticky and alternating routing. */
  customerRef?: string | null;
  /** The instance of the same business this one replaces on another channel (failover). */
  failoverOf?: string | null;
  /** Why routing chose this channel. */
  routing?: RoutingRecord | null;
  /**
   * The W3C trace context of the request that started it (`00-<trace id>-<span id>-<flags>`):
   * its steps' spans join that trace.
   */
  traceparent?: string | null;
  /**
   * The upstream client that started it through the intake API (its id): notifications about
   * the instance name it as their target, so they go to that client's `notify.url`.
   */
  upstreamClient?: string | null;
  /**
   * The operator who started it by hand, and why. The store records them in the instance's first
   * history entry (`started`, or `routed` for a product's start) in the insert's commit; they are
   * not kept on the instance itself.
   */
  startedBy?: { who: string; why: string } | null;
  now: number;
}

export interface InstanceRecord extends NewInstance {
  /** Compare-and-set counter; starts at 1. */
  version: number;
  /** Attempts made at the current step (0 before the first). */
  attempt: number;
  /**
   * Set while a non-idempotent call is possibly in flight: the intent was recorded before sending.
   * A worker that finds it set after a crash must not resend; it goes to the unknown-outcome step.
   */
  inFlight: InFlightCall | null;
  /**
   * The callback a `waiting` instance waits for at a callback step; null otherwise. Storing that
   * callback wakes the instance (`wake`); no other notification does.
   */
  waitingFor: string | null;
  lastError: StoredError | null;
  /**
   * Refusals of the current step by flow control since the instance's last history entry: each
   * refusal only reschedules the instance and counts here, and the next commit that writes a
   * history entry writes this summary before it (see `RefusalRun`). Null when there are none.
   */
  refusals: RefusalRun | null;
  product: string | null;
  account: string | null;
  customerRef: string | null;
  failoverOf: string | null;
  routing: RoutingRecord | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface InFlightCall {
  step: string;
  attempt: number;
  serial: string;
  startedAt: number;
  /**
   * The partner's answer proved this attempt was not processed (a status mapped `notProcessed`):
   * the next run resends it with the same serial instead of querying.
   */
  notProcessed?: boolean;
  /**
   * How many times a recovery query resent this attempt after proving the partner never got it
   * (`onNotReceived`); bounded by the interface's `deduplicatesSerial.maxResends`.
   */
  resends?: number;
}

/**
 * Consecutive refusals of one step by flow control (circuit open, bulkhead full, concurrency or
 * rate limit reached, limiter unreachable), summarised. The call was never sent: the step is
 * delayed, and a long refusal period costs one small field on the instance instead of a history
 * entry per retry. It becomes one history entry (event `wait`, outcome `notAdmitted:<reason>`,
 * `refusals` with the counts, started at the first refusal and lasting until the last) at the
 * version the last refusal produced, so the history keeps its order.
 */
export interface RefusalRun {
  /** The step refused (the instance's current step). */
  step: string;
  /** The instance's attempt at that step (refusals do not count as attempts). */
  attempt: number;
  /** The latest refusal's reason: `circuit-open`, `bulkhead`, `concurrency`, `rate` or `limiter-unavailable`. */
  reason: string;
  /** Refusals in the run, every reason together. */
  count: number;
  /** Refusals in the run by reason. */
  reasons: Record<string, number>;
  firstAt: number;
  lastAt: number;
}

export interface StoredError {
  code: string;
  message: string;
}

export interface InstanceFilter {
  channel?: string;
  behavior?: string;
  /** Every behavior's instance for this business key (with `channel`, an index lookup). */
  businessKey?: string;
  status?: InstanceStatus[];
  /** Only instances pinned to this behavior version. */
  behaviorVersion?: number;
  /** Only instances at this step. */
  step?: string;
  /** Only instances created before this time. */
  createdBefore?: number;
  /** Only instances not updated since this time (stuck instances). */
  updatedBefore?: number;
  /** Only instances after this one in the listing's order (the last row of the previous page). */
  after?: { createdAt: number; id: string };
  /** Only instances routed for this product (with `businessKey`: one business, failovers included). */
  product?: string;
  limit?: number;
}

/** How many unsettled instances wait at one step of one pinned behavior version. */
export interface UnsettledStepCount {
  channel: string;
  behavior: string;
  behaviorVersion: number;
  step: string;
  count: number;
  /** A few of them, oldest first. */
  examples: { id: string; businessKey: string }[];
}

export interface ClaimRequest {
  owner: string;
  now: number;
  leaseMs: number;
  limit: number;
  /** Only these channels (a worker dedicated to some funders). */
  channels?: string[];
  /**
   * Not these channels: the worker's bulkhead for them is full, so their calls would only be
   * refused. Their instances stay due for other workers, or for this one once a call returns.
   */
  skipChannels?: string[];
}

export interface Transition {
  instanceId: string;
  expectedVersion: number;
  now: number;
  changes: InstanceChanges;
  /**
   * The history entry this change writes. Only a flow-control refusal's commit (which sets
   * `changes.refusals`) has none. Any commit with an entry first writes the refusals the
   * instance holds as their summary entry, and clears them.
   */
  log?: NewStepLogEntry;
  /** Inbox entries this transition consumed (marked processed in the same transaction). */
  consumedInbox?: string[];
  /** Keep the caller's lease (the worker continues with the instance). Default false. */
  keepLease?: boolean;
  /**
   * Moves the instance's quota holds to this state in the same transaction (see `QuotaHoldState`):
   * `consumed` when the money moved, `released` when it failed before, `reserved` when reopened.
   * Reserving again takes `reopenQuotas`: a released hold never counts again on its own.
   */
  quota?: QuotaHoldState;
  /**
   * With `quota: "reserved"`: what an instance whose holds were released reserves anew, like a
   * start (the current period in the channel's time zone, the current limits), all or nothing.
   * They replace its released holds; without room the store throws `QUOTA_EXHAUSTED` and commits
   * nothing. Holds still reserved or consumed stay as they are and these are not taken.
   */
  reopenQuotas?: readonly QuotaReservation[];
  /**
   * A product instance to create in the same transaction (failover to the next channel), its
   * quotas reserved. Throws `QUOTA_EXHAUSTED` or `STORE_UNIQUE_VIOLATION`, committing nothing,
   * when it does not fit.
   */
  spawn?: NewInstance;
  /**
   * The spawn's product's channels: an instance not of that product holding the business key on
   * any of them, under any behavior, fails the transition with `STORE_UNIQUE_VIOLATION`, committing nothing (checked
   * as `createRoutedInstance` checks its `keyChannels`).
   */
  spawnKeyChannels?: readonly ChannelBehavior[];
  /**
   * A notification for the upstream to write into the outbox in the same transaction (see
   * `OutboxStore`): written exactly when the transition commits. A store without an outbox
   * ignores it; the engine writes notifications only into a store that has one.
   */
  notification?: NewNotification;
  /**
   * With `keepLease`: the lease's new end. A worker going on with the instance (the next step of
   * a chain, a call after its intent) extends the lease, so it does not run out mid-chain and let
   * another worker claim the instance while this one still works on it.
   */
  leaseUntil?: number;
  /**
   * Leaves `updatedAt` as it was: the commit is a mark on the way (the intent before a call), not
   * a change an operator sees as progress. On PostgreSQL the row is then updated in place (a HOT
   * update: `updated_at` is indexed, the columns such a mark changes are not), with no new index
   * entries. Default false.
   */
  keepUpdatedAt?: boolean;
}

export interface InstanceChanges {
  /** Only a migration to another version of the behavior changes it (see `migrateInstances`). */
  behaviorVersion?: number;
  step?: string;
  status?: InstanceStatus;
  context?: Record<string, unknown>;
  snapshot?: unknown;
  attempt?: number;
  nextRunAt?: number | null;
  inFlight?: InFlightCall | null;
  waitingFor?: string | null;
  lastError?: StoredError | null;
  /** Set only by a flow-control refusal's commit: the run of refusals the instance holds after it. */
  refusals?: RefusalRun;
}

export type StepLogEvent =
  | "started"
  | "call"
  | "poll"
  | "callback"
  | "intent"
  | "transition"
  | "wait"
  | "retry"
  | "error"
  | "operator"
  /** A product's start chose this instance's channel (the instance's first entry). */
  | "routed";

export interface NewStepLogEntry {
  step: string;
  attempt: number;
  event: StepLogEvent;
  fromStep?: string;
  toStep?: string;
  fromStatus?: InstanceStatus;
  toStatus?: InstanceStatus;
  /** Canonical outcome (`succeeded`, `processing`…) or failure class (`notSent`…). */
  outcome?: string;
  /** Masked request (method, path, headers, body) as sent. */
  request?: unknown;
  /** Masked, opened response. */
  response?: unknown;
  /**
   * The request and response as sent and received, only when the engine keeps them for disputes
   * (`keepRawMessages`): encrypted with the operator's key (`RawMessageKeyring`).
   */
  raw?: SealedRawMessage;
  error?: StoredError;
  startedAt: number;
  durationMs: number;
  /**
   * The interface of a call that reached the partner (answered, or no answer in time): its
   * `durationMs` is then the partner's latency, which the operations overview reads.
   */
  interface?: string;
  /**
   * Operator actions: who did it and why; `confirmed: "callNotProcessed"` on a move the operator
   * sent vouching that the partner did not process a call whose outcome was unknown.
   */
  actor?: { who: string; why: string; confirmed?: "callNotProcessed" };
  /**
   * A summary of consecutive flow-control refusals (event `wait`): how many, and how many for
   * each reason. The entry starts at the first refusal and lasts (`durationMs`) until the last.
   */
  refusals?: { count: number; reasons: Record<string, number> };
}

export interface StepLogEntry extends NewStepLogEntry {
  id: string;
  instanceId: string;
  /** Instance version this entry produced. */
  version: number;
}

export interface LateNotificationsRequest {
  limit: number;
  /** Only entries after this one in (startedAt, id) descending order. */
  before?: { startedAt: number; id: string };
  /** Only those contradicting how their instance settled (an error recorded). */
  conflictsOnly?: boolean;
}

export interface NewInboxEntry {
  id: string;
  channel: string;
  /** The channel account whose keys verified it; applied only to instances of that account. */
  account?: string | null;
  callback: string;
  dedupeKey: string;
  businessKey: string;
  /** The opened callback (verified, decrypted, decoded), for processing. */
  payload: unknown;
  /**
   * The notification as received, only when its callback sets `keepRawBody`: the body's text and,
   * in a charset other than UTF-8, its bytes in base64, encrypted with the operator's key
   * (`RawMessageKeyring`). Never shown by the ops API.
   */
  raw?: SealedRawMessage;
  receivedAt: number;
}

export interface PendingInboxKey {
  channel: string;
  businessKey: string;
  /** The instance's account; entries verified with another account's keys are not its own. */
  account?: string | null;
}

export interface WakeRequest {
  channel: string;
  businessKey: string;
  /** The callback just stored: only instances waiting for it wake. */
  callback: string;
  now: number;
}

export interface StaleInboxRequest {
  receivedBefore: number;
  limit: number;
  /** Only entries after this one in (receivedAt, id) order. */
  after?: { receivedAt: number; id: string };
}

export interface InboxEntry extends NewInboxEntry {
  account: string | null;
  processedAt: number | null;
  /** Instance that consumed it. */
  instanceId: string | null;
}
