import { randomBytes, randomUUID } from "node:crypto";
import {
  type BusinessKeyRef,
  backlogStatuses,
  CapflowError,
  type ChannelBehavior,
  type ClaimRequest,
  type CustomerQuery,
  type DeliveryResult,
  type InboxEntry,
  type InstanceFilter,
  type InstanceRecord,
  type InstanceStore,
  type LateNotificationsRequest,
  type NewInboxEntry,
  type NewInstance,
  type NotificationClaim,
  type NotificationFilter,
  type NotificationRecord,
  type NotificationResend,
  type OperationsOverview,
  type OperationsView,
  type OutboxBacklog,
  type OutboxStore,
  type OverviewRequest,
  type ParkedListRequest,
  type PendingInboxKey,
  type QuotaHold,
  type QuotaHoldState,
  type QuotaKey,
  type QuotaUsage,
  type ResendRequest,
  type RoutedCreation,
  type StaleInboxRequest,
  type StepLogEntry,
  type StoreBacklogs,
  type StoreStatistics,
  type Transition,
  type UnsettledStepCount,
  type WakeRequest,
} from "@capflow/core";
import { routedLogEntry, startedLogEntry, transitionStep } from "@capflow/core/internal";
import { Decimal } from "decimal.js";
import type { Knex } from "knex";
import {
  commitNameSuffix,
  commitStatement,
  commitTag,
  type GroupCommitStatement,
  groupable,
  groupCommitPrefix,
  groupCommitStatement,
} from "./commit-statement.ts";
import { GroupCommit, type GroupCommitOptions } from "./group-commit.ts";
import { instanceValues, type Param, parameters, stepLogSelect } from "./instance-insert.ts";
import { KnexOperationsView } from "./knex-operations-view.ts";
import { KnexOutbox } from "./knex-outbox.ts";
import {
  epochMs,
  inboxFromRow,
  instanceFromRow,
  instanceSelectList,
  jsonParam,
  nullableJsonParam,
  type Row,
  stepLogFromRow,
  timeParam,
} from "./rows.ts";
import {
  defaultSchema,
  type QualifiedNames,
  qualifiedNames,
  runnableStatuses,
} from "./sql-names.ts";
import { mayHaveCommitted, translateStoreError } from "./translate-error.ts";

export interface KnexInstanceStoreOptions {
  /** Schema holding capflow's tables. Default `capflow`. */
  schema?: string;
  /** How messages name the database, e.g. `PostgreSQL at db:5432` (never with a password). */
  target?: string;
  /** Called by `close()`. Default: nothing (whoever created the knex instance destroys it). */
  onClose?: () => Promise<void>;
  /**
   * PostgreSQL: before deciding that a commit whose connection was lost did not happen, end the
   * server's copy of the statement if it still runs (waiting for a row lock, it would not notice
   * the lost client and could commit later). Needs `pg_stat_activity`; off for PGlite.
   */
  endsOrphanedCommits?: boolean;
  /**
   * Group commit: commits that arrive while `statements` commit statements are in flight wait and
   * go together as one statement (each instance with its own compare-and-set). Only commits that
   * nothing but their compare-and-set can stop are grouped (no consumed callbacks, quotas,
   * failover or notifications). `false` sends every commit on its own. Default on (2, 32).
   */
  groupCommit?: GroupCommitOptions | false;
  /**
   * PostgreSQL (with `endsOrphanedCommits`): run the group commit, whose text is the same for
   * every batch, as a prepared statement (parsed and planned once per connection instead of once
   * per batch). Off behind a pooler that cannot keep prepared statements (PgBouncer in
   * transaction mode before 1.21, or without `max_prepared_statements`). Default off here;
   * `openPostgresStore` turns it on.
   */
  preparedStatements?: boolean;
}

/** The part of knex's client that lends out a driver connection (pg's `Client`). */
interface PooledPgClient {
  acquireConnection(): Promise<PgConnection>;
  releaseConnection(connection: PgConnection): Promise<unknown>;
}

interface PgConnection {
  /** The server backend's pid (pg's `Client.processID`, from the server's key data). */
  processID?: number | null;
  query(config: { name?: string; text: string; values: unknown[] }): Promise<{ rows: Row[] }>;
}

/** What a group commit was sent on: the backend's pid, when pg knew it. */
interface SentOn {
  backendPid?: number;
}

/** How a commit statement whose connection broke is found on the server. */
interface Orphan {
  /** A commit alone: the comment its text starts with. */
  tag?: string;
  /** A group commit: the end of the name it runs under. */
  nameSuffix?: string;
  /** A group commit: the backend it was sent to. */
  backendPid?: number;
}

/** Examples kept per group by `unsettledByStep`. */
const unsettledExamples = 5;

/** How long recovery waits for an orphaned commit statement to end. */
const orphanWaitMs = 5_000;

