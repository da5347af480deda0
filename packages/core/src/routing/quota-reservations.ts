import { DateTime } from "luxon";
import { ownEntry } from "../definition/own-entry.ts";
import type { ProductChannel } from "../definition/product-types.ts";
import type { ChannelDefinition, QuotaLimits } from "../definition/types.ts";
import type { QuotaReservation } from "../ports/routing.ts";

/**
 * The quotas a start takes room in: the product's on the channel, the channel's for the behavior,
 * the account's for the behavior; each daily (the day in the channel's time zone) and total. The
 * limits travel with the reservation, so a pushed change applies to the next start.
 */
export function quotaReservations(input: {
  product: string;
  entry: ProductChannel;
  channel: ChannelDefinition;
  account: string | undefined;
  /** A decimal string, or null when the product counts no amount. */
  amount: string | null;
  now: number;
}): QuotaReservation[] {
  const { entry, channel, account } = input;
  const day = dayIn(channel, input.now);
  const scopes: [string, QuotaLimits | undefined][] = [
    [`product:${input.product}/${channel.code}`, entry.quotas],
    [`channel:${channel.code}/${entry.behavior}`, ownEntry(channel.quotas, entry.behavior)],
  ];
  if (account !== undefined) {
    scopes.push([
      `account:${channel.code}/${account}/${entry.behavior}`,
      ownEntry(ownEntry(channel.accounts, account)?.quotas, entry.behavior),
    ]);
  }
  const reservations: QuotaReservation[] = [];
  for (const [scope, limits] of scopes) {
    for (const [period, limit] of [
      [day, limits?.daily],
      ["total", limits?.total],
    ] as const) {
      if (limit === undefined) continue;
      reservations.push({
        scope,
        period,
        amount: input.amount ?? "0",
        limitAmount: limit.amount ?? null,
        limitCount: limit.count ?? null,
      });
    }
  }
  return reservations;
}

/** The daily period of a time in a channel's time zone, `YYYY-MM-DD`. */
export function dayIn(channel: ChannelDefinition, now: number): string {
  return DateTime.fromMillis(now, { zone: channel.timeZone }).toISODate() ?? "";
}
