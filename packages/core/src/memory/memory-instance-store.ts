import { randomUUID } from "node:crypto";
import { refusalEntryId, refusalLogEntry, transitionStep } from "../engine/refusal-run.ts";
import { routedLogEntry } from "../engine/routed-log-entry.ts";
import { startedLogEntry } from "../engine/started-log-entry.ts";
import { CapflowError } from "../errors.ts";
import type {
  BusinessKeyRef,
  ChannelBehavior,
  ClaimRequest,
  CustomerQuery,
  InboxEntry,
  InstanceFilter,
  InstanceRecord,
  InstanceStore,
  LateNotificationsRequest,
  NewInboxEntry,
  NewInstance,
  NewStepLogEntry,
  PendingInboxKey,
  RoutedCreation,
  StaleInboxRequest,
  StepLogEntry,
  Transition,
  UnsettledStepCount,
  WakeRequest,
} from "../ports/instance-store.ts";
import { isSettled } from "../ports/instance-store.ts";
import type {
  DeliveryResult,
  NotificationClaim,
  NotificationFilter,
  NotificationRecord,
  NotificationResend,
  OutboxBacklog,
  OutboxStore,
  ResendRequest,
} from "../ports/outbox-store.ts";
import type { QuotaHold, QuotaKey, QuotaUsage } from "../ports/routing.ts";
import {
  backlogStatuses,
  type StoreBacklogs,
  type StoreStatistics,
} from "../ports/store-statistics.ts";
import { MemoryOutbox } from "./memory-outbox.ts";
import { MemoryQuotaLedger } from "./memory-quota-ledger.ts";

/** Examples kept per group by `unsettledByStep`. */
const unsettledExamples = 5;

/** The listing order: (createdAt, id), ids in code point order as the database compares them. */
function compareListing(
  a: { createdAt: number; id: string },
  b: { createdAt: number; id: string },
): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The in-process `InstanceStore`: for tests and for trying the engine in one process. Records are
 * copied in and out (as a database would), so callers can never mutate stored state by accident.
 *
 * Longer than most files on purpose: it is one port's implementation, kept side by side like the
 * knex store's, so a reader can check each method against the contract suite in one place.
 */
export class MemoryInstanceStore implements InstanceStore, OutboxStore, StoreStatistics {
  readonly #instances = new Map<string, InstanceRecord>();
  readonly #byBusinessKey = new Map<string, string>();
  /** A channel's business key -> its instances, whatever their behavior (the key guard looks). */
  readonly #byChannelKey = new Map<string, string[]>();
  readonly #logs = new Map<string, StepLogEntry[]>();
  readonly #inbox = new Map<string, InboxEntry>();
  readonly #inboxByDedupe = new Map<string, string>();
  /** Ids of instances not settled: the only ones `claimDue` and `wake` look at. */
  readonly #open = new Set<string>();
  /** A product's business key -> its instances, oldest first (failover adds to it). */
  readonly #byProductKey = new Map<string, string[]>();
  readonly #positions = new Map<string, number>();
  readonly #quotas = new MemoryQuotaLedger();
  readonly #outbox = new MemoryOutbox();

