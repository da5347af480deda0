/**
 * What the instance store keeps for fund routing: why an instance went to its channel (the
 * routing record), the quota holds it took, and the usage they add up to. The engine's routing
 * (`routing/` in core) decides; the store only records, atomically with the instance.
 */

/** Why a product's start went where it went: stored in the instance, shown in its history. */
export interface RoutingRecord {
  product: string;
  /** The rule that picked the channel among the candidates. */
  rule: RoutingRule;
  /** The routing counter's value this choice used (weighted round robin), 0 when not drawn. */
  position: number;
  /** The amount the start counts against amount quotas, a decimal string; null without one. */
  amount: string | null;
  /** Every channel of the product and what it was, in the product's order. */
  candidates: RoutingCandidate[];
  /** The account chosen within the channel, and how. */
  account?: {
    code: string;
    rule: AccountRule;
    /**
     * Accounts passed over: those whose `when` could not be evaluated on the input, then those the
     * rule would have taken first (quota full, at their call limit).
     */
    skipped?: { account: string; reason: string }[];
  };
  /** Set on an instance started by failover: the instance it replaces and the channels tried. */
  failover?: { of: string; tried: string[] };
  /** The quota holds taken for this instance. */
  quotas: QuotaReservation[];
}

export type RoutingRule =
  /** Smooth weighted round robin among the candidates. */
  | "weighted-round-robin"
  /** The customer's last channel, still a candidate. */
  | "sticky"
  /** Weighted round robin among the candidates other than the customer's last channel. */
  | "alternate"
  /** A candidate further down the order, after the ones before it had no quota left. */
  | "next-with-quota";

export type AccountRule = "first-match" | "alternate";

export interface RoutingCandidate {
  channel: string;
  behavior: string;
  weight: number;
  state: CandidateState;
  /** Why it was not chosen: the eligibility that failed, the unhealthy part, the full quota. */
  reason?: string;
}

export type CandidateState =
  | "chosen"
  /** Its `when` was false for this input. */
  | "ineligible"
  /** Breaker open, calendar closed or limiter saturated. */
  | "unhealthy"
  /** A quota of it had no room for this start. */
  | "quota-exhausted"
  /** Tried earlier for the same business (failover). */
  | "tried"
  /** Eligible and healthy, ranked after the chosen one. */
  | "not-needed";

/** One quota a start takes room in. Limits travel with the reservation: they are live. */
export interface QuotaReservation {
  /** `product:<product>/<channel>`, `channel:<channel>/<behavior>`, `account:<channel>/<account>/<behavior>`. */
  scope: string;
  /** `YYYY-MM-DD` (the day in the channel's time zone) or `total`. */
  period: string;
  /** A decimal string; `"0"` when the product counts no amount. */
  amount: string;
  /** Largest sum of amounts in this scope and period, or null. */
  limitAmount: string | null;
  /** Largest number of holds in this scope and period, or null. */
  limitCount: number | null;
}

/** Where an instance's hold stands; usage counts `reserved` and `consumed` against the limits. */
export type QuotaHoldState = "reserved" | "consumed" | "released";

export interface QuotaHold {
  instanceId: string;
  scope: string;
  period: string;
  amount: string;
  state: QuotaHoldState;
}

/** The room a quota's holds take up in one period. */
export interface QuotaUsage {
  scope: string;
  period: string;
  /** Reserved plus consumed: what the limits are checked against. */
  usedAmount: string;
  usedCount: number;
  consumedAmount: string;
  consumedCount: number;
}

export interface QuotaKey {
  scope: string;
  period: string;
}
