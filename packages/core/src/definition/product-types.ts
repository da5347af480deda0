import type { Expression, QuotaLimits } from "./types.ts";

/**
 * A product: one kind of business (`cash-loan`) that several funders serve. Starting it
 * (`engine.start({ product, businessKey, input })`) chooses one of its channels by eligibility,
 * health, quota and weight, and records why in the instance. Mirrors
 * `packages/core/schema/product.schema.json`; change both together. File: `<code>.product.json`.
 */
export interface ProductDefinition {
  $schema?: string;
  code: string;
  name: string;
  description?: string;
  /**
   * CEL over `input`: the amount a start counts against amount quotas, a plain decimal (a string
   * such as `"1000.00"`, or a number such as `1000`) with at most `amountScale` digits after the
   * point. Required when a quota of the product or its channels limits amounts.
   */
  amount?: Expression;
  /**
   * Digits the amount may have after the point (its currency's minor unit): 2 for yuan and fen,
   * the default; 0 for whole units. An amount with more, or not written as a plain decimal
   * (`"1e3"`, `"0x10"`, `"-0"`, `" 12 "`), refuses the start with `INSTANCE_INPUT_INVALID`.
   */
  amountScale?: number;
  /**
   * CEL over `input`: who the customer is, an opaque id (not an ID-card number). Needed by
   * `customerRouting` and by channels whose accounts alternate per customer.
   */
  customer?: Expression;
  /**
   * `sticky`: a customer's next start goes to the channel of their last one while it is a
   * candidate; `alternate`: to another candidate when there is one. Default: weights alone.
   */
  customerRouting?: CustomerRouting;
  /**
   * When an instance ends at a `failover` step (declined, funder unreachable), start the business
   * on the next eligible channel, carrying its input. Absent: no failover.
   */
  failover?: FailoverPolicy;
  /** The channels that serve the product, each with its behavior, eligibility, weight, quotas. */
  channels: ProductChannel[];
}

export type CustomerRouting = "sticky" | "alternate";

export interface FailoverPolicy {
  /** Channels one business may be tried on, the first included. Default: every channel. */
  maxChannels?: number;
}

export interface ProductChannel {
  channel: string;
  /** The behavior of that channel that serves the product, e.g. `loan`. */
  behavior: string;
  /** CEL over `input`: whether this channel may take the business. Default: always. */
  when?: Expression;
  /** Share of starts among eligible, healthy channels (smooth weighted round robin). */
  weight: number;
  /** Quotas of this product on this channel. */
  quotas?: QuotaLimits;
}
