import { randomUUID } from "node:crypto";
import {
  type InstanceRecord,
  type InstanceStore,
  isCapflowError,
  type NewInstance,
  type QuotaReservation,
  type RoutedCreation,
} from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/**
 * What every `InstanceStore` must do for fund routing: a product's business starts once, quota
 * reservations are exact and all-or-nothing, holds follow the instance (consumed, released,
 * reserved again), a failover instance is created with the commit that ends its predecessor, and
 * callbacks are kept and deduplicated per channel account. Run it next to
 * `describeInstanceStoreContract`.
 */
export function describeRoutingStoreContract(
  name: string,
  open: () => Promise<{ store: InstanceStore; close: () => Promise<void> }>,
): void {
  describe(`InstanceStore routing contract: ${name}`, () => {
    let store: InstanceStore;
    let close: () => Promise<void>;
    const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

    beforeEach(async () => {
      ({ store, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    const quota = (overrides: Partial<QuotaReservation> = {}): QuotaReservation => ({
      scope: "product:cash-loan/lanbank",
      period: "2026-01-05",
      amount: "100.00",
      limitAmount: null,
      limitCount: null,
      ...overrides,
    });

    function routed(
      overrides: Partial<NewInstance> = {},
      quotas: QuotaReservation[] = [],
    ): NewInstance {
      return {
        id: randomUUID(),
        channel: "lanbank",
        behavior: "loan",
        businessKey: `L-${randomUUID()}`,
        behaviorVersion: 1,
        inputDigest: "d1",
        input: { amount: "100.00" },
        step: "apply",
        status: "active",
        context: {},
        snapshot: { value: "apply" },
        nextRunAt: t0,
        now: t0,
        product: "cash-loan",
        customerRef: null,
        routing: {
          product: "cash-loan",
          rule: "weighted-round-robin",
          position: 1,
          amount: "100.00",
          candidates: [{ channel: "lanbank", behavior: "loan", weight: 1, state: "chosen" }],
          quotas,
        },
        ...overrides,
      };
    }

    function created(result: RoutedCreation): InstanceRecord {
      if (result.outcome !== "created") throw new Error(`expected created, got ${result.outcome}`);
      return result.instance;
    }

    test("a product's business starts once, with a routed history entry", async () => {
      const first = created(await store.createRoutedInstance(routed({ businessKey: "L-1" })));
      expect(first).toMatchObject({ product: "cash-loan", failoverOf: null, version: 1 });
      expect(first.routing?.rule).toBe("weighted-round-robin");
      const again = await store.createRoutedInstance(
        routed({ businessKey: "L-1", channel: "meadow" }, [quota({ limitCount: 5 })]),
      );
      expect(again).toMatchObject({ outcome: "existing", instance: { id: first.id } });
      expect(await store.quotaHolds(again.outcome === "existing" ? again.instance.id : "")).toEqual(
        [],
      );
      const history = await store.history(first.id);
      expect(history).toMatchObject([
        { event: "routed", outcome: "lanbank by weighted-round-robin" },
      ]);
      expect(
        (await store.findProductInstance({ product: "cash-loan", businessKey: "L-1" }))?.id,
      ).toBe(first.id);
    });

    test("an operator's routed start names the operator and the reason in its routed entry", async () => {
      const alice = { who: "ops:alice", why: "started by hand for the upstream" };
      const first = created(await store.createRoutedInstance(routed({ startedBy: alice })));
      expect(first).not.toHaveProperty("startedBy");
      expect(await store.history(first.id)).toMatchObject([
        { event: "routed", outcome: "lanbank by weighted-round-robin", actor: alice },
      ]);
    });

    test("a business key taken on the channel by a direct start is reported, nothing written", async () => {
      const { product: _p, routing: _r, ...direct } = routed({ businessKey: "L-2" });
      await store.createInstance(direct);
      const result = await store.createRoutedInstance(
        routed({ businessKey: "L-2" }, [quota({ limitCount: 1 })]),
      );
      expect(result.outcome).toBe("business-key-taken");
      expect(await store.quotaUsage([quota()])).toEqual([]);
    });

    const productChannels = [
      { channel: "lanbank", behavior: "loan" },
      { channel: "meadow", behavior: "loan" },
    ];
    const direct = (overrides: Partial<NewInstance>): NewInstance => {
      const { product: _p, routing: _r, customerRef: _c, ...plain } = routed(overrides);
      return plain;
    };

    test("a business key on another of the product's channels refuses its routed start (keyChannels), its own instance does not", async () => {
      const held = await store.createInstance(direct({ businessKey: "L-3", channel: "meadow" }));
      const result = await store.createRoutedInstance(
        routed({ businessKey: "L-3" }, [quota({ limitCount: 1 })]),
        productChannels,
      );
      expect(result).toMatchObject({
        outcome: "business-key-taken",
        instance: { id: held.instance.id, channel: "meadow" },
      });
      expect(await store.quotaUsage([quota()])).toEqual([]);
      expect(
        await store.findInstance({ channel: "lanbank", behavior: "loan", businessKey: "L-3" }),
      ).toBeUndefined();
      // Another product's instance on a shared channel holds the key just the same.
      created(
        await store.createRoutedInstance(
          routed({ businessKey: "L-4", channel: "meadow", product: "credit-line" }),
        ),
      );
      const shared = await store.createRoutedInstance(
        routed({ businessKey: "L-4" }),
        productChannels,
      );
      expect(shared).toMatchObject({
        outcome: "business-key-taken",
        instance: { channel: "meadow" },
      });
      // The product's own instances never hold it against itself: the same start again is its.
      const first = created(
        await store.createRoutedInstance(routed({ businessKey: "L-5" }), productChannels),
      );
      const again = await store.createRoutedInstance(
        routed({ businessKey: "L-5", channel: "meadow" }),
        productChannels,
      );
      expect(again).toMatchObject({ outcome: "existing", instance: { id: first.id } });
    });

    test("a channel start of a key a listing product holds on another channel writes nothing (keyProducts)", async () => {
      const routedOne = created(await store.createRoutedInstance(routed({ businessKey: "L-6" })));
      const refused = await store.createInstance(
        direct({ businessKey: "L-6", channel: "meadow" }),
        ["cash-loan"],
      );
      expect(refused).toMatchObject({ created: false, instance: { id: routedOne.id } });
      expect(
        await store.findInstance({ channel: "meadow", behavior: "loan", businessKey: "L-6" }),
      ).toBeUndefined();
      // Its own channel: the product's instance, as any start of a taken key.
      const same = await store.createInstance(direct({ businessKey: "L-6" }), ["cash-loan"]);
      expect(same).toMatchObject({ created: false, instance: { id: routedOne.id } });
      // Products that do not list the channel leave it alone.
      const free = await store.createInstance(direct({ businessKey: "L-6", channel: "meadow" }), [
        "credit-line",
      ]);
      expect(free.created).toBe(true);
    });

    test("a business key on one of the product's channels holds it whatever the behavior it was started under", async () => {
      // Started on meadow under a behavior the product does not list there: the product's start refuses.
      const credit = await store.createInstance(
        direct({ businessKey: "L-10", channel: "meadow", behavior: "credit" }),
      );
      const refused = await store.createRoutedInstance(
        routed({ businessKey: "L-10" }, [quota({ limitCount: 1 })]),
        productChannels,
      );
      expect(refused).toMatchObject({
        outcome: "business-key-taken",
        instance: { id: credit.instance.id, behavior: "credit" },
      });
      expect(await store.quotaUsage([quota()])).toEqual([]);
      // The product's key refuses a channel start under another behavior of its channel too.
      const routedOne = created(await store.createRoutedInstance(routed({ businessKey: "L-11" })));
      const other = await store.createInstance(
        direct({ businessKey: "L-11", channel: "lanbank", behavior: "credit" }),
        ["cash-loan"],
      );
      expect(other).toMatchObject({ created: false, instance: { id: routedOne.id } });
      expect(
        await store.findInstance({ channel: "lanbank", behavior: "credit", businessKey: "L-11" }),
      ).toBeUndefined();
      // A failover onto a channel where the key was started under another behavior commits nothing.
      const first = created(await store.createRoutedInstance(routed({ businessKey: "L-12" })));
      await store.createInstance(
        direct({ businessKey: "L-12", channel: "meadow", behavior: "repay" }),
      );
      const spawn = routed({ businessKey: "L-12", channel: "meadow", failoverOf: first.id });
      const failover = await store
        .commitTransition({
          instanceId: first.id,
          expectedVersion: first.version,
          now: t0 + 1,
          changes: { step: "declined", status: "failed", nextRunAt: null },
          spawn,
          spawnKeyChannels: productChannels,
          log: { step: "apply", attempt: 1, event: "call", startedAt: t0, durationMs: 0 },
        })
        .catch((error: unknown) => error);
      expect(isCapflowError(failover, "STORE_UNIQUE_VIOLATION")).toBe(true);
      expect(await store.getInstance(spawn.id)).toBeUndefined();
    });

    test("a failover whose business key another start holds on the product's channels commits nothing (spawnKeyChannels)", async () => {
      const first = created(await store.createRoutedInstance(routed({ businessKey: "L-7" })));
      await store.createInstance(direct({ businessKey: "L-7", channel: "jade" }));
      const spawn = routed({
        businessKey: "L-7",
        channel: "meadow",
        failoverOf: first.id,
        now: t0 + 1,
      });
      const refused = await store
        .commitTransition({
          instanceId: first.id,
          expectedVersion: first.version,
          now: t0 + 1,
          changes: { step: "declined", status: "failed", nextRunAt: null },
          spawn,
          spawnKeyChannels: [...productChannels, { channel: "jade", behavior: "loan" }],
          log: { step: "apply", attempt: 1, event: "call", startedAt: t0, durationMs: 0 },
        })
        .catch((error: unknown) => error);
      expect(isCapflowError(refused, "STORE_UNIQUE_VIOLATION")).toBe(true);
      expect((await store.getInstance(first.id))?.version).toBe(1);
      expect(await store.getInstance(spawn.id)).toBeUndefined();
    });

    test("amounts are counted exactly: a quota is never exceeded by one fen", async () => {
      const limit = { limitAmount: "100.00" };
      created(await store.createRoutedInstance(routed({}, [quota({ ...limit, amount: "60.00" })])));
      created(await store.createRoutedInstance(routed({}, [quota({ ...limit, amount: "39.99" })])));
      const over = await store.createRoutedInstance(
        routed({}, [quota({ ...limit, amount: "0.02" })]),
      );
      expect(over).toEqual({
        outcome: "quota-exhausted",
        quota: { scope: "product:cash-loan/lanbank", period: "2026-01-05" },
      });
      created(await store.createRoutedInstance(routed({}, [quota({ ...limit, amount: "0.01" })])));
      expect(await store.quotaUsage([quota()])).toEqual([
        {
          scope: "product:cash-loan/lanbank",
          period: "2026-01-05",
          usedAmount: "100",
          usedCount: 3,
          consumedAmount: "0",
          consumedCount: 0,
        },
      ]);
    });

    test("reservations are all or nothing, and counts are limited too", async () => {
      const daily = quota({ limitCount: 1 });
      const total = quota({ period: "total", limitAmount: "1000" });
      created(await store.createRoutedInstance(routed({}, [daily, total])));
      const refused = await store.createRoutedInstance(routed({}, [total, daily]));
      expect(refused).toMatchObject({
        outcome: "quota-exhausted",
        quota: { period: "2026-01-05" },
      });
      const [usage] = await store.quotaUsage([{ scope: total.scope, period: "total" }]);
      expect(usage).toMatchObject({ usedAmount: "100", usedCount: 1 });
    });

    const settle = (
      instance: InstanceRecord,
      to: "consumed" | "released" | "reserved",
      reopenQuotas?: QuotaReservation[],
    ) =>
      store.commitTransition({
        instanceId: instance.id,
        expectedVersion: instance.version,
        now: t0 + 1,
        changes: {
          status: to === "consumed" ? "succeeded" : to === "released" ? "failed" : "active",
        },
        quota: to,
        ...(reopenQuotas ? { reopenQuotas } : {}),
        log: { step: "apply", attempt: 1, event: "transition", startedAt: t0, durationMs: 0 },
      });

    test("holds follow the instance: consumed stays, released frees room, reopened takes it again", async () => {
      const q = quota({ limitAmount: "200" });
      const a = created(await store.createRoutedInstance(routed({}, [q])));
      const b = created(await store.createRoutedInstance(routed({}, [q])));
      const consumed = await settle(a, "consumed");
      await settle(consumed, "released");
      const released = await settle(b, "released");
      expect(await store.quotaUsage([q])).toMatchObject([
        { usedAmount: "100", usedCount: 1, consumedAmount: "100", consumedCount: 1 },
      ]);
      expect((await store.quotaHolds(a.id)).map((h) => h.state)).toEqual(["consumed"]);
      await settle(released, "reserved", [q]);
      expect(await store.quotaUsage([q])).toMatchObject([{ usedAmount: "200", usedCount: 2 }]);
      expect(await store.quotaHolds(b.id)).toMatchObject([{ amount: "100", state: "reserved" }]);
    });

    test("a released hold reopened when its period is full is refused, and nothing changes", async () => {
      const daily = quota({ limitCount: 1 });
      const total = quota({ period: "total", limitAmount: "1000" });
      const first = created(await store.createRoutedInstance(routed({}, [daily, total])));
      const failed = await settle(first, "released");
      // Another start takes the freed slot.
      created(await store.createRoutedInstance(routed({}, [daily, total])));
      const refused = await settle(failed, "reserved", [daily, total]).catch(
        (error: unknown) => error,
      );
      expect(isCapflowError(refused, "QUOTA_EXHAUSTED")).toBe(true);
      expect(await store.getInstance(first.id)).toMatchObject({
        version: failed.version,
        status: "failed",
      });
      expect(await store.quotaHolds(first.id)).toMatchObject([
        { period: "2026-01-05", state: "released" },
        { period: "total", state: "released" },
      ]);
      expect(await store.quotaUsage([daily, total])).toMatchObject([
        { period: "2026-01-05", usedAmount: "100", usedCount: 1 },
        { period: "total", usedAmount: "100", usedCount: 1 },
      ]);
      // A reopening that leaves a released hold behind is refused: it would count again later.
      const partial = await settle(failed, "reserved", [total]).catch((error: unknown) => error);
      expect(isCapflowError(partial, "STORE_FAILED")).toBe(true);
      expect((await store.getInstance(first.id))?.version).toBe(failed.version);
    });

    test("a released hold reopened on a later day is charged to that day, not the day it left", async () => {
      const daily = quota({ limitCount: 1 });
      const total = quota({ period: "total", limitCount: 5 });
      const first = created(await store.createRoutedInstance(routed({}, [daily])));
      const failed = await settle(first, "released");
      created(await store.createRoutedInstance(routed({}, [daily, total])));
      // The total quota was defined after the first start: reopening takes a new hold in it.
      const nextDay = quota({ period: "2026-01-06", limitCount: 1 });
      const reopened = await settle(failed, "reserved", [nextDay, total]);
      expect(reopened).toMatchObject({ status: "active", version: failed.version + 1 });
      expect(await store.quotaHolds(first.id)).toMatchObject([
        { period: "2026-01-06", amount: "100", state: "reserved" },
        { period: "total", amount: "100", state: "reserved" },
      ]);
      expect(await store.quotaUsage([daily, nextDay, total])).toMatchObject([
        { period: "2026-01-05", usedCount: 1 },
        { period: "2026-01-06", usedCount: 1 },
        { period: "total", usedCount: 2 },
      ]);
      // It settles in the day it was reopened in, once.
      await settle(reopened, "consumed");
      expect(await store.quotaUsage([daily, nextDay])).toMatchObject([
        { period: "2026-01-05", usedCount: 1, consumedCount: 0 },
        { period: "2026-01-06", usedCount: 1, consumedCount: 1 },
      ]);
    });

    test("reopening takes nothing for holds still reserved or consumed", async () => {
      const daily = quota({ limitCount: 2 });
      const manual = created(await store.createRoutedInstance(routed({}, [daily])));
      const disbursed = await settle(
        created(await store.createRoutedInstance(routed({}, [daily]))),
        "consumed",
      );
      await settle(manual, "reserved", [daily]);
      await settle(disbursed, "reserved", [daily]);
      expect(await store.quotaHolds(manual.id)).toMatchObject([{ state: "reserved" }]);
      expect(await store.quotaHolds(disbursed.id)).toMatchObject([{ state: "consumed" }]);
      expect(await store.quotaUsage([daily])).toMatchObject([{ usedCount: 2, consumedCount: 1 }]);
    });

    test("a failover instance is created with the commit that ends its predecessor, or nothing is", async () => {
      const room = quota({ scope: "product:cash-loan/meadow", limitCount: 1 });
      const first = created(
        await store.createRoutedInstance(
          routed({ businessKey: "L-9" }, [quota({ limitCount: 5 })]),
        ),
      );
      const next = (id = randomUUID()) =>
        routed({ id, businessKey: "L-9", channel: "meadow", failoverOf: first.id, now: t0 + 1 }, [
          room,
        ]);
      const end = (spawn: NewInstance) =>
        store.commitTransition({
          instanceId: first.id,
          expectedVersion: first.version,
          now: t0 + 1,
          changes: { step: "declined", status: "failed", nextRunAt: null },
          quota: "released",
          spawn,
          log: { step: "apply", attempt: 1, event: "call", startedAt: t0, durationMs: 0 },
        });
      // Another business fills meadow's quota: the failover cannot fit, and nothing moves.
      created(await store.createRoutedInstance(routed({ channel: "meadow" }, [room])));
      const refused = await end(next()).catch((error: unknown) => error);
      expect(isCapflowError(refused, "QUOTA_EXHAUSTED")).toBe(true);
      expect((await store.getInstance(first.id))?.version).toBe(1);
      expect(await store.quotaHolds(first.id)).toMatchObject([{ state: "reserved" }]);
      const roomy = { ...next(), routing: { ...next().routing!, quotas: [] } };
      const ended = await end(roomy);
      expect(ended).toMatchObject({ status: "failed", version: 2 });
      expect(await store.quotaHolds(first.id)).toMatchObject([{ state: "released" }]);
      const latest = await store.findProductInstance({ product: "cash-loan", businessKey: "L-9" });
      expect(latest).toMatchObject({ id: roomy.id, channel: "meadow", failoverOf: first.id });
      expect((await store.history(roomy.id))[0]?.event).toBe("routed");
      const chain = await store.listInstances({ product: "cash-loan", businessKey: "L-9" });
      // The chain with its links: how the engine finds an instance's failover successor.
      expect(chain.map((i) => [i.channel, i.failoverOf])).toEqual([
        ["lanbank", null],
        ["meadow", first.id],
      ]);
    });

    test("routing positions count per product; the customer's last instance is found", async () => {
      expect(await store.nextRoutingPosition("cash-loan")).toBe(1);
      expect(await store.nextRoutingPosition("cash-loan")).toBe(2);
      expect(await store.nextRoutingPosition("credit-line")).toBe(1);
      created(await store.createRoutedInstance(routed({ customerRef: "c1", channel: "lanbank" })));
      const later = created(
        await store.createRoutedInstance(
          routed({ customerRef: "c1", channel: "meadow", now: t0 + 5 }),
        ),
      );
      expect(
        (await store.lastCustomerInstance({ customerRef: "c1", product: "cash-loan" }))?.id,
      ).toBe(later.id);
      expect(
        (await store.lastCustomerInstance({ customerRef: "c1", channel: "lanbank" }))?.channel,
      ).toBe("lanbank");
      expect(await store.lastCustomerInstance({ customerRef: "c2" })).toBeUndefined();
    });

    test("callbacks are kept per account: an instance sees only its own account's", async () => {
      const entry = (account: string | null, dedupeKey: string) => ({
        id: randomUUID(),
        channel: "lanbank",
        account,
        callback: "loan.result",
        dedupeKey,
        businessKey: "L-A",
        payload: {},
        receivedAt: t0,
      });
      await store.insertInbox(entry("shop-a", "n1"));
      await store.insertInbox(entry("shop-b", "n2"));
      await store.insertInbox(entry(null, "n3"));
      const of = async (account: string | null) =>
        (await store.pendingInbox({ channel: "lanbank", businessKey: "L-A", account })).map(
          (e) => e.dedupeKey,
        );
      expect(await of("shop-a")).toEqual(["n1"]);
      expect(await of(null)).toEqual(["n3"]);
    });

    test("accounts number notifications on their own: one number from two accounts is two entries, each applied to its own instance", async () => {
      const notification = (account: string | null, businessKey: string) => ({
        id: randomUUID(),
        channel: "lanbank",
        account,
        callback: "loan.result",
        dedupeKey: "N-1001",
        businessKey,
        payload: { account },
        receivedAt: t0,
      });
      const fromA = await store.insertInbox(notification("shop-a", "L-A1"));
      const fromB = await store.insertInbox(notification("shop-b", "L-B1"));
      const withoutAccount = await store.insertInbox(notification(null, "L-N1"));
      expect([fromA.duplicate, fromB.duplicate, withoutAccount.duplicate]).toEqual([
        false,
        false,
        false,
      ]);
      expect(fromB.entry).toMatchObject({ account: "shop-b", payload: { account: "shop-b" } });

      for (const [account, businessKey, entry] of [
        ["shop-a", "L-A1", fromA.entry],
        ["shop-b", "L-B1", fromB.entry],
      ] as const) {
        const instance = created(
          await store.createRoutedInstance(routed({ businessKey, account, step: "wait" })),
        );
        const pending = await store.pendingInbox({ channel: "lanbank", businessKey, account });
        expect(pending.map((e) => e.id)).toEqual([entry.id]);
        await store.commitTransition({
          instanceId: instance.id,
          expectedVersion: instance.version,
          now: t0 + 1,
          changes: { step: "done", status: "succeeded", nextRunAt: null },
          log: { step: "wait", attempt: 1, event: "callback", startedAt: t0, durationMs: 0 },
          consumedInbox: [entry.id],
        });
        // The same account sending its number again is a duplicate of its own entry.
        const again = await store.insertInbox(notification(account, businessKey));
        expect(again.duplicate).toBe(true);
        expect(again.entry).toMatchObject({ id: entry.id, instanceId: instance.id });
      }
      const againWithout = await store.insertInbox(notification(null, "L-N1"));
      expect(againWithout.duplicate).toBe(true);
      expect(againWithout.entry.id).toBe(withoutAccount.entry.id);
    });
  });
}
