import type { ProductDefinition } from "../definition/product-types.ts";
import type { ChannelDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import type { InstanceRecord } from "../ports/instance-store.ts";
import type { QuotaReservation } from "../ports/routing.ts";
import { dayIn, quotaReservations } from "./quota-reservations.ts";

/**
 * What an instance reopened after its quota holds were released reserves: a new reservation, as
 * if it started now. The quotas its product, channel and account define now, today's in the
 * channel's time zone, for the amount it was routed with. A product that no longer routes to the
 * channel (or is gone) has no quota of its own there; the channel's and the account's still apply.
 * A quota it held that is no longer defined moves to today too, without a limit: each released
 * hold is taken up by a reservation of its scope and kind, so none stays behind.
 */
export function reopenedQuotaReservations(input: {
  record: InstanceRecord;
  product: ProductDefinition | undefined;
  channel: ChannelDefinition | undefined;
  now: number;
}): QuotaReservation[] {
  const { record, channel } = input;
  if (record.routing === null) return [];
  if (channel === undefined) {
    throw new CapflowError(
      "DEFINITION_NOT_FOUND",
      `channel "${record.channel}" is not defined, and reopening instance ${record.id} reserves its quotas in the channel's day; push the channel's definition first`,
      { context: { instance: record.id, channel: record.channel } },
    );
  }
  const entry = input.product?.channels.find(
    (candidate) => candidate.channel === record.channel && candidate.behavior === record.behavior,
  );
  const current = quotaReservations({
    product: record.routing.product,
    entry: entry ?? { channel: record.channel, behavior: record.behavior, weight: 0 },
    channel,
    account: record.account ?? undefined,
    amount: record.routing.amount,
    now: input.now,
  });
  const today = dayIn(channel, input.now);
  const dropped = record.routing.quotas
    .filter(
      (held) =>
        !current.some(
          (quota) =>
            quota.scope === held.scope && (quota.period === "total") === (held.period === "total"),
        ),
    )
    .map((held) => ({
      ...held,
      period: held.period === "total" ? "total" : today,
      limitAmount: null,
      limitCount: null,
    }));
  return [...current, ...dropped];
}

/**
 * A move that reopens an instance refused because a quota it reserves again has no room: the
 * store's refusal, saying what the operator can do.
 */
export function reopenRefused(error: CapflowError, instance: string, step: string): CapflowError {
  const { scope, period } = error.context;
  return new CapflowError(
    "QUOTA_EXHAUSTED",
    `moving instance ${instance} to "${step}" reopens it and reserves its quotas again, and quota ${String(scope)} has no room in ${String(period)}; nothing changed. Move it once the quota has room (the next day, for a daily one) or after raising the limit`,
    { context: { ...error.context, instance, step } },
  );
}
