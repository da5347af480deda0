import { Decimal } from "decimal.js";
import { CapflowError } from "../errors.ts";
import type {
  QuotaHold,
  QuotaHoldState,
  QuotaKey,
  QuotaReservation,
  QuotaUsage,
} from "../ports/routing.ts";

interface Usage {
  used: Decimal;
  usedCount: number;
  consumed: Decimal;
  consumedCount: number;
}

/** What a quota change did not fit in. */
export interface QuotaRefusal {
  exhausted: QuotaKey;
}

/**
 * Quota usage and holds for the in-memory store, with the rules of the PostgreSQL one
 * (`quota_apply`, migrations 0005 and 0035): a reservation fits only if every quota it names has
 * room, all or nothing; holds move reserved -> consumed or released, and a consumed hold never
 * moves back. A released hold is reserved again only as a new reservation (`reopen`): in the
 * period and against the limits it names, replacing the released holds.
 */
export class MemoryQuotaLedger {
  readonly #usage = new Map<string, Usage>();
  readonly #holds = new Map<string, QuotaHold[]>();

  /**
   * Moves `settle.instanceId`'s holds to `settle.to` (`consumed` or `released`) and reserves
   * `reserve.quotas` for `reserve.instanceId`, or, with `reopen`, reserves `reopen.quotas` anew for
   * an instance whose holds were released, in place of them (each released hold needs the
   * reservation of its scope and kind): everything or, when a quota has no room, nothing (the
   * refusal names it). `reopen` comes alone.
   */
  apply(change: {
    settle?: { instanceId: string; to: Exclude<QuotaHoldState, "reserved"> };
    reserve?: { instanceId: string; quotas: readonly QuotaReservation[] };
    reopen?: { instanceId: string; quotas: readonly QuotaReservation[] };
  }): QuotaRefusal | undefined {
    const { reopen } = change;
    if (reopen !== undefined) {
      const holds = this.#holds.get(reopen.instanceId) ?? [];
      // Holds still reserved or consumed count already; only released ones are taken anew.
      if (!holds.some((hold) => hold.state === "released")) return undefined;
      const left = holds.find(
        (hold) =>
          hold.state === "released" &&
          !reopen.quotas.some((quota) => quota.scope === hold.scope && sameKind(quota, hold)),
      );
      // Left behind, it would count again when the instance settles.
      if (left) {
        throw new CapflowError(
          "STORE_FAILED",
          `reopening instance ${reopen.instanceId} leaves a released quota hold without its reservation; nothing was written`,
          { context: { instance: reopen.instanceId, scope: left.scope, period: left.period } },
        );
      }
      this.#holds.set(
        reopen.instanceId,
        holds.filter((hold) => hold.state !== "released"),
      );
      const refusal = this.apply({ reserve: reopen });
      if (refusal) this.#holds.set(reopen.instanceId, holds);
      return refusal;
    }
    const plan: { key: string; usage: Usage }[] = [];
    const planned = (scope: string, period: string) => {
      const key = `${scope}\u0000${period}`;
      let entry = plan.find((item) => item.key === key);
      if (!entry) {
        const current = this.#usage.get(key);
        entry = {
          key,
          usage: current
            ? { ...current }
            : { used: new Decimal(0), usedCount: 0, consumed: new Decimal(0), consumedCount: 0 },
        };
        plan.push(entry);
      }
      return entry.usage;
    };
    const settled: { hold: QuotaHold; to: QuotaHoldState }[] = [];
    if (change.settle) {
      for (const hold of this.#holds.get(change.settle.instanceId) ?? []) {
        const { to } = change.settle;
        if (hold.state === to || hold.state === "consumed") continue;
        const usage = planned(hold.scope, hold.period);
        const amount = new Decimal(hold.amount);
        if (hold.state === "reserved" && to === "released") {
          usage.used = usage.used.minus(amount);
          usage.usedCount -= 1;
        } else if (hold.state === "released") {
          // Released to consumed: an operator recording that the money moved after all. A fact,
          // not a decision, so it counts in its own period without a limit check.
          usage.used = usage.used.plus(amount);
          usage.usedCount += 1;
        }
        if (to === "consumed") {
          usage.consumed = usage.consumed.plus(amount);
          usage.consumedCount += 1;
        }
        settled.push({ hold, to });
      }
    }
    const reserved: QuotaHold[] = [];
    if (change.reserve) {
      for (const quota of change.reserve.quotas) {
        const usage = planned(quota.scope, quota.period);
        const used = usage.used.plus(quota.amount);
        const fits =
          (quota.limitAmount === null || used.lte(quota.limitAmount)) &&
          (quota.limitCount === null || usage.usedCount + 1 <= quota.limitCount);
        if (!fits) return { exhausted: { scope: quota.scope, period: quota.period } };
        usage.used = used;
        usage.usedCount += 1;
        reserved.push({
          instanceId: change.reserve.instanceId,
          scope: quota.scope,
          period: quota.period,
          amount: new Decimal(quota.amount).toString(),
          state: "reserved",
        });
      }
    }
    for (const { key, usage } of plan) this.#usage.set(key, usage);
    for (const { hold, to } of settled) hold.state = to;
    if (change.reserve && reserved.length > 0) {
      const holds = this.#holds.get(change.reserve.instanceId) ?? [];
      holds.push(...reserved);
      this.#holds.set(change.reserve.instanceId, holds);
    }
    return undefined;
  }

  usage(keys: readonly QuotaKey[]): QuotaUsage[] {
    return keys.flatMap(({ scope, period }) => {
      const usage = this.#usage.get(`${scope}\u0000${period}`);
      if (!usage) return [];
      return [
        {
          scope,
          period,
          usedAmount: usage.used.toString(),
          usedCount: usage.usedCount,
          consumedAmount: usage.consumed.toString(),
          consumedCount: usage.consumedCount,
        },
      ];
    });
  }

  holds(instanceId: string): QuotaHold[] {
    return (this.#holds.get(instanceId) ?? []).map((hold) => ({ ...hold }));
  }
}

/** Both in a day, or both `total`: a reopened hold moves to the reservation of its kind. */
function sameKind(a: QuotaKey, b: QuotaKey): boolean {
  return (a.period === "total") === (b.period === "total");
}