/**
 * `InstanceStore` on PostgreSQL or PGlite through knex. Each operation is one statement where it
 * can be (a single statement is its own transaction), written as SQL rather than built with the
 * query builder: the SQL is the design here (ON CONFLICT, SKIP LOCKED, data-modifying CTEs), and
 * it keeps knex's per-query overhead low on the hot path.
 *
 * Longer than most files on purpose: it is one port's implementation, and keeping every statement
 * of the port side by side is what lets a reader check that they agree on the same columns and
 * rules (leases, versions, the inbox); the long commit statement lives in `commit-statement.ts`.
 */
export class KnexInstanceStore
  implements InstanceStore, OutboxStore, StoreStatistics, OperationsView
{
  readonly #knex: Knex;
  readonly #t: QualifiedNames;
  readonly #target: string;
  readonly #onClose: (() => Promise<void>) | undefined;
  readonly #endsOrphanedCommits: boolean;
  readonly #outbox: KnexOutbox;
  readonly #operations: KnexOperationsView;
  readonly #group: GroupCommit<Transition, InstanceRecord> | undefined;
  /** Off from the start (the option), or once the server says it cannot keep them (a pooler). */
  #preparedStatements: boolean;
  /**
   * Bumped when PostgreSQL refuses the prepared group commit because a column it returns changed
   * type (a migration): the next batch prepares it afresh under a new name on every connection.
   * pg keeps the old name as parsed on each connection and would only bind it again.
   */
  #preparedGeneration = 0;

  constructor(knex: Knex, options: KnexInstanceStoreOptions = {}) {
    this.#knex = knex;
    this.#t = qualifiedNames(options.schema ?? defaultSchema);
    this.#target = options.target ?? "the database";
    this.#onClose = options.onClose;
    this.#endsOrphanedCommits = options.endsOrphanedCommits ?? false;
    this.#preparedStatements = options.preparedStatements ?? false;
    this.#outbox = new KnexOutbox(knex, this.#t, this.#target);
    this.#operations = new KnexOperationsView(knex, {
      schema: options.schema ?? defaultSchema,
      target: this.#target,
    });
    this.#group =
      options.groupCommit === false
        ? undefined
        : new GroupCommit((batch) => this.#commitGroup(batch), options.groupCommit);
  }

  async createInstance(
    instance: NewInstance,
    keyProducts: readonly string[] = [],
  ): Promise<{ instance: InstanceRecord; created: boolean }> {
    const t = this.#t;
    // INSERT … ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to finish;
    // when it did nothing, the SELECT (a new statement, so a new snapshot) sees the winner's row.
    const { bindings, param } = parameters();
    // Placeholders bind in the order they are made: the order of the text.
    const values = instanceValues(instance, param);
    // A product listing this channel that holds the key elsewhere: nothing inserted.
    const guard =
      keyProducts.length === 0 ? "" : ` WHERE ${this.#keyFree(instance, [], keyProducts, param)}`;
    const started = startedLogEntry(instance);
    const log = started && stepLogSelect(randomUUID(), started, "i", param);
    // An operator's start records who and why in the same statement as the insert.
    const inserted = await this.#rows(
      `WITH inserted AS (
         INSERT INTO ${t.instances} (${values.columns}) SELECT ${values.values}${guard}
         ON CONFLICT (channel, business_key, behavior) DO NOTHING
         RETURNING *
       )${log ? `, logged AS (INSERT INTO ${t.stepLogs} (${log.columns}) SELECT ${log.select} FROM inserted i)` : ""}
       SELECT ${instanceSelectList("i")} FROM inserted i`,
      bindings,
      { instance: instance.id },
    );
    const row = inserted[0];
    if (row) return { instance: instanceFromRow(row), created: true };
    const existing =
      (await this.findInstance(instance)) ?? (await this.#keyHolder(instance, [], keyProducts));
    if (!existing) {
      // The conflicting row was deleted between the two statements: vanishingly rare; retryable.
      throw new CapflowError(
        "STORE_CONFLICT",
        `instance ${instance.businessKey} was created and removed concurrently; try again`,
        { retryable: true, context: { channel: instance.channel, behavior: instance.behavior } },
      );
    }
    return { instance: existing, created: false };
  }

  async createRoutedInstance(
    instance: NewInstance,
    keyChannels: readonly ChannelBehavior[] = [],
  ): Promise<RoutedCreation> {
    const t = this.#t;
    // One statement: the instance (unless the product's business key or the channel's started
    // already), its quota holds (quota_apply raises CF429 without room: nothing is written), and
    // its `routed` history entry.
    const { bindings, param } = parameters();
    // Placeholders bind in the order they are made: the order of the text.
    const row = instanceValues(instance, param);
    // The key held on a channel of the product by another start: nothing inserted.
    const guard =
      keyChannels.length === 0 ? "" : ` WHERE ${this.#keyFree(instance, keyChannels, [], param)}`;
    const quotas = param(nullableJsonParam(instance.routing?.quotas), "::jsonb");
    const log = stepLogSelect(randomUUID(), routedLogEntry(instance), "i", param);
    let inserted: Row[];
    try {
      inserted = await this.#rows(
        `WITH inserted AS (
           INSERT INTO ${t.instances} (${row.columns}) SELECT ${row.values}${guard}
           ON CONFLICT DO NOTHING
           RETURNING *
         ), quota AS (
           SELECT ${t.quotaApply}(NULL, NULL, i.id, ${quotas}) AS changed FROM inserted i
         ), logged AS (
           INSERT INTO ${t.stepLogs} (${log.columns}) SELECT ${log.select} FROM inserted i
         )
         SELECT ${instanceSelectList("i")}, (SELECT count(*) FROM quota) AS quota_applied
         FROM inserted i`,
        bindings,
        { instance: instance.id, channel: instance.channel },
      );
    } catch (error) {
      if (error instanceof CapflowError && error.code === "QUOTA_EXHAUSTED") {
        return {
          outcome: "quota-exhausted",
          quota: { scope: String(error.context.scope), period: String(error.context.period) },
        };
      }
      throw error;
    }
    if (inserted[0]) return { outcome: "created", instance: instanceFromRow(inserted[0]) };
    const started = await this.findProductInstance({
      product: instance.product ?? "",
      businessKey: instance.businessKey,
    });
    if (started) return { outcome: "existing", instance: started };
    const taken =
      (await this.findInstance(instance)) ?? (await this.#keyHolder(instance, keyChannels, []));
    if (taken) return { outcome: "business-key-taken", instance: taken };
    throw new CapflowError(
      "STORE_CONFLICT",
      `instance ${instance.businessKey} was created and removed concurrently; try again`,
      { retryable: true, context: { channel: instance.channel, behavior: instance.behavior } },
    );
  }

  /**
   * The guard of migrations 0036 and 0040 as an SQL condition: true when no other start holds the
   * key on one of `channels` (whatever its behavior) or as one of `products`.
   */
  #keyFree(
    instance: NewInstance,
    channels: readonly ChannelBehavior[],
    products: readonly string[],
    param: Param,
  ): string {
    return `${this.#t.businessKeyFree}(${param(instance.businessKey, "::text")}, ${param(instance.product ?? null, "::text")},
      ${param(
        channels.map((c) => c.channel),
        "::text[]",
      )}, ${param(
        channels.map((c) => c.behavior),
        "::text[]",
      )}, ${param([...products], "::text[]")}, false)`;
  }

  /** The instance the guard found holding the business key, as `business_key_free` looks. */
  async #keyHolder(
    instance: NewInstance,
    channels: readonly ChannelBehavior[],
    products: readonly string[],
  ): Promise<InstanceRecord | undefined> {
    if (channels.length === 0 && products.length === 0) return undefined;
    const [row] = await this.#rows(
      `SELECT i.* FROM ${this.#t.instances} i
       WHERE i.business_key = ?
         AND (i.channel = ANY (?::text[]) AND i.product IS DISTINCT FROM ?::text
           OR i.product = ANY (?::text[]))
       ORDER BY i.created_at DESC, i.id DESC LIMIT 1`,
      [
        instance.businessKey,
        channels.map((c) => c.channel),
        instance.product ?? null,
        [...products],
      ],
      { channel: instance.channel },
    );
    return row && instanceFromRow(row);
  }

  async findProductInstance(key: {
    product: string;
    businessKey: string;
  }): Promise<InstanceRecord | undefined> {
    const [row] = await this.#rows(
      `SELECT * FROM ${this.#t.instances} WHERE product = ? AND business_key = ?
       ORDER BY created_at DESC, id DESC LIMIT 1`,
      [key.product, key.businessKey],
      { product: key.product },
    );
    return row && instanceFromRow(row);
  }

  async lastCustomerInstance(query: CustomerQuery): Promise<InstanceRecord | undefined> {
    const [row] = await this.#rows(
      `SELECT * FROM ${this.#t.instances}
       WHERE customer_ref = ? AND (?::text IS NULL OR product = ?) AND (?::text IS NULL OR channel = ?)
       ORDER BY created_at DESC, id DESC LIMIT 1`,
      [
        query.customerRef,
        query.product ?? null,
        query.product ?? null,
        query.channel ?? null,
        query.channel ?? null,
      ],
    );
    return row && instanceFromRow(row);
  }

  async nextRoutingPosition(product: string): Promise<number> {
    // Its own short statement, not part of the start's transaction: the row lock lasts one
    // statement, so starts of one product do not queue behind each other's commits.
    const [row] = await this.#rows(
      `INSERT INTO ${this.#t.routingPositions} AS p (product, position) VALUES (?, 1)
       ON CONFLICT (product) DO UPDATE SET position = p.position + 1
       RETURNING position`,
      [product],
      { product },
    );
    return Number(row?.position);
  }

  async quotaUsage(keys: readonly QuotaKey[]): Promise<QuotaUsage[]> {
    if (keys.length === 0) return [];
    const rows = await this.#rows(
      `SELECT u.* FROM ${this.#t.quotaUsage} u
       JOIN unnest(?::text[], ?::text[]) AS k(scope, period) ON u.scope = k.scope AND u.period = k.period
       ORDER BY u.scope, u.period`,
      [keys.map((key) => key.scope), keys.map((key) => key.period)],
    );
    return rows.map((row) => ({
      scope: row.scope as string,
      period: row.period as string,
      usedAmount: decimalText(row.used_amount),
      usedCount: Number(row.used_count),
      consumedAmount: decimalText(row.consumed_amount),
      consumedCount: Number(row.consumed_count),
    }));
  }

  async quotaHolds(instanceId: string): Promise<QuotaHold[]> {
    const rows = await this.#rows(
      `SELECT * FROM ${this.#t.quotaHolds} WHERE instance_id = ? ORDER BY scope, period`,
      [instanceId],
      { instance: instanceId },
    );
    return rows.map((row) => ({
      instanceId: row.instance_id as string,
      scope: row.scope as string,
      period: row.period as string,
      amount: decimalText(row.amount),
      state: row.state as QuotaHoldState,
    }));
  }

  async getInstance(id: string): Promise<InstanceRecord | undefined> {
    const [row] = await this.#rows(`SELECT * FROM ${this.#t.instances} WHERE id = ?`, [id], {
      instance: id,
    });
    return row && instanceFromRow(row);
  }

  async findInstance(key: BusinessKeyRef): Promise<InstanceRecord | undefined> {
    const [row] = await this.#rows(
      `SELECT * FROM ${this.#t.instances}
       WHERE channel = ? AND business_key = ? AND behavior = ?`,
      [key.channel, key.businessKey, key.behavior],
      { channel: key.channel, behavior: key.behavior },
    );
    return row && instanceFromRow(row);
  }

  async listInstances(filter: InstanceFilter): Promise<InstanceRecord[]> {
    const where: string[] = [];
    const bindings: unknown[] = [];
    if (filter.channel !== undefined) {
      where.push("channel = ?");
      bindings.push(filter.channel);
    }
    if (filter.behavior !== undefined) {
      where.push("behavior = ?");
      bindings.push(filter.behavior);
    }
    if (filter.businessKey !== undefined) {
      where.push("business_key = ?");
      bindings.push(filter.businessKey);
    }
    if (filter.product !== undefined) {
      where.push("product = ?");
      bindings.push(filter.product);
    }
    if (filter.status !== undefined) {
      where.push("status = ANY (?::text[])");
      bindings.push(filter.status);
    }
    if (filter.behaviorVersion !== undefined) {
      where.push("behavior_version = ?");
      bindings.push(filter.behaviorVersion);
    }
    if (filter.updatedBefore !== undefined) {
      where.push("updated_at < ?");
      bindings.push(timeParam(filter.updatedBefore));
    }
    if (filter.step !== undefined) {
      where.push("step = ?");
      bindings.push(filter.step);
    }
    if (filter.createdBefore !== undefined) {
      where.push("created_at < ?");
      bindings.push(timeParam(filter.createdBefore));
    }
    // Keyset paging: a row comparison starts the scan at the cursor. Ids compare in code point
    // order (COLLATE "C"), the same in every database whatever its default collation.
    if (filter.after !== undefined) {
      where.push(`(created_at, id COLLATE "C") > (?::timestamptz, ?::text)`);
      bindings.push(timeParam(filter.after.createdAt), filter.after.id);
    }
    let sql = `SELECT * FROM ${this.#t.instances}`;
    if (where.length > 0) sql += ` WHERE ${where.join(" AND ")}`;
    sql += ` ORDER BY created_at, id COLLATE "C"`;
    if (filter.limit !== undefined) {
      sql += " LIMIT ?";
      bindings.push(filter.limit);
    }
    return (await this.#rows(sql, bindings)).map(instanceFromRow);
  }

  async unsettledByStep(filter: { channels?: string[] } = {}): Promise<UnsettledStepCount[]> {
    const channels = filter.channels === undefined ? "" : "AND channel = ANY (?::text[])";
    // One pass over the unsettled rows; the examples are the oldest of each group.
    const rows = await this.#rows(
      `SELECT channel, behavior, behavior_version, step, count(*) AS count,
              (array_agg(id ORDER BY created_at, id COLLATE "C"))[1:${unsettledExamples}] AS ids,
              (array_agg(business_key ORDER BY created_at, id COLLATE "C"))[1:${unsettledExamples}] AS keys
       FROM ${this.#t.instances}
       WHERE status IN ${runnableStatuses} ${channels}
       GROUP BY channel, behavior, behavior_version, step
       ORDER BY channel, behavior, behavior_version, step`,
      filter.channels === undefined ? [] : [filter.channels],
    );
    return rows.map((row) => {
      const ids = row.ids as string[];
      const keys = row.keys as string[];
      return {
        channel: row.channel as string,
        behavior: row.behavior as string,
        behaviorVersion: Number(row.behavior_version),
        step: row.step as string,
        count: Number(row.count),
        examples: ids.map((id, index) => ({ id, businessKey: keys[index] ?? "" })),
      };
    });
  }

  async claimDue(request: ClaimRequest): Promise<InstanceRecord[]> {
    const skip =
      request.skipChannels !== undefined && request.skipChannels.length > 0
        ? request.skipChannels
        : null;
    // One statement: pick due rows in next_run_at order, skipping rows another claimer holds
    // locked right now, and lease them. A row leased and committed by another worker since this
    // statement's snapshot is re-checked under its lock (EvalPlanQual) and dropped. The statement
    // is the function of migrations 0030 and 0033, which reads the due index in order (see there
    // why).
    //
    // The claim commits without waiting for its WAL to reach disk (`synchronous_commit` off for
    // this transaction only). A lease is not a state change: the instance's version stays, and
    // every state change after it, the intent commit before a partner call included, is a
    // compare-and-set in a synchronous commit, which also flushes the claim. A database crash
    // can only forget a claim no state change followed, and then the instance is claimable
    // again, which is what a lost lease means anyway. The claim is visible to other workers at
    // once, like any commit; a worker waiting on its flush gained nothing (3.5 ms on a VM disk).
    const rows = await this.#rows(
      `SELECT ${instanceSelectList("claimed")}
       FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit,
         ${this.#t.claimDue}(?, ?, ?, ?::text[], ?::text[], ?::int) AS claimed`,
      [
        request.owner,
        timeParam(request.now + request.leaseMs),
        timeParam(request.now),
        request.channels ?? null,
        skip,
        request.limit,
      ],
    );
    // RETURNING has no defined order.
    return rows.map(instanceFromRow).sort((a, b) => (a.nextRunAt ?? 0) - (b.nextRunAt ?? 0));
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    // Without waiting for the flush, as a claim (see claimDue): a forgotten give-back leaves a
    // lease that expires by itself.
    await this.#rows(
      `WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))
       UPDATE ${this.#t.instances} SET lease_owner = NULL, lease_until = NULL
       FROM async_commit WHERE id = ? AND lease_owner = ?`,
      [id, owner],
      { instance: id },
    );
  }

  commitTransition(transition: Transition): Promise<InstanceRecord> {
    if (this.#group === undefined || !groupable(transition)) return this.#commitAlone(transition);
    return this.#group.submit(transition.instanceId, transition);
  }

  /** One statement for a batch of distinct instances' transitions; each settles on its own. */
  async #commitGroup(
    transitions: readonly Transition[],
  ): Promise<PromiseSettledResult<InstanceRecord>[]> {
    if (transitions.length === 1) return Promise.allSettled([this.#commitAlone(transitions[0]!)]);
    const items = transitions.map((transition) => ({ transition, logId: randomUUID() }));
    const statementId = randomBytes(8).toString("hex");
    const statement = groupCommitStatement(this.#t, items, statementId);
    const sent: SentOn = {};
    let rows: Row[];
    try {
      rows = await this.#runGroupCommit(statement, sent);
    } catch (cause) {
      const errors = transitions.map((transition) => this.#translate(cause, transition));
      if (errors.some(mayHaveCommitted)) {
        // Committed or not, for all of them: each finds out from its own step log id.
        const orphan: Orphan = { nameSuffix: commitNameSuffix(statementId), ...sent };
        return this.#recoverGroup(items, errors, orphan);
      }
      if (errors[0]?.code === "STORE_UNAVAILABLE") {
        return errors.map((reason) => ({ status: "rejected", reason }));
      }
      // The statement failed whole and changed nothing: each goes again on its own, so what
      // failed it (one transition's value the database refuses) fails that transition only.
      return Promise.allSettled(transitions.map((transition) => this.#commitAlone(transition)));
    }
    const committed = new Map(rows.map((row) => [row.id as string, row]));
    return Promise.allSettled(
      transitions.map(async (transition) => {
        const row = committed.get(transition.instanceId);
        if (row) return instanceFromRow(row);
        throw await this.#whyNotCommitted(transition);
      }),
    );
  }

  /**
   * On PostgreSQL the statement goes on a connection borrowed from knex's pool, whose backend pid
   * is then known (`sent`): a group commit whose connection breaks is found on the server by it
   * even before the statement names itself (waiting for a table lock, it has not yet). Prepared
   * (named) unless `preparedStatements` is off; pg parses a name once per connection, then only
   * binds and executes it. PGlite runs it through knex.
   */
  async #runGroupCommit(statement: GroupCommitStatement, sent: SentOn): Promise<Row[]> {
    const { sql, bindings } = statement;
    if (!this.#endsOrphanedCommits) {
      return ((await this.#knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: Row[] }).rows;
    }
    const pool = this.#knex.client as unknown as PooledPgClient;
    const connection = await pool.acquireConnection();
    try {
      if (typeof connection.processID === "number") sent.backendPid = connection.processID;
      const { text } = statement;
      const prepared = this.#preparedStatements;
      const name =
        this.#preparedGeneration === 0
          ? statement.name
          : `${statement.name}_${this.#preparedGeneration}`;
      try {
        return (
          await connection.query(
            prepared ? { name, text, values: bindings } : { text, values: bindings },
          )
        ).rows;
      } catch (error) {
        // Refused before it ran (the batch changed nothing and goes again one by one): so that
        // the next batches are not refused the same way on this connection.
        const { code } = error as { code?: unknown };
        if (prepared && code === cachedPlanChangedResultType) this.#preparedGeneration++;
        if (prepared && code === preparedStatementMissing) this.#preparedStatements = false;
        throw error;
      }
    } finally {
      await pool.releaseConnection(connection);
    }
  }

  async #commitAlone(transition: Transition): Promise<InstanceRecord> {
    const logId = randomUUID();
    const { sql, bindings } = commitStatement(this.#t, transition, logId);
    let rows: Row[];
    try {
      rows = ((await this.#knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: Row[] }).rows;
    } catch (cause) {
      const error = this.#translate(cause, transition);
      if (mayHaveCommitted(error)) return this.#recoverCommit(transition, logId, error);
      throw error;
    }
    const row = rows[0];
    if (row) return instanceFromRow(row);
    throw await this.#whyNotCommitted(transition);
  }

  async history(instanceId: string): Promise<StepLogEntry[]> {
    // The step logs, and the notification re-sends (which change no version) after the entry of
    // the version they were recorded at.
    const rows = await this.#rows(
      `SELECT * FROM (
         SELECT id, instance_id, version, step, attempt, event, from_step, to_step, from_status,
           to_status, outcome, request, response, raw, error, actor, started_at, duration_ms,
           interface, refusals, 0 AS recorded_after
         FROM ${this.#t.stepLogs} WHERE instance_id = ?
         UNION ALL
         SELECT id, instance_id, version, step, attempt, 'operator', NULL, NULL, status, status,
           'resendNotification:' || notification_id, NULL, NULL, NULL, NULL,
           jsonb_build_object('who', resent_by, 'why', reason), resent_at, 0, NULL, NULL, 1
         FROM ${this.#t.notificationResends} WHERE instance_id = ? AND version IS NOT NULL
       ) h ORDER BY version, recorded_after, started_at, id`,
      [instanceId, instanceId],
      { instance: instanceId },
    );
    return rows.map(stepLogFromRow);
  }

  async lateNotifications(request: LateNotificationsRequest): Promise<StepLogEntry[]> {
    const where = ["outcome LIKE 'late:%'"];
    const bindings: unknown[] = [];
    if (request.conflictsOnly) where.push("error IS NOT NULL");
    if (request.before !== undefined) {
      where.push("(started_at, id) < (?::timestamptz, ?::uuid)");
      bindings.push(timeParam(request.before.startedAt), request.before.id);
    }
    bindings.push(request.limit);
    const rows = await this.#rows(
      `SELECT * FROM ${this.#t.stepLogs} WHERE ${where.join(" AND ")}
       ORDER BY started_at DESC, id DESC LIMIT ?`,
      bindings,
    );
    return rows.map(stepLogFromRow);
  }

  async insertInbox(entry: NewInboxEntry): Promise<{ entry: InboxEntry; duplicate: boolean }> {
    const t = this.#t;
    const context = { channel: entry.channel, callback: entry.callback };
    const [row] = await this.#rows(
      `INSERT INTO ${t.inbox} (id, channel, account, callback, dedupe_key, business_key, payload,
         raw, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?)
       ON CONFLICT (channel, callback, (COALESCE(account, '')), dedupe_key) DO NOTHING
       RETURNING *`,
      [
        entry.id,
        entry.channel,
        entry.account ?? null,
        entry.callback,
        entry.dedupeKey,
        entry.businessKey,
        jsonParam(entry.payload),
        entry.raw === undefined ? null : jsonParam(entry.raw),
        timeParam(entry.receivedAt),
      ],
      context,
    );
    if (row) return { entry: inboxFromRow(row), duplicate: false };
    // The expression of inbox_dedupe_per_account (migration 0034), so that index finds it.
    const [first] = await this.#rows(
      `SELECT * FROM ${t.inbox}
       WHERE channel = ? AND callback = ? AND COALESCE(account, '') = ? AND dedupe_key = ?`,
      [entry.channel, entry.callback, entry.account ?? "", entry.dedupeKey],
      context,
    );
    if (!first) {
      throw new CapflowError(
        "STORE_CONFLICT",
        `inbox entry ${entry.dedupeKey} was stored and removed concurrently; try again`,
        { retryable: true, context },
      );
    }
    return { entry: inboxFromRow(first), duplicate: true };
  }

  async pendingInbox(key: PendingInboxKey): Promise<InboxEntry[]> {
    const rows = await this.#rows(
      `SELECT * FROM ${this.#t.inbox}
       WHERE channel = ? AND business_key = ? AND processed_at IS NULL
         AND account IS NOT DISTINCT FROM ?::text
       ORDER BY received_at, id`,
      [key.channel, key.businessKey, key.account ?? null],
      { channel: key.channel },
    );
    return rows.map(inboxFromRow);
  }

  async staleInbox(request: StaleInboxRequest): Promise<InboxEntry[]> {
    const { after } = request;
    // A row comparison, so the scan starts inside inbox_stale (received_at, id) at the cursor.
    const rows = await this.#rows(
      `SELECT * FROM ${this.#t.inbox}
       WHERE processed_at IS NULL AND received_at < ?${after ? " AND (received_at, id) > (?, ?)" : ""}
       ORDER BY received_at, id
       LIMIT ?`,
      [
        timeParam(request.receivedBefore),
        ...(after ? [timeParam(after.receivedAt), after.id] : []),
        request.limit,
      ],
    );
    return rows.map(inboxFromRow);
  }

  async wake(key: WakeRequest): Promise<void> {
    const now = timeParam(key.now);
    // Leaves version alone: waking changes when an instance runs, not its state. The unique
    // index (business_key, channel, behavior) finds the rows.
    await this.#rows(
      `UPDATE ${this.#t.instances}
       SET next_run_at = LEAST(COALESCE(next_run_at, ?), ?)
       WHERE channel = ? AND business_key = ? AND status = 'waiting' AND waiting_for = ?`,
      [now, now, key.channel, key.businessKey, key.callback],
      { channel: key.channel },
    );
  }

  async close(): Promise<void> {
    await this.#onClose?.();
  }

  async backlogs(): Promise<StoreBacklogs> {
    // Index-only where it can be: instances_status_updated (status, updated_at) per status, and
    // the partial inbox_stale index of unprocessed entries. Settled rows are never read.
    const [instances, inbox] = await Promise.all([
      this.#rows(
        `SELECT s.status, count(i.id) AS count, min(i.updated_at) AS oldest
         FROM unnest(?::text[]) AS s(status)
         LEFT JOIN ${this.#t.instances} i ON i.status = s.status
         GROUP BY s.status`,
        [backlogStatuses],
      ),
      this.#rows(
        `SELECT count(*) AS count, min(received_at) AS oldest FROM ${this.#t.inbox}
         WHERE processed_at IS NULL`,
        [],
      ),
    ]);
    const byStatus = new Map(instances.map((row) => [row.status as string, row]));
    return {
      instances: backlogStatuses.map((status) => {
        const row = byStatus.get(status);
        return {
          status,
          count: Number(row?.count ?? 0),
          oldestUpdatedAt: row?.oldest == null ? null : epochMs(row.oldest),
        };
      }),
      inbox: {
        pending: Number(inbox[0]?.count ?? 0),
        oldestReceivedAt: inbox[0]?.oldest == null ? null : epochMs(inbox[0].oldest),
      },
    };
  }

  // What operators see (the console's overview): queries in knex-operations-view.ts.

  overview(request: OverviewRequest): Promise<OperationsOverview> {
    return this.#operations.overview(request);
  }

  listParked(request: ParkedListRequest): Promise<InstanceRecord[]> {
    return this.#operations.listParked(request);
  }

  // The outbox: rows inserted by the commit statement, operations in knex-outbox.ts.

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

  resendNotification(request: ResendRequest): Promise<NotificationResend | undefined> {
    return this.#outbox.resendNotification(request);
  }

  outboxBacklog(): Promise<OutboxBacklog> {
    return this.#outbox.outboxBacklog();
  }

  /** The update matched no row: tell a lost compare-and-set from a missing instance. */
  async #whyNotCommitted(transition: Transition): Promise<CapflowError> {
    const [row] = await this.#rows(
      `SELECT version FROM ${this.#t.instances} WHERE id = ?`,
      [transition.instanceId],
      { instance: transition.instanceId },
    );
    if (!row) {
      return new CapflowError(
        "INSTANCE_NOT_FOUND",
        `instance ${transition.instanceId} does not exist`,
        { context: { instance: transition.instanceId, ...transitionStep(transition) } },
      );
    }
    return conflict(transition, Number(row.version));
  }

  /**
   * The connection broke (or the client gave up waiting) while the commit was in flight: it may
   * have committed with the reply lost. Retrying blindly could apply it twice; giving up could
   * make the engine redo a partner call that already happened. So read the truth back on another
   * connection: our step log id (or, for a refusal, our run of refusals) present at expected + 1
   * means it committed; the version still at
   * expected means it did not (retryable); anything else means someone else moved it.
   */
  async #recoverCommit(
    transition: Transition,
    logId: string,
    original: CapflowError,
    /** How the statement is found on the server: a commit alone by the log id in its text. */
    orphan: Orphan = { tag: commitTag(logId) },
  ): Promise<InstanceRecord> {
    let rows: Row[];
    try {
      if (this.#endsOrphanedCommits) await this.#endOrphanedCommit(orphan);
      rows = await this.#rows(
        `SELECT i.*, EXISTS (SELECT 1 FROM ${this.#t.stepLogs} WHERE id = ?::uuid) AS committed_log
         FROM ${this.#t.instances} i WHERE i.id = ?`,
        [logId, transition.instanceId],
        { instance: transition.instanceId },
      );
    } catch (cause) {
      throw notReadBack(transition, original, cause);
    }
    return this.#judgeReadBack(transition, rows[0], original);
  }

  /**
   * A group commit's recovery: the server's copy of the statement is ended once and the batch's
   * instances are read back in one query, rather than one look on the server and one read per
   * instance, up to `maxBatch` at once, on a database that has just lost a connection.
   */
  async #recoverGroup(
    items: readonly { transition: Transition; logId: string }[],
    errors: readonly CapflowError[],
    orphan: Orphan,
  ): Promise<PromiseSettledResult<InstanceRecord>[]> {
    let rows: Row[];
    try {
      if (this.#endsOrphanedCommits) await this.#endOrphanedCommit(orphan);
      rows = await this.#rows(
        `SELECT i.*, EXISTS (SELECT 1 FROM ${this.#t.stepLogs} s WHERE s.id = l.log_id) AS committed_log
         FROM unnest(?::text[], ?::uuid[]) AS l(id, log_id)
         JOIN ${this.#t.instances} i ON i.id = l.id`,
        [items.map((item) => item.transition.instanceId), items.map((item) => item.logId)],
      );
    } catch (cause) {
      return items.map(({ transition }, i) => ({
        status: "rejected",
        reason: notReadBack(transition, errors[i]!, cause),
      }));
    }
    const readBack = new Map(rows.map((row) => [row.id as string, row]));
    return Promise.allSettled(
      items.map(({ transition }, i) =>
        this.#judgeReadBack(transition, readBack.get(transition.instanceId), errors[i]!),
      ),
    );
  }

  /** What a commit whose outcome was unknown came to, from its instance's row read back. */
  async #judgeReadBack(
    transition: Transition,
    row: Row | undefined,
    original: CapflowError,
  ): Promise<InstanceRecord> {
    if (row && Number(row.version) === transition.expectedVersion + 1) {
      const record = instanceFromRow(row);
      // A refusal's commit writes no history entry: its run of refusals on the row tells.
      const mine = transition.changes.refusals;
      const committed =
        mine === undefined
          ? row.committed_log === true
          : record.refusals?.count === mine.count && record.refusals.lastAt === mine.lastAt;
      if (committed) return record;
    }
    if (row && Number(row.version) === transition.expectedVersion) throw original;
    if (!row) throw await this.#whyNotCommitted(transition);
    throw conflict(transition, Number(row.version));
  }

  /**
   * Ends the server's copy of a commit statement whose client connection is gone, and waits until
   * it has stopped: until then "not committed" could still turn into "committed". A commit alone
   * is found by the tag in its text; a group commit by the name it runs under, or, before it set
   * that name, by its backend's pid with the group commit's text (a pid alone could belong to
   * someone else's statement behind a pooler such as PgBouncer).
   */
  async #endOrphanedCommit(orphan: Orphan): Promise<void> {
    const find = () =>
      this.#rows(
        `SELECT pid FROM pg_stat_activity
         WHERE pid <> pg_backend_pid() AND state <> 'idle'
           AND (query LIKE ? OR application_name LIKE ? OR (pid = ? AND query LIKE ?))`,
        [
          orphan.tag === undefined ? null : `%${orphan.tag}%`,
          orphan.nameSuffix === undefined ? null : `%${orphan.nameSuffix}`,
          orphan.backendPid ?? null,
          `${groupCommitPrefix}%`,
        ],
      );
    for (let waited = 0; waited < orphanWaitMs; waited += 50) {
      const running = await find();
      if (running.length === 0) return;
      for (const { pid } of running) {
        await this.#rows("SELECT pg_terminate_backend(?::int)", [pid]);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(
      `the orphaned commit ${orphan.tag ?? orphan.nameSuffix} was still running after ${orphanWaitMs} ms`,
    );
  }

  async #rows(sql: string, bindings: readonly unknown[], context = {}): Promise<Row[]> {
    try {
      const result = (await this.#knex.raw(sql, bindings as Knex.RawBinding[])) as { rows: Row[] };
      return result.rows;
    } catch (cause) {
      throw translateStoreError(cause, { target: this.#target, context });
    }
  }

  #translate(cause: unknown, transition: Transition): CapflowError {
    return translateStoreError(cause, {
      target: this.#target,
      context: { instance: transition.instanceId, ...transitionStep(transition) },
    });
  }
}

