import type {
  AccountRule,
  CandidateState,
  InstanceRecord,
  InstanceStatus,
  QuotaHold,
  QuotaHoldState,
  QuotaUsage,
  RoutingRule,
} from "@capflow/core";
import { iso } from "./instance-views.ts";

/**
 * How a product's instance was routed, as `GET /v1/ops/instances/:id/routing` answers it: the
 * stored routing record, each quota it reserved with its hold's state and the quota's use now,
 * and every instance of the same business (failovers included). The record holds no input values
 * (the customer is kept only as a digest, which is not served), so nothing in it needs masking.
 */
export interface InstanceRoutingView {
  id: string;
  /** The product the business was started for; null for an instance started on a channel. */
  product: string | null;
  /** Null for an instance started on a channel directly. */
  routing: RoutingView | null;
  /** The instance this one carries the business on from (failover), or null. */
  failoverOf: string | null;
  /** The instance that carried the business on from this one (failover), or null. */
  failedOverTo: string | null;
  /** Every instance of this product's business, first to last; empty without a product. */
  business: BusinessInstanceView[];
}

export interface RoutingView {
  rule: RoutingRule;
  /** The routing counter's value the weighted order used; 0 when not drawn. */
  position: number;
  /** The amount counted against amount quotas, a decimal string; null without one. */
  amount: string | null;
  /** Every channel of the product, in the product's order, with what it was and why. */
  candidates: {
    channel: string;
    behavior: string;
    weight: number;
    state: CandidateState;
    reason: string | null;
  }[];
  /** The channel account chosen, by which rule, and the accounts passed over; null without. */
  account: {
    code: string;
    rule: AccountRule;
    skipped: { account: string; reason: string }[];
  } | null;
  /** Set when this instance was started by failover: the one it replaces, the channels tried. */
  failover: { of: string; tried: string[] } | null;
  quotas: QuotaView[];
}

/** One quota the start reserved room in, its hold's state, and how full the quota is now. */
export interface QuotaView {
  scope: string;
  period: string;
  amount: string;
  limitAmount: string | null;
  limitCount: number | null;
  /** Where this instance's hold stands; null when the store has no hold for it. */
  hold: QuotaHoldState | null;
  /** Reserved plus consumed in this scope and period, over every instance. */
  usedAmount: string;
  usedCount: number;
}

export interface BusinessInstanceView {
  id: string;
  channel: string;
  behavior: string;
  status: InstanceStatus;
  step: string;
  failoverOf: string | null;
  createdAt: string;
}

export function instanceRoutingView(
  record: InstanceRecord,
  holds: readonly QuotaHold[],
  usage: readonly QuotaUsage[],
  business: readonly InstanceRecord[],
): InstanceRoutingView {
  const routing = record.routing;
  const key = (scope: string, period: string) => JSON.stringify([scope, period]);
  const holdOf = new Map(holds.map((hold) => [key(hold.scope, hold.period), hold.state]));
  const usageOf = new Map(usage.map((row) => [key(row.scope, row.period), row]));
  return {
    id: record.id,
    product: record.product,
    routing:
      routing === null
        ? null
        : {
            rule: routing.rule,
            position: routing.position,
            amount: routing.amount,
            candidates: routing.candidates.map((candidate) => ({
              channel: candidate.channel,
              behavior: candidate.behavior,
              weight: candidate.weight,
              state: candidate.state,
              reason: candidate.reason ?? null,
            })),
            account:
              routing.account === undefined
                ? null
                : {
                    code: routing.account.code,
                    rule: routing.account.rule,
                    skipped: routing.account.skipped ?? [],
                  },
            failover: routing.failover ?? null,
            quotas: routing.quotas.map((quota) => {
              const used = usageOf.get(key(quota.scope, quota.period));
              return {
                scope: quota.scope,
                period: quota.period,
                amount: quota.amount,
                limitAmount: quota.limitAmount,
                limitCount: quota.limitCount,
                hold: holdOf.get(key(quota.scope, quota.period)) ?? null,
                usedAmount: used?.usedAmount ?? "0",
                usedCount: used?.usedCount ?? 0,
              };
            }),
          },
    failoverOf: record.failoverOf,
    failedOverTo: business.find((other) => other.failoverOf === record.id)?.id ?? null,
    business: business.map((other) => ({
      id: other.id,
      channel: other.channel,
      behavior: other.behavior,
      status: other.status,
      step: other.step,
      failoverOf: other.failoverOf,
      createdAt: iso(other.createdAt),
    })),
  };
}
