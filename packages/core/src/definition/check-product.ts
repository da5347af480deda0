import { failoverAfterMoney } from "./check-money-safety.ts";
import { didYouMean } from "./closest-name.ts";
import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import type { ProductDefinition } from "./product-types.ts";
import type { BehaviorDefinition, ChannelDefinition, QuotaLimits } from "./types.ts";

/** What a product is checked against: the channels and behaviors loaded with it. */
export interface ProductReferences {
  channels: ReadonlyMap<string, ChannelDefinition>;
  /** Channel codes that exist but did not validate (their problems are reported already). */
  channelCodes: ReadonlySet<string>;
  /** Behaviors by `channel/code`. */
  behaviors: ReadonlyMap<string, BehaviorDefinition>;
}

/**
 * A product's references and rules beyond its schema: each channel once, channels and behaviors
 * that exist, an `amount` wherever a quota counts amounts, a `customer` for customer routing, and
 * no failover that could follow a money-moving call.
 */
export function checkProduct(
  product: ProductDefinition,
  references: ProductReferences,
  file: string,
): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  const channelCodes = [...references.channelCodes];
  product.channels.forEach((entry, index) => {
    const at = (...path: (string | number)[]) => toPointer(["channels", index, ...path]);
    const first = seen.get(entry.channel);
    if (first !== undefined) {
      problems.push({
        code: "duplicate-product-channel",
        file,
        pointer: at("channel"),
        message: `channel "${entry.channel}" already serves this product (channels/${first}); list each channel once`,
      });
      return;
    }
    seen.set(entry.channel, index);
    const channel = references.channels.get(entry.channel);
    if (channel === undefined) {
      if (!references.channelCodes.has(entry.channel)) {
        problems.push({
          code: "unknown-channel",
          file,
          pointer: at("channel"),
          message: `channel "${entry.channel}" is not defined${didYouMean(entry.channel, channelCodes)}; add a ${entry.channel}.channel.json or fix the code`,
        });
      }
      return;
    }
    const behavior = references.behaviors.get(`${entry.channel}/${entry.behavior}`);
    if (behavior === undefined) {
      const known = [...references.behaviors.values()]
        .filter((candidate) => candidate.channel === entry.channel)
        .map((candidate) => candidate.code);
      problems.push({
        code: "unknown-behavior",
        file,
        pointer: at("behavior"),
        message: `channel "${entry.channel}" has no behavior "${entry.behavior}"${didYouMean(entry.behavior, known)}; add ${entry.channel}.${entry.behavior}.behavior.json or fix the code`,
      });
      return;
    }
    if (product.amount === undefined) {
      const counted = amountQuotaOf(entry.quotas, channel, entry.behavior);
      if (counted !== undefined) {
        problems.push({
          code: "missing-amount",
          file,
          pointer: at(),
          message: `${counted} limits amounts, but the product has no "amount"; add "amount" (a CEL expression over input, e.g. "input.amount")`,
        });
      }
    }
    if (product.failover !== undefined) {
      for (const { moneyStep, failoverStep, path } of failoverAfterMoney(behavior)) {
        problems.push({
          code: "unsafe-failover",
          file,
          pointer: at(),
          message: `failover could follow the money-moving call "${moneyStep}" of ${entry.channel}/${entry.behavior} (${path.join(" → ")} ends at failover step "${failoverStep}"): the funder may have taken the money; remove "failover" from that step or from the product`,
        });
      }
    }
  });
  if (product.customerRouting !== undefined && product.customer === undefined) {
    problems.push({
      code: "missing-customer",
      file,
      pointer: "/customerRouting",
      message: `"customerRouting": "${product.customerRouting}" needs to know who the customer is; add "customer" (a CEL expression over input giving an opaque customer id)`,
    });
  }
  return problems;
}

/** Which quota of this product entry, its channel or the channel's accounts limits amounts. */
function amountQuotaOf(
  own: QuotaLimits | undefined,
  channel: ChannelDefinition,
  behavior: string,
): string | undefined {
  const limitsAmount = (limits: QuotaLimits | undefined) =>
    limits?.daily?.amount !== undefined || limits?.total?.amount !== undefined;
  if (limitsAmount(own)) return "the quota of this channel entry";
  if (limitsAmount(channel.quotas?.[behavior]))
    return `the quota of channel "${channel.code}" for "${behavior}"`;
  for (const [code, account] of Object.entries(channel.accounts ?? {})) {
    if (limitsAmount(account.quotas?.[behavior]))
      return `the quota of account "${code}" of channel "${channel.code}" for "${behavior}"`;
  }
  return undefined;
}