  async createInstance(
    instance: NewInstance,
    keyProducts: readonly string[] = [],
  ): Promise<{ instance: InstanceRecord; created: boolean }> {
    const key = businessKeyOf(instance);
    const existingId = this.#byBusinessKey.get(key);
    if (existingId !== undefined) {
      return { instance: copy(this.#instances.get(existingId)!), created: false };
    }
    for (const product of keyProducts) {
      const held = this.#byProductKey.get(
        productKeyOf({ product, businessKey: instance.businessKey }),
      );
      if (held !== undefined) {
        return { instance: copy(this.#instances.get(held.at(-1)!)!), created: false };
      }
    }
    const record = this.#insert(instance);
    const started = startedLogEntry(instance);
    if (started) this.#logs.get(record.id)!.push(firstLog(record, started));
    return { instance: copy(record), created: true };
  }

  async createRoutedInstance(
    instance: NewInstance,
    keyChannels: readonly ChannelBehavior[] = [],
  ): Promise<RoutedCreation> {
    const product = productKeyOf(instance);
    const started = this.#byProductKey.get(product);
    if (started !== undefined) {
      return { outcome: "existing", instance: copy(this.#instances.get(started.at(-1)!)!) };
    }
    const takenId = this.#keyHolder(instance, [instance, ...keyChannels]);
    if (takenId !== undefined) {
      return { outcome: "business-key-taken", instance: copy(this.#instances.get(takenId)!) };
    }
    const refusal = this.#quotas.apply({
      reserve: { instanceId: instance.id, quotas: instance.routing?.quotas ?? [] },
    });
    if (refusal) return { outcome: "quota-exhausted", quota: refusal.exhausted };
    const record = this.#insert(instance);
    this.#logs.get(record.id)!.push(firstLog(record, routedLogEntry(instance)));
    return { outcome: "created", instance: copy(record) };
  }

  /**
   * An instance not of `instance`'s product holding its business key on one of `channels`,
   * whatever its behavior: one business key is one loan across the product's channels.
   */
  #keyHolder(instance: NewInstance, channels: readonly ChannelBehavior[]): string | undefined {
    for (const { channel } of channels) {
      const ids = this.#byChannelKey.get(channelKeyOf(channel, instance.businessKey)) ?? [];
      const id = ids.find(
        (held) => this.#instances.get(held)!.product !== (instance.product ?? null),
      );
      if (id !== undefined) return id;
    }
    return undefined;
  }

  async findProductInstance(key: {
    product: string;
    businessKey: string;
  }): Promise<InstanceRecord | undefined> {
    const ids = this.#byProductKey.get(`${key.product}\u0000${key.businessKey}`);
    return ids === undefined ? undefined : this.getInstance(ids.at(-1)!);
  }

  async lastCustomerInstance(query: CustomerQuery): Promise<InstanceRecord | undefined> {
    let latest: InstanceRecord | undefined;
    for (const record of this.#instances.values()) {
      if (record.customerRef !== query.customerRef) continue;
      if (query.product !== undefined && record.product !== query.product) continue;
      if (query.channel !== undefined && record.channel !== query.channel) continue;
      if (latest === undefined || record.createdAt >= latest.createdAt) latest = record;
    }
    return latest && copy(latest);
  }

  async nextRoutingPosition(product: string): Promise<number> {
    const next = (this.#positions.get(product) ?? 0) + 1;
    this.#positions.set(product, next);
    return next;
  }

  async quotaUsage(keys: readonly QuotaKey[]): Promise<QuotaUsage[]> {
    return this.#quotas.usage(keys);
  }

  async quotaHolds(instanceId: string): Promise<QuotaHold[]> {
    return this.#quotas.holds(instanceId);
  }

  #insert({ startedBy: _history, ...instance }: NewInstance): InstanceRecord {
    const record: InstanceRecord = {
      ...copy(instance),
      version: 1,
      attempt: 0,
      inFlight: null,
      waitingFor: instance.waitingFor ?? null,
      lastError: null,
      refusals: null,
      product: instance.product ?? null,
      account: instance.account ?? null,
      customerRef: instance.customerRef ?? null,
      failoverOf: instance.failoverOf ?? null,
      routing: copy(instance.routing ?? null),
      leaseOwner: null,
      leaseUntil: null,
      createdAt: instance.now,
      updatedAt: instance.now,
    };
    this.#instances.set(record.id, record);
    if (!isSettled(record.status)) this.#open.add(record.id);
    this.#byBusinessKey.set(businessKeyOf(record), record.id);
    const channelKey = channelKeyOf(record.channel, record.businessKey);
    this.#byChannelKey.set(channelKey, [...(this.#byChannelKey.get(channelKey) ?? []), record.id]);
    if (record.product !== null) {
      const key = productKeyOf(record);
      this.#byProductKey.set(key, [...(this.#byProductKey.get(key) ?? []), record.id]);
    }
    this.#logs.set(record.id, []);
    return record;
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    const record = this.#instances.get(id);
    return record && copy(record);
  }

  async findInstance(key: BusinessKeyRef): Promise<InstanceRecord | undefined> {
    const id = this.#byBusinessKey.get(businessKeyOf(key));
    return id === undefined ? undefined : this.getInstance(id);
  }

  async listInstances(filter: InstanceFilter): Promise<InstanceRecord[]> {
    const result: InstanceRecord[] = [];
    for (const record of this.#instances.values()) {
      if (filter.channel !== undefined && record.channel !== filter.channel) continue;
      if (filter.behavior !== undefined && record.behavior !== filter.behavior) continue;
      if (filter.businessKey !== undefined && record.businessKey !== filter.businessKey) continue;
      if (filter.product !== undefined && record.product !== filter.product) continue;
      if (filter.status !== undefined && !filter.status.includes(record.status)) continue;
      if (filter.behaviorVersion !== undefined && record.behaviorVersion !== filter.behaviorVersion)
        continue;
      if (filter.updatedBefore !== undefined && record.updatedAt >= filter.updatedBefore) continue;
      if (filter.step !== undefined && record.step !== filter.step) continue;
      if (filter.createdBefore !== undefined && record.createdAt >= filter.createdBefore) continue;
      if (filter.after !== undefined && compareListing(record, filter.after) <= 0) continue;
      result.push(copy(record));
    }
    result.sort(compareListing);
    return filter.limit === undefined ? result : result.slice(0, filter.limit);
  }

  async unsettledByStep(filter: { channels?: string[] } = {}): Promise<UnsettledStepCount[]> {
    const groups = new Map<string, UnsettledStepCount>();
    const open = [...this.#open].map((id) => this.#instances.get(id)!).sort(compareListing);
    for (const record of open) {
      if (filter.channels !== undefined && !filter.channels.includes(record.channel)) continue;
      const key = [record.channel, record.behavior, record.behaviorVersion, record.step].join(
        "\u0000",
      );
      let group = groups.get(key);
      if (group === undefined) {
        group = {
          channel: record.channel,
          behavior: record.behavior,
          behaviorVersion: record.behaviorVersion,
          step: record.step,
          count: 0,
          examples: [],
        };
        groups.set(key, group);
      }
      group.count++;
      if (group.examples.length < unsettledExamples) {
        group.examples.push({ id: record.id, businessKey: record.businessKey });
      }
    }
    return [...groups.values()];
  }

  async claimDue(request: ClaimRequest): Promise<InstanceRecord[]> {
    const due: InstanceRecord[] = [];
    for (const id of this.#open) {
      const record = this.#instances.get(id)!;
      if (record.nextRunAt === null || record.nextRunAt > request.now) continue;
      if (record.leaseUntil !== null && record.leaseUntil > request.now) continue;
      if (request.channels !== undefined && !request.channels.includes(record.channel)) continue;
      if (request.skipChannels?.includes(record.channel)) continue;
      due.push(record);
    }
    due.sort((a, b) => (a.nextRunAt ?? 0) - (b.nextRunAt ?? 0));
    return due.slice(0, request.limit).map((record) => {
      record.leaseOwner = request.owner;
      record.leaseUntil = request.now + request.leaseMs;
      return copy(record);
    });
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    const record = this.#instances.get(id);
    if (record && record.leaseOwner === owner) {
      record.leaseOwner = null;
      record.leaseUntil = null;
    }
  }

  async commitTransition(transition: Transition): Promise<InstanceRecord> {
    const record = this.#instances.get(transition.instanceId);
    if (!record) {
      throw new CapflowError(
        "INSTANCE_NOT_FOUND",
        `instance ${transition.instanceId} does not exist`,
        {
          context: { instance: transition.instanceId },
        },
      );
    }
    if (record.version !== transition.expectedVersion) {
      throw conflict(transition, record.version);
    }
    for (const id of transition.consumedInbox ?? []) {
      const entry = this.#inbox.get(id);
      if (entry === undefined || entry.processedAt !== null)
        throw consumedElsewhere(transition, id);
    }
    const { spawn, notification } = transition;
    if (notification !== undefined && this.#outbox.has(notification.id)) {
      throw new CapflowError(
        "STORE_UNIQUE_VIOLATION",
        `notification ${notification.id} exists already; instance ${transition.instanceId} was not changed`,
        { context: { instance: transition.instanceId } },
      );
    }
    if (spawn !== undefined) {
      const holder = this.#keyHolder(spawn, transition.spawnKeyChannels ?? []);
      const taken =
        this.#byBusinessKey.has(businessKeyOf(spawn)) || this.#instances.has(spawn.id)
          ? `(${spawn.channel}, ${spawn.behavior}, ${spawn.businessKey})`
          : holder !== undefined
            ? `${holder} holding business key ${spawn.businessKey} on a channel of product ${spawn.product}`
            : undefined;
      if (taken) {
        throw new CapflowError(
          "STORE_UNIQUE_VIOLATION",
          `instance ${taken} exists already; instance ${transition.instanceId} was not changed`,
          { context: { instance: transition.instanceId, channel: spawn.channel } },
        );
      }
    }
    if (transition.quota !== undefined || spawn !== undefined) {
      const { quota } = transition;
      if (quota === "reserved" && spawn !== undefined) {
        throw new CapflowError(
          "INTERNAL",
          `instance ${transition.instanceId} cannot be reopened (quota "reserved") and hand its business to a failover instance in one commit; it was not changed`,
          { context: { instance: transition.instanceId } },
        );
      }
      const refusal = this.#quotas.apply(
        quota === "reserved"
          ? { reopen: { instanceId: record.id, quotas: transition.reopenQuotas ?? [] } }
          : {
              ...(quota === undefined ? {} : { settle: { instanceId: record.id, to: quota } }),
              ...(spawn === undefined
                ? {}
                : { reserve: { instanceId: spawn.id, quotas: spawn.routing?.quotas ?? [] } }),
            },
      );
      if (refusal) throw quotaExhausted(transition, refusal.exhausted);
    }
    const changes = copy(transition.changes);
    const next: InstanceRecord = { ...record };
    for (const [key, value] of Object.entries(changes)) {
      if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
    }
    next.version = record.version + 1;
    if (!transition.keepUpdatedAt) next.updatedAt = transition.now;
    if (!transition.keepLease) {
      next.leaseOwner = null;
      next.leaseUntil = null;
    } else if (transition.leaseUntil !== undefined) {
      next.leaseUntil = transition.leaseUntil;
    }
    for (const id of transition.consumedInbox ?? []) {
      const entry = this.#inbox.get(id)!;
      entry.processedAt = transition.now;
      entry.instanceId = next.id;
    }
    if (next.status === "waiting" && next.waitingFor !== null && this.#hasPending(next)) {
      next.nextRunAt = Math.min(next.nextRunAt ?? transition.now, transition.now);
    }
    const logs = this.#logs.get(next.id)!;
    if (changes.refusals === undefined && record.refusals !== null) {
      // The refusals end here: their summary goes into the history at the version they reached.
      logs.push({
        ...refusalLogEntry(record.refusals),
        id: refusalEntryId(record.id, record.version),
        instanceId: record.id,
        version: record.version,
      });
      next.refusals = null;
    }
    this.#instances.set(next.id, next);
    if (isSettled(next.status)) this.#open.delete(next.id);
    else this.#open.add(next.id);
    if (transition.log !== undefined) {
      logs.push({
        ...copy(transition.log),
        id: randomUUID(),
        instanceId: next.id,
        version: next.version,
      });
    }
    if (spawn !== undefined) {
      const spawned = this.#insert(spawn);
      this.#logs.get(spawned.id)!.push(firstLog(spawned, routedLogEntry(spawn)));
    }
    if (notification !== undefined) this.#outbox.insert(notification);
    return copy(next);
  }

  async history(instanceId: string): Promise<StepLogEntry[]> {
    return copy(this.#logs.get(instanceId) ?? []);
  }

  async lateNotifications(request: LateNotificationsRequest): Promise<StepLogEntry[]> {
    const newestFirst = (a: StepLogEntry, b: StepLogEntry) =>
      b.startedAt - a.startedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
    const before = request.before;
    const late = [...this.#logs.values()]
      .flat()
      .filter((entry) => entry.outcome?.startsWith("late:") === true)
      .filter((entry) => !request.conflictsOnly || entry.error !== undefined)
      .filter(
        (entry) =>
          before === undefined ||
          newestFirst(entry, { ...entry, startedAt: before.startedAt, id: before.id }) > 0,
      )
      .sort(newestFirst);
    return copy(late.slice(0, request.limit));
  }

  async insertInbox(entry: NewInboxEntry): Promise<{ entry: InboxEntry; duplicate: boolean }> {
    // Per account too: each account of a channel numbers its notifications on its own.
    const identity = JSON.stringify([
      entry.channel,
      entry.callback,
      entry.account ?? null,
      entry.dedupeKey,
    ]);
    const existingId = this.#inboxByDedupe.get(identity);
    if (existingId !== undefined) {
      return { entry: copy(this.#inbox.get(existingId)!), duplicate: true };
    }
    const stored: InboxEntry = {
      ...copy(entry),
      account: entry.account ?? null,
      processedAt: null,
      instanceId: null,
    };
    this.#inbox.set(stored.id, stored);
    this.#inboxByDedupe.set(identity, stored.id);
    return { entry: copy(stored), duplicate: false };
  }

  async pendingInbox(key: PendingInboxKey): Promise<InboxEntry[]> {
    const result: InboxEntry[] = [];
    for (const entry of this.#inbox.values()) {
      if (
        entry.channel === key.channel &&
        entry.businessKey === key.businessKey &&
        entry.account === (key.account ?? null) &&
        entry.processedAt === null
      ) {
        result.push(copy(entry));
      }
    }
    return result.sort((a, b) => a.receivedAt - b.receivedAt);
  }

  async staleInbox(request: StaleInboxRequest): Promise<InboxEntry[]> {
    const { after } = request;
    const result: InboxEntry[] = [];
    for (const entry of this.#inbox.values()) {
      if (entry.processedAt !== null || entry.receivedAt >= request.receivedBefore) continue;
      if (
        after !== undefined &&
        (entry.receivedAt < after.receivedAt ||
          (entry.receivedAt === after.receivedAt && entry.id <= after.id))
      ) {
        continue;
      }
      result.push(copy(entry));
    }
    result.sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return result.slice(0, request.limit);
  }

  async wake(key: WakeRequest): Promise<void> {
    for (const id of this.#open) {
      const record = this.#instances.get(id)!;
      if (record.channel !== key.channel || record.businessKey !== key.businessKey) continue;
      if (record.status !== "waiting" || record.waitingFor !== key.callback) continue;
      record.nextRunAt = Math.min(record.nextRunAt ?? key.now, key.now);
    }
  }

  async close(): Promise<void> {}

  async backlogs(): Promise<StoreBacklogs> {
    const instances = backlogStatuses.map((status) => ({
      status,
      count: 0,
      oldestUpdatedAt: null as number | null,
    }));
    for (const record of this.#instances.values()) {
      const group = instances.find((entry) => entry.status === record.status);
      if (group === undefined) continue;
      group.count++;
      if (group.oldestUpdatedAt === null || record.updatedAt < group.oldestUpdatedAt)
        group.oldestUpdatedAt = record.updatedAt;
    }
    const inbox = { pending: 0, oldestReceivedAt: null as number | null };
    for (const entry of this.#inbox.values()) {
      if (entry.processedAt !== null) continue;
      inbox.pending++;
      if (inbox.oldestReceivedAt === null || entry.receivedAt < inbox.oldestReceivedAt)
        inbox.oldestReceivedAt = entry.receivedAt;
    }
    return { instances, inbox };
  }

  // The outbox: notifications written by commitTransition (see MemoryOutbox).

  claimNotifications(request: NotificationClaim): Promise<NotificationRecord[]> {
    return this.#outbox.claimNotifications(request);
  }

  recordDelivery(result: DeliveryResult): Promise<boolean> {
    return this.#outbox.recordDelivery(result);
  }

  getNotification(id: string): Promise<NotificationRecord | undefined> {
    return this.#outbox.getNotification(id);
  }

  listNotifications(filter: NotificationFilter): Promise<NotificationRecord[]> {
    return this.#outbox.listNotifications(filter);
  }

  async resendNotification(request: ResendRequest): Promise<NotificationResend | undefined> {
    const done = this.#outbox.resend(request);
    if (done === undefined) return undefined;
    const instance = this.#instances.get(done.notification.instanceId);
    // The entry goes in at the instance's version, which it leaves as it is (no compare-and-set).
    if (done.outcome === "resent" && instance !== undefined) {
      this.#logs.get(instance.id)?.push({
        id: randomUUID(),
        instanceId: instance.id,
        version: instance.version,
        step: instance.step,
        attempt: instance.attempt,
        event: "operator",
        outcome: `resendNotification:${request.id}`,
        fromStatus: instance.status,
        toStatus: instance.status,
        actor: { who: request.by, why: request.why },
        startedAt: request.now,
        durationMs: 0,
      });
    }
    return done;
  }

  outboxBacklog(): Promise<OutboxBacklog> {
    return this.#outbox.outboxBacklog();
  }

  /** An unprocessed notification of the callback the instance waits for. */
  #hasPending(record: InstanceRecord): boolean {
    for (const entry of this.#inbox.values()) {
      if (
        entry.channel === record.channel &&
        entry.businessKey === record.businessKey &&
        entry.callback === record.waitingFor &&
        entry.account === record.account &&
        entry.processedAt === null
      ) {
        return true;
      }
    }
    return false;
  }
}

function productKeyOf(instance: { product?: string | null; businessKey: string }): string {
  return `${instance.product}\u0000${instance.businessKey}`;
}

/** A new instance's first history entry (routed, or started by an operator). */
function firstLog(record: InstanceRecord, entry: NewStepLogEntry): StepLogEntry {
  return { ...copy(entry), id: randomUUID(), instanceId: record.id, version: record.version };
}

function channelKeyOf(channel: string, businessKey: string): string {
  return `${channel}\u0000${businessKey}`;
}

function businessKeyOf(key: BusinessKeyRef): string {
  return `${key.channel}\u0000${key.behavior}\u0000${key.businessKey}`;
}

/**
 * A deep copy of JSON-shaped data (what a database would store and return). structuredClone
 * handles more types but costs ~20 µs per record on Node 20, which would dominate the store.
 */
function copy<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(copy) as T;
  const result: Record<string, unknown> = {};
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) result[key] = copy(item);
  }
  return result as T;
}

function conflict(transition: Transition, actual: number): CapflowError {
  return new CapflowError(
    "STORE_CONFLICT",
    `instance ${transition.instanceId} is at version ${actual}, not ${transition.expectedVersion}: another worker changed it; stop working on it and make no further partner call`,
    { context: { instance: transition.instanceId, ...transitionStep(transition) } },
  );
}

function quotaExhausted(transition: Transition, quota: QuotaKey): CapflowError {
  return new CapflowError(
    "QUOTA_EXHAUSTED",
    `quota ${quota.scope} has no room in ${quota.period}; instance ${transition.instanceId} was not changed`,
    { context: { instance: transition.instanceId, scope: quota.scope, period: quota.period } },
  );
}

function consumedElsewhere(transition: Transition, entryId: string): CapflowError {
  return new CapflowError(
    "STORE_CONFLICT",
    `inbox entry ${entryId} was already applied to an instance; instance ${transition.instanceId} was not changed and reads the inbox again on its next run`,
    { context: { instance: transition.instanceId, ...transitionStep(transition) } },
  );
}