/** A numeric column as exact decimal text in its shortest form (`1000.50` reads `1000.5`). */
function decimalText(value: unknown): string {
  return new Decimal(String(value)).toString();
}

/** A commit whose outcome is unknown and whose instance could not be read back either. */
function notReadBack(transition: Transition, original: CapflowError, cause: unknown): CapflowError {
  return new CapflowError(
    "STORE_CONNECTION_LOST",
    `lost the connection while committing instance ${transition.instanceId} at version ${transition.expectedVersion}, and could not re-read it: the commit may or may not have happened; retry with the same expected version (a second apply is refused by the version check)`,
    { cause, context: original.context },
  );
}

function conflict(transition: Transition, actual: number): CapflowError {
  return new CapflowError(
    "STORE_CONFLICT",
    `instance ${transition.instanceId} is at version ${actual}, not ${transition.expectedVersion}: another worker changed it; stop working on it and make no further partner call`,
    { context: { instance: transition.instanceId, ...transitionStep(transition) } },
  );
}

/** SQLSTATE 0A000: "cached plan must not change result type", after a column's type changed. */
const cachedPlanChangedResultType = "0A000";
/**
 * SQLSTATE 26000: a statement prepared on this connection is gone on the server: a pooler
 * (transaction mode) sent it to another server connection. Such a pooler cannot keep them.
 */
const preparedStatementMissing = "26000";
